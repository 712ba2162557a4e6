"""The named builders of a training run: device, checks, model, data loader, optimiser."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from toppose.atomic import check_parent
from toppose.data.format import DataError, load_dataset
from toppose.errors import ConfigError
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.networks import build_network
from toppose.skeleton import get_skeleton
from toppose.train.config import RUN_FILES, TrainConfig
from toppose.train.dataset import IndexedConcat, MixedSampler, PoseDataset
from toppose.weights import load_weights


def _single_threaded(_worker: int) -> None:
    """Each loader worker is one process: OpenCV's own thread pool would oversubscribe the cores."""
    import cv2

    cv2.setNumThreads(1)


def device_for(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    if cfg.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {cfg.device}: CUDA is not available on this machine (use cpu or auto)")
        if cfg.device != "cuda" and int(cfg.device.split(":")[1]) >= torch.cuda.device_count():
            raise ConfigError(f"--device {cfg.device}: only {torch.cuda.device_count()} CUDA device(s) present")
    return torch.device(cfg.device)


def check_inputs(cfg: TrainConfig, resume: bool = False, force: bool = False) -> None:
    """Everything that can be checked before a run starts: device, run folder, data, init weights."""
    device_for(cfg)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, expected a run folder")
    check_parent(out / "config.json")
    if int(os.environ.get("RANK", 0)) == 0 and not resume and not force and any((out / f).exists() for f in RUN_FILES):
        raise ConfigError(f"--out {out}: holds a training run (continue it with --resume {out}, "
                          f"or add --force to start afresh)")
    for folder in [d for d, _ in cfg.data] + list(cfg.val):
        if not load_dataset(folder)["images"]:
            raise DataError(f"{folder}: the dataset holds no images")
    if cfg.init and not Path(cfg.init).is_file():
        raise ConfigError(f"--init {cfg.init}: no such file")


def build_model(cfg: TrainConfig) -> tuple[ModelSpec, torch.nn.Module, dict]:
    """The network to train: ``--init`` weights, or a fresh one seeded by ``cfg.seed``."""
    if cfg.init:
        loaded = load_weights(cfg.init, arch=cfg.arch)
        digest = hashlib.sha256(Path(cfg.init).read_bytes()).hexdigest()
        return loaded.spec, loaded.model, {"init": Path(cfg.init).name, "init_sha256": digest, "init_layout": loaded.layout,
                                           "parent": loaded.provenance}
    enc = InputEncoding(kind=cfg.encoding, near_m=cfg.depth_range[0], far_m=cfg.depth_range[1]) if cfg.encoding == "depth" else InputEncoding()
    spec = ModelSpec(arch=cfg.arch, preprocess=cfg.preprocess, encoding=enc, skeleton=get_skeleton(cfg.skeleton))
    torch.manual_seed(cfg.seed)
    return spec, build_network(spec), {"init": "scratch"}


def setup_distributed(cfg: TrainConfig) -> tuple[torch.device, bool, int, int]:
    """(device, distributed, rank, world size); joins the process group under torchrun."""
    device = device_for(cfg)
    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    if not distributed:
        return device, False, 0, 1
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device, True, dist.get_rank(), dist.get_world_size()


def build_loader(cfg: TrainConfig, spec: ModelSpec, device: torch.device, rank: int, world: int):
    """(sampler, loader, datasets) of the mixed, sharded training data; refuses an epoch of zero steps."""
    datasets = [PoseDataset(d, spec, cfg.input_size, cfg.rotation, cfg.scale, cfg.flip, cfg.depth_jitter)
                for d, _ in cfg.data]
    epoch_size = cfg.epoch_size or sum(len(d) for d in datasets)
    sampler = MixedSampler([len(d) for d in datasets], [w for _, w in cfg.data], epoch_size, cfg.seed, rank, world)
    if cfg.gpu_augment:  # same (x, paf, heat, mask) batches, built on the training device
        from toppose.train.gpu_augment import GpuBatches
        loader = GpuBatches(datasets, sampler, cfg.batch_size, device)
    else:
        loader = DataLoader(IndexedConcat(datasets), batch_size=cfg.batch_size, sampler=sampler,
                            num_workers=cfg.workers, pin_memory=device.type == "cuda", drop_last=True,
                            persistent_workers=cfg.workers > 0, worker_init_fn=_single_threaded)
    if len(loader) == 0:
        source = f"--epoch-size {epoch_size}" if cfg.epoch_size else f"the data's {epoch_size} images (the epoch size)"
        raise ConfigError(f"{source} with --batch-size {cfg.batch_size}" + (f" on {world} processes" if world > 1 else "")
                          + f" gives no training step: an epoch needs at least {cfg.batch_size * world} samples")
    return sampler, loader, datasets


def build_optimizer(cfg: TrainConfig, groups: list[dict]) -> torch.optim.Optimizer:
    opt = (torch.optim.SGD(groups, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
           if cfg.optimizer == "sgd" else torch.optim.AdamW(groups, weight_decay=cfg.weight_decay))
    for g in opt.param_groups:
        g["base_lr"] = g["lr"]
    return opt
