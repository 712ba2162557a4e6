"""The training loop: mixed datasets, freezing, SGD/AdamW, AMP, DDP, resume, curves."""

from __future__ import annotations

import csv
import hashlib
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader

from toppose import __version__
from toppose.io import atomic_path, write_json
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.networks import build_network
from toppose.skeleton import get_skeleton
from toppose.train import freeze
from toppose.train.config import TrainConfig
from toppose.train.dataset import IndexedConcat, MixedSampler, PoseDataset, data_provenance
from toppose.train.predict import evaluate_folder, torch_infer
from toppose.weights import load_weights, save_checkpoint


def _single_threaded(_worker: int) -> None:
    """Each loader worker is one process: OpenCV's own thread pool would oversubscribe the cores."""
    import cv2

    cv2.setNumThreads(1)


def log(msg: str) -> None:
    if int(os.environ.get("RANK", 0)) == 0:
        print(msg, flush=True)


def stage_losses(stages, paf_t, heat_t, mask) -> list[torch.Tensor]:
    """Per stage output: MSE(pred * mask, target * mask), as the textbook trains."""
    m = mask[:, None]
    return [F.mse_loss(out.float() * m, (paf_t if i % 2 == 0 else heat_t) * m) for i, out in enumerate(stages)]


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _spec(cfg: TrainConfig) -> tuple[ModelSpec, torch.nn.Module, dict]:
    if cfg.init:
        loaded = load_weights(cfg.init, arch=cfg.arch)
        digest = hashlib.sha256(Path(cfg.init).read_bytes()).hexdigest()
        return loaded.spec, loaded.model, {"init": Path(cfg.init).name, "init_sha256": digest, "init_layout": loaded.layout,
                                           "parent": loaded.provenance}
    enc = InputEncoding(kind=cfg.encoding, near_m=cfg.depth_range[0], far_m=cfg.depth_range[1]) if cfg.encoding == "depth" else InputEncoding()
    spec = ModelSpec(arch=cfg.arch, preprocess=cfg.preprocess, encoding=enc, skeleton=get_skeleton(cfg.skeleton))
    torch.manual_seed(cfg.seed)
    return spec, build_network(spec), {"init": "scratch"}


