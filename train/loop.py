"""The training loop: mixed datasets, freezing, SGD/AdamW, AMP, DDP, resume, curves."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from toppose import __version__
from toppose.io import write_json
from toppose.train import freeze
from toppose.train.config import RUN_FILES, TrainConfig
from toppose.train.curves import pyplot, write_curves
from toppose.train.dataset import data_provenance
from toppose.train.setup import build_loader, build_model, build_optimizer, check_inputs, setup_distributed
from toppose.train.validation import Validation, stage_losses
from toppose.weights import WeightsError, read_file, save_checkpoint


def log(msg: str) -> None:
    if int(os.environ.get("RANK", 0)) == 0:
        print(msg, flush=True)


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

    def __init__(self, cfg: TrainConfig, resume: bool = False) -> None:
        self.cfg, self.out = cfg, Path(cfg.out)
        self.device, self.distributed, self.rank, self.world = setup_distributed(cfg)
        self.spec, model, self.provenance = build_model(cfg)
        self.mask = freeze.trainable_mask(model, cfg.freeze, cfg.train_patterns, cfg.freeze_patterns)
        groups = freeze.apply(model, self.mask, cfg.lr, cfg.stem_lr_mult)
        log(freeze.table(model, self.mask))
        self.validation = Validation(cfg, self.spec) if self.rank == 0 else None
        self.sampler, self.loader, datasets = build_loader(cfg, self.spec, self.device, self.rank, self.world)
        self.steps = len(self.loader)
        self.provenance.update(data_provenance(cfg, datasets))
        self.model = model.to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = build_optimizer(cfg, groups)
        self.amp = cfg.amp != "none" and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and cfg.amp == "fp16")
        self.start_epoch, self.best, self.history, self.bad_epochs = 0, None, [], 0
        self.step_count, self.train_s, self.fresh = 0, 0.0, False
        if resume:
            self._restore()
        self.net = torch.nn.parallel.DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None) \
            if self.distributed else self.model

    def _restore(self) -> None:
        """Continue from ``out/last.pth`` (the run folder given, whatever its config recorded)."""
        last = self.out / "last.pth"
        if not last.is_file():
            log(f"{last}: not written yet (no epoch finished): starting at epoch 1")
            return
        state = read_file(last)
        missing = [k for k in ("state_dict", "optimizer", "scaler", "step", "train_seconds", "epoch", "history", "rng")
                   if k not in state]
        if missing:
            raise WeightsError(f"{last}: not a resumable checkpoint (missing {', '.join(missing)})")
        try:
            self.model.load_state_dict(state["state_dict"])
            self.opt.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise WeightsError(f"{last}: does not match this run's model or optimizer ({str(e).splitlines()[0]})") from None
        self.step_count, self.train_s = state["step"], state["train_seconds"]
        self.start_epoch, self.history = state["epoch"] + 1, state["history"]
        self.best, self.bad_epochs = state.get("best"), state.get("bad_epochs", 0)
        torch.set_rng_state(state["rng"]["torch"])
        log(f"resumed {self.out} at epoch {self.start_epoch + 1}")

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

    def _improved(self, row: dict) -> bool:
        """Best by validation AP, or by training loss when there is no validation set."""
        metric, value, higher = ("val_ap", row["val_ap"], True) if "val_ap" in row else ("train_loss", row["train_loss"], False)
        better = self.best is None or self.best["metric"] != metric or \
            (value > self.best["value"] if higher else value < self.best["value"])
        if better:
            self.best = {"metric": metric, "value": value, "epoch": row["epoch"]}
        self.bad_epochs = 0 if better else self.bad_epochs + 1
        return better

    def end_epoch(self, epoch: int, row: dict) -> None:
        """Rank 0: validate, write last.pth (and best.pth), history.csv and curves.png."""
        cfg = self.cfg
        row.update(self.validation(self.model, self.device))
        if self.fresh and epoch == self.start_epoch:  # --force: the old run goes now
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)
        self.history.append(row)
        improved = self._improved(row)
        prov = {**self.provenance, "toppose": __version__, "epochs": epoch + 1, "seed": cfg.seed,
                "input_size": list(cfg.input_size), "freeze": cfg.freeze, "val_ap": row.get("val_ap")}
        state = {"optimizer": self.opt.state_dict(), "step": self.step_count, "train_seconds": self.train_s,
                 "scaler": self.scaler.state_dict(), "epoch": epoch, "best": self.best,
                 "history": self.history, "bad_epochs": self.bad_epochs, "rng": _rng_state()}
        save_checkpoint(self.out / "last.pth", self.model, self.spec, prov, **state)
        if epoch == self.start_epoch:  # the run folder is written only once an epoch has completed
            write_json(self.out / "config.json", cfg.to_dict(), indent=2)
        if improved:
            save_checkpoint(self.out / "best.pth", self.model, self.spec, prov)
        write_curves(self.out, self.history)
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

    def run(self, fresh: bool = False) -> dict:
        """Train the remaining epochs; with ``fresh`` (``--force``) an earlier run's files are removed
        once the first epoch has completed (a run that fails before that leaves the folder as it was)."""
        self.fresh = fresh
        if self.rank == 0:
            pyplot()   # imported now, not when the first epoch's curves are drawn (a Ctrl-C then broke it)
        t_start = time.time()
        for epoch in range(self.start_epoch, self.cfg.epochs):
            row = self.train_epoch(epoch)
            if self.rank == 0:
                self.end_epoch(epoch, row)
            if self.should_stop():
                log("stopping early (time limit or no improvement)")
                break
        summary = {"best": self.best, "epochs": len(self.history), "wall_s": time.time() - t_start,
                   "world_size": self.world}
        if self.distributed:
            summary["ranks_in_sync"] = _ranks_in_sync(self.model)
            dist.destroy_process_group()
        if self.rank == 0:
            write_json(self.out / "summary.json", summary, indent=2)
        return summary


def train(cfg: TrainConfig, resume: bool = False, force: bool = False) -> dict:
    """Run a training run in ``cfg.out`` (or continue it: ``resume``); returns the summary.

    A folder holding a run is refused unless ``resume`` or ``force`` (start afresh).
    """
    check_inputs(cfg, resume, force)
    return Trainer(cfg, resume).run(fresh=force and not resume)


def _ranks_in_sync(model) -> bool:
    flat = torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])
    digest = torch.stack([flat.sum(), (flat * torch.arange(len(flat), device=flat.device, dtype=torch.float64)).sum()])
    gathered = [torch.zeros_like(digest) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, digest)
    return all(torch.equal(g, gathered[0]) for g in gathered)
