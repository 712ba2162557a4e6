"""The training loop: mixed datasets, freezing, SGD/AdamW, AMP, DDP, resume, curves."""

from __future__ import annotations

import csv
import json
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
from toppose.train.dataset import IndexedConcat, MixedSampler, PoseDataset
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
        return loaded.spec, loaded.model, {"init": str(cfg.init), "init_layout": loaded.layout, "parent": loaded.provenance}
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


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training run in ``cfg.out``; returns the summary written to summary.json."""
    distributed = int(os.environ.get("WORLD_SIZE", 1)) > 1
    device = _device(cfg)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    out = Path(cfg.out)
    last = out / "last.pth"
    resume = torch.load(last, map_location="cpu", weights_only=True) if last.is_file() else None
    spec, model, provenance = _spec(cfg)
    mask = freeze.trainable_mask(model, cfg.freeze, cfg.train_patterns, cfg.freeze_patterns)
    groups = freeze.apply(model, mask, cfg.lr, cfg.stem_lr_mult)
    log(freeze.table(model, mask))
    datasets = [PoseDataset(d, spec, cfg.input_size, cfg.rotation, cfg.scale, cfg.flip, cfg.depth_jitter) for d, _ in cfg.data]
    sampler = MixedSampler([len(d) for d in datasets], [w for _, w in cfg.data], cfg.epoch_size, cfg.seed, rank, world)
    loader = DataLoader(IndexedConcat(datasets), batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        pin_memory=device.type == "cuda", drop_last=True, persistent_workers=cfg.workers > 0,
                        worker_init_fn=_single_threaded)
    steps = max(1, len(loader))
    model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = (torch.optim.SGD(groups, momentum=cfg.momentum, weight_decay=cfg.weight_decay) if cfg.optimizer == "sgd"
           else torch.optim.AdamW(groups, weight_decay=cfg.weight_decay))
    for g in opt.param_groups:
        g["base_lr"] = g["lr"]
    total_steps, warmup_steps = cfg.epochs * steps, int(cfg.warmup_epochs * steps)
    amp = cfg.amp != "none" and device.type == "cuda"
    amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and cfg.amp == "fp16")
    start_epoch, best_ap, history, bad_epochs, step_count, train_s = 0, -1.0, [], 0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["state_dict"])
        opt.load_state_dict(resume["optimizer"])
        step_count, train_s = resume["step"], resume["train_seconds"]
        scaler.load_state_dict(resume["scaler"])
        start_epoch, best_ap, history = resume["epoch"] + 1, resume["best_ap"], resume["history"]
        bad_epochs = resume.get("bad_epochs", 0)
        torch.set_rng_state(resume["rng"]["torch"])
        log(f"resumed {out} at epoch {start_epoch}")
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if distributed else model
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", cfg.to_dict(), indent=2)
    t_start = time.time()
    summary = {}
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        net.train()
        freeze.freeze_batchnorm(model, mask)
        sums, n, seen, t0 = np.zeros(2 * model.num_stages), 0, 0, time.time()
        for step, (x, paf_t, heat_t, m) in enumerate(loader):
            x, paf_t, heat_t, m = (t.to(device, non_blocking=True) for t in (x, paf_t, heat_t, m))
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                _, _, stages = net(x)
            losses = stage_losses(stages, paf_t, heat_t, m)
            loss = sum(losses)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.clip)
            progress = step_count / total_steps
            if cfg.time_limit_min:  # anneal by whichever ends first: the epochs or the time budget
                progress = max(progress, (train_s + time.time() - t0) / (60 * cfg.time_limit_min))
            for g in opt.param_groups:
                g["lr"] = g["base_lr"] * lr_factor(cfg, progress, step_count, warmup_steps)
            scaler.step(opt)
            scaler.update()
            step_count += 1
            sums = sums + np.array([l.item() for l in losses])
            n += 1
            seen += x.shape[0] * world
            if rank == 0 and os.isatty(1) and step % 10 == 0:
                print(f"\repoch {epoch + 1}/{cfg.epochs} step {step + 1}/{steps} loss {loss.item():.5f} "
                      f"{seen / (time.time() - t0):.1f} img/s", end="", flush=True)
        train_s += time.time() - t0
        row = {"epoch": epoch + 1, "train_loss": float(sums.sum() / max(n, 1)),
               "images_per_s": seen / (time.time() - t0), "lr": opt.param_groups[0]["lr"]}
        row.update({f"train_stage{i // 2 + 1}_{'paf' if i % 2 == 0 else 'heat'}": float(v / max(n, 1)) for i, v in enumerate(sums)})
        if rank == 0:
            row.update(_validate(model, spec, cfg, device))
            history.append(row)
            ap = row.get("val_ap", -row["train_loss"])
            improved = ap > best_ap
            best_ap, bad_epochs = (ap, 0) if improved else (best_ap, bad_epochs + 1)
            prov = {**provenance, "toppose": __version__, "epochs": epoch + 1, "data": [list(d) for d in cfg.data],
                    "input_size": list(cfg.input_size), "freeze": cfg.freeze, "val_ap": row.get("val_ap")}
            state = {"optimizer": opt.state_dict(), "step": step_count, "train_seconds": train_s, "scaler": scaler.state_dict(),
                     "epoch": epoch, "best_ap": best_ap, "history": history, "bad_epochs": bad_epochs, "rng": _rng_state()}
            save_checkpoint(last, model, spec, prov, **state)
            if improved:
                save_checkpoint(out / "best.pth", model, spec, prov)
            _write_curves(out, history)
            log(f"\repoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch" and "stage" not in k))
        stop = torch.tensor([0], device=device)
        if rank == 0:
            over_time = cfg.time_limit_min and train_s / 60 > cfg.time_limit_min
            stop[0] = int(bool(over_time) or bool(cfg.patience and bad_epochs >= cfg.patience))
        if distributed:
            dist.broadcast(stop, 0)
        if stop.item():
            log("stopping early (time limit or no val AP improvement)")
            break
    summary = {"best": best_ap, "epochs": len(history), "wall_s": time.time() - t_start, "world_size": world}
    if distributed:
        summary["ranks_in_sync"] = _ranks_in_sync(model, device)
        dist.destroy_process_group()
    if rank == 0:
        write_json(out / "summary.json", summary, indent=2)
    return summary


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


def _ranks_in_sync(model, device) -> bool:
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