def lr_factor(cfg: TrainConfig, progress: float, step: int, warmup_steps: int) -> float:
    """Warm-up, then cosine or step decay over ``progress`` in [0, 1]."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if cfg.schedule == "step":
        return 0.1 ** int(3 * min(progress, 0.999))
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _rng_state() -> dict:
    # Sampling and augmentation derive from (seed, epoch, sample); only torch's RNG is global.
    return {"torch": torch.get_rng_state()}


class Trainer:
    """One run: set up once, then ``run()`` epochs; all run state lives on the instance."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
        self.device = _device(cfg)
        if self.distributed:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if self.distributed else (0, 1)
        self.out = Path(cfg.out)
        self.spec, model, self.provenance = _spec(cfg)
        self.mask = freeze.trainable_mask(model, cfg.freeze, cfg.train_patterns, cfg.freeze_patterns)
        groups = freeze.apply(model, self.mask, cfg.lr, cfg.stem_lr_mult)
        log(freeze.table(model, self.mask))
        datasets = [PoseDataset(d, self.spec, cfg.input_size, cfg.rotation, cfg.scale, cfg.flip, cfg.depth_jitter)
                    for d, _ in cfg.data]
        self.provenance.update(data_provenance(cfg, datasets))
        self.sampler = MixedSampler([len(d) for d in datasets], [w for _, w in cfg.data], cfg.epoch_size, cfg.seed,
                                    self.rank, self.world)
        self.loader = DataLoader(IndexedConcat(datasets), batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.workers, pin_memory=self.device.type == "cuda", drop_last=True,
                                 persistent_workers=cfg.workers > 0, worker_init_fn=_single_threaded)
        self.steps = max(1, len(self.loader))
        self.model = model.to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = (torch.optim.SGD(groups, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
                    if cfg.optimizer == "sgd" else torch.optim.AdamW(groups, weight_decay=cfg.weight_decay))
        for g in self.opt.param_groups:
            g["base_lr"] = g["lr"]
        self.amp = cfg.amp != "none" and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and cfg.amp == "fp16")
        self.start_epoch, self.best_ap, self.history, self.bad_epochs = 0, -1.0, [], 0
        self.step_count, self.train_s = 0, 0.0
        self._restore()
        self.net = torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None) \
            if self.distributed else self.model

    def _restore(self) -> None:
        last = self.out / "last.pth"
        if not last.is_file():
            return
        state = torch.load(last, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["state_dict"])
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step_count, self.train_s = state["step"], state["train_seconds"]
        self.start_epoch, self.best_ap, self.history = state["epoch"] + 1, state["best_ap"], state["history"]
        self.bad_epochs = state.get("bad_epochs", 0)
        torch.set_rng_state(state["rng"]["torch"])
        log(f"resumed {self.out} at epoch {self.start_epoch}")

    def _set_lr(self, t0: float) -> None:
        cfg = self.cfg
        progress = self.step_count / (cfg.epochs * self.steps)
        if cfg.time_limit_min:  # anneal by whichever ends first: the epochs or the time budget
            progress = max(progress, (self.train_s + time.time() - t0) / (60 * cfg.time_limit_min))
        factor = lr_factor(cfg, progress, self.step_count, int(cfg.warmup_epochs * self.steps))
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * factor

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the epoch's samples; returns the epoch's training row."""
        cfg, dev = self.cfg, self.device
        self.sampler.set_epoch(epoch)
        self.net.train()
        freeze.freeze_batchnorm(self.model, self.mask)
        sums, n, seen, t0 = np.zeros(2 * self.model.num_stages), 0, 0, time.time()
        for step, (x, paf_t, heat_t, m) in enumerate(self.loader):
            x, paf_t, heat_t, m = (t.to(dev, non_blocking=True) for t in (x, paf_t, heat_t, m))
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=self.amp_dtype, enabled=self.amp):
                _, _, stages = self.net(x)
            losses = stage_losses(stages, paf_t, heat_t, m)
            loss = sum(losses)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.clip > 0:
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], cfg.clip)
            self._set_lr(t0)
            self.scaler.step(self.opt)
            self.scaler.update()
            self.step_count += 1
            sums, n, seen = sums + np.array([l.item() for l in losses]), n + 1, seen + x.shape[0] * self.world
            if self.rank == 0 and os.isatty(1) and step % 10 == 0:
                print(f"\repoch {epoch + 1}/{cfg.epochs} step {step + 1}/{self.steps} loss {loss.item():.5f} "
                      f"{seen / (time.time() - t0):.1f} img/s", end="", flush=True)
        self.train_s += time.time() - t0
        row = {"epoch": epoch + 1, "train_loss": float(sums.sum() / max(n, 1)),
               "images_per_s": seen / (time.time() - t0), "lr": self.opt.param_groups[0]["lr"]}
        row.update({f"train_stage{i // 2 + 1}_{'paf' if i % 2 == 0 else 'heat'}": float(v / max(n, 1))
                    for i, v in enumerate(sums)})
        return row

    def end_epoch(self, epoch: int, row: dict) -> None:
        """Rank 0: validate, write last.pth (and best.pth), history.csv and curves.png."""
        cfg = self.cfg
        row.update(_validate(self.model, self.spec, cfg, self.device))
        self.history.append(row)
        ap = row.get("val_ap", -row["train_loss"])
        improved = ap > self.best_ap
        self.best_ap, self.bad_epochs = (ap, 0) if improved else (self.best_ap, self.bad_epochs + 1)
        prov = {**self.provenance, "toppose": __version__, "epochs": epoch + 1, "seed": cfg.seed,
                "input_size": list(cfg.input_size), "freeze": cfg.freeze, "val_ap": row.get("val_ap")}
        state = {"optimizer": self.opt.state_dict(), "step": self.step_count, "train_seconds": self.train_s,
                 "scaler": self.scaler.state_dict(), "epoch": epoch, "best_ap": self.best_ap,
                 "history": self.history, "bad_epochs": self.bad_epochs, "rng": _rng_state()}
        save_checkpoint(self.out / "last.pth", self.model, self.spec, prov, **state)
        if improved:
            save_checkpoint(self.out / "best.pth", self.model, self.spec, prov)
        _write_curves(self.out, self.history)
        log(f"\repoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()
                                                 if k != "epoch" and "stage" not in k))

    def should_stop(self) -> bool:
        """Time limit or early stopping, decided on rank 0 and shared with every rank."""
        stop = torch.tensor([0], device=self.device)
        if self.rank == 0:
            over_time = self.cfg.time_limit_min and self.train_s / 60 > self.cfg.time_limit_min
            stop[0] = int(bool(over_time) or bool(self.cfg.patience and self.bad_epochs >= self.cfg.patience))
        if self.distributed:
            dist.broadcast(stop, 0)
        return bool(stop.item())

    def run(self) -> dict:
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(self.out / "config.json", self.cfg.to_dict(), indent=2)
        t_start = time.time()
        for epoch in range(self.start_epoch, self.cfg.epochs):
            row = self.train_epoch(epoch)
            if self.rank == 0:
                self.end_epoch(epoch, row)
            if self.should_stop():
                log("stopping early (time limit or no val AP improvement)")
                break
        summary = {"best": self.best_ap, "epochs": len(self.history), "wall_s": time.time() - t_start,
                   "world_size": self.world}
        if self.distributed:
            summary["ranks_in_sync"] = _ranks_in_sync(self.model)
            dist.destroy_process_group()
        if self.rank == 0:
            write_json(self.out / "summary.json", summary, indent=2)
        return summary


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training run in ``cfg.out``; returns the summary written to summary.json."""
    return Trainer(cfg).run()


