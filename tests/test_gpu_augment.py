import numpy as np
import pytest
import torch

from toppose.data.format import DataError, DatasetWriter, load_dataset
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.synth.writers import frame_people, write_training
from toppose.synth.scenes import random_scene
from toppose.synth.writers import depth_to_mm
from toppose.train.dataset import MixedSampler, PoseDataset
from toppose.train.gpu_augment import FrameCache, GpuAugment, GpuBatches, SensorNoise

SPEC = ModelSpec(arch="lite", encoding=InputEncoding(kind="depth"))
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Rendered scenes with an ignore mask on every other frame."""
    out = tmp_path_factory.mktemp("gpu_aug") / "d"
    writer = DatasetWriter(out, {"source": "test", "modality": "depth"})
    rng = np.random.default_rng(2)
    for i in range(6):
        frame = random_scene(rng, "top", (1, 4))
        ignore = None
        if i % 2:
            ignore = np.zeros(frame.depth.shape, bool)
            ignore[40:90, 100:170] = True
        writer.add(depth_to_mm(frame.depth), frame_people(frame), ignore)
    writer.close()
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_batched_crops_equal_the_cpu_loaders_for_the_same_seeds(folder, device):
    ds = PoseDataset(folder, SPEC, (240, 320))
    augment = GpuAugment(ds, FrameCache(ds, torch.device(device)), noise=None)
    index, seeds = np.array([0, 1, 2, 3, 4, 5, 1]), np.array([11, 12, 13, 14, 15, 16, 99])
    x, paf, heat, mask = (t.cpu() for t in augment(index, seeds))
    for k, (i, s) in enumerate(zip(index, seeds)):
        ref = ds[(int(i), int(s))]
        assert (x[k] - ref[0]).abs().mean() < 1e-3  # a few pixels may round to the next grey level
        assert (paf[k] - ref[1]).abs().max() < 1e-4
        assert (heat[k] - ref[2]).abs().max() < 1e-4
        assert (mask[k] - ref[3]).abs().mean() < 0.01
    assert (mask < 1).any() and heat[:, :18].max() > 0.9


def test_sensor_noise_changes_depth_only_where_there_is_a_reading(folder):
    ds = PoseDataset(folder, SPEC, (240, 320))
    cache = FrameCache(ds, torch.device("cpu"))
    clean = GpuAugment(ds, cache, noise=None)(np.arange(6), np.arange(6))[0]
    noisy = GpuAugment(ds, cache, noise=SensorNoise(p=1.0, max_dropout=0.05))(np.arange(6), np.arange(6))[0]
    background = clean[:, 0].min()
    changed = (noisy != clean).float().mean()
    assert 0.001 < changed < 0.5
    assert ((clean[:, 0] == background) <= (noisy[:, 0] == background)).all()  # no reading appears from nothing


def test_batches_follow_the_sampler_across_datasets(folder, tmp_path):
    write_training(tmp_path / "b", "side", 3, seed=4, people=(1, 2))
    sets = [PoseDataset(folder, SPEC, (128, 160)), PoseDataset(tmp_path / "b", SPEC, (128, 160))]
    sampler = MixedSampler([6, 3], [1.0, 1.0], 10, seed=1)
    batches = list(GpuBatches(sets, sampler, 4, torch.device("cpu")))
    assert len(batches) == 2 and all(b[0].shape == (4, 3, 128, 160) and b[1].shape[0] == 4 for b in batches)
    assert all(torch.isfinite(t).all() for b in batches for t in b)


def test_colour_and_mixed_size_folders_are_refused(folder, tmp_path):
    with pytest.raises(ValueError, match="depth model"):
        FrameCache(PoseDataset(folder, ModelSpec(arch="lite"), (240, 320)), torch.device("cpu"))
    writer = DatasetWriter(tmp_path / "m", {"source": "test"})
    for hw in ((240, 320), (120, 160)):
        writer.add(np.full(hw, 3000, np.uint16), [])
    writer.close()
    with pytest.raises(DataError, match="frames of one size"):
        FrameCache(PoseDataset(tmp_path / "m", SPEC, (240, 320)), torch.device("cpu"))
