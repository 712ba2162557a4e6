"""Training crops per second on this machine's CPU: the DataLoader path vs --gpu-augment on CPU tensors.

Both build the same crops (same sampler plan and seeds) for ``lite`` at 240x320: augmented
network input, PAFs, heatmaps and masks. Ratios are measured in one run.
"""

import time

import pytest
import torch
from torch.utils.data import DataLoader

from benchmarks.conftest import record
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.synth.scenes import SceneOptions
from toppose.synth.writers import write_training
from toppose.train.dataset import IndexedConcat, MixedSampler, PoseDataset
from toppose.train.gpu_augment import GpuBatches
from toppose.train.loop import _single_threaded

CROPS, BATCH, HW = 384, 16, (240, 320)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("aug") / "d"
    write_training(out, "top", 64, seed=7, people=(1, 4), options=SceneOptions(sensor="d435", clutter=2))
    return PoseDataset(out, ModelSpec(arch="lite", encoding=InputEncoding(kind="depth")), HW)


def _crops_per_s(batches) -> float:
    it = iter(batches)
    next(it)  # warm-up batch (worker start, first allocation)
    t, n = time.perf_counter(), 0
    for x, *_ in it:
        n += x.shape[0]
    return n / (time.perf_counter() - t)


def test_crops_per_second_before_and_after(results, dataset):
    sampler = MixedSampler([len(dataset)], [1.0], CROPS + BATCH, seed=0)
    measured = {}
    for workers in (2, 0):  # workers first: forking after OpenCV's thread pool ran in this process can hang
        loader = DataLoader(IndexedConcat([dataset]), batch_size=BATCH, sampler=sampler, num_workers=workers,
                            drop_last=True, worker_init_fn=_single_threaded)
        measured[f"dataloader_{workers}_workers"] = _crops_per_s(loader)
    threads = torch.get_num_threads()
    measured["gpu_augment_on_cpu"] = _crops_per_s(GpuBatches([dataset], sampler, BATCH, torch.device("cpu")))
    torch.set_num_threads(1)  # one intra-op thread: no spin-waiting when other processes share the cores
    try:
        measured["gpu_augment_on_cpu_1_thread"] = _crops_per_s(GpuBatches([dataset], sampler, BATCH, torch.device("cpu")))
    finally:
        torch.set_num_threads(threads)
    if torch.cuda.is_available():
        measured["gpu_augment_on_cuda"] = _crops_per_s(GpuBatches([dataset], sampler, BATCH, torch.device("cuda")))
    record(results, "augment", "torch_threads", threads)
    for key, value in measured.items():
        record(results, "augment", f"{key}_crops_per_s", round(value, 1))
    best_before = max(measured["dataloader_0_workers"], measured["dataloader_2_workers"])
    after = max(measured["gpu_augment_on_cpu"], measured["gpu_augment_on_cpu_1_thread"])
    record(results, "augment", "gpu_augment_on_cpu_over_best_dataloader", round(after / best_before, 2))
    record(results, "augment", "load_average_1min", round(__import__("os").getloadavg()[0], 1))
    assert after > 0 and best_before > 0