def _validate(model, spec, cfg, device) -> dict:
    if not cfg.val:
        return {}
    model.eval()
    row, losses = {}, []
    for folder in cfg.val:
        ds = PoseDataset(folder, spec, cfg.input_size)
        with torch.no_grad():
            for i in range(min(len(ds), cfg.val_images)):
                x, paf_t, heat_t, m = (t[None].to(device) for t in ds[(i, -1)])
                _, _, stages = model(x)
                losses.append(sum(l.item() for l in stage_losses(stages, paf_t, heat_t, m)))
        result, _ = evaluate_folder(folder, torch_infer(model, device), spec, limit=cfg.val_images,
                                    input_hw=tuple(cfg.input_size))
        row[f"val_ap_{Path(folder).name}"] = result.stats["AP"]
    row["val_loss"] = float(np.mean(losses))
    row["val_ap"] = float(np.mean([v for k, v in row.items() if k.startswith("val_ap_")]))
    return row


def _ranks_in_sync(model) -> bool:
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    digest = torch.stack([flat.sum(), (flat * torch.arange(len(flat), device=flat.device, dtype=torch.float64)).sum()])
    gathered = [torch.zeros_like(digest) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, digest)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def _write_curves(out: Path, history: list[dict]) -> None:
    keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    with atomic_path(out / "history.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, keys)
            writer.writeheader()
            writer.writerows(history)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    ep = [r["epoch"] for r in history]
    a.plot(ep, [r["train_loss"] for r in history], label="train")
    if "val_loss" in history[-1]:
        a.plot(ep, [r.get("val_loss", np.nan) for r in history], label="val")
        b.plot(ep, [r.get("val_ap", np.nan) for r in history], label="val AP")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    b.set_xlabel("epoch")
    b.set_ylabel("val AP")
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
