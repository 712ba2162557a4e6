"""Train the lifting offsets (``toppose.lift.LiftModel``) on rendered frames with exact 3-D truth.

``python -m toppose.train.lift --out runtime/models/toppose-lift.npz`` renders top-view frames
(the sensor model on), feeds the true 2-D keypoints with jitter and random drop-outs through the
same features the runtime computes, and fits a small MLP (torch) to the true depth offset of
every keypoint from the observed surface and, with ``lateral``, to the x, y correction from the
keypoint's ray to the true joint (mostly the pose model's own 2-D errors: its keypoints on each
frame, and on the frame mirrored and turned (``VIEWS``, mapped back), are more copies, weighted
``model_weight`` against the jittered truth). Weights are written as ``.npz`` for NumPy evaluation.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from toppose import __version__
from toppose.camera import Intrinsics
from toppose.errors import App, ConfigError
from toppose.itop_eval import match_person
from toppose.lift import LIFTED, lift_features
from toppose.skeleton import FLIP_PERMUTATION, OPENPOSE_FROM_ITOP, openpose_from_itop

JOINT_OF = np.asarray([OPENPOSE_FROM_ITOP[k] for k in LIFTED])  # (L,) ITOP joint of each lifted keypoint
# Views of a frame the pose model is run on (flip left-right, flip upside down): as it is, mirrored,
# upside down, turned 180 degrees. From a ceiling every one is a scene the model could meet, and its
# 2-D errors differ in each, so each is one more sample of them (mirrors swap left and right).
VIEWS = ((False, False), (True, False), (False, True), (True, True))
MIRROR = np.asarray(FLIP_PERMUTATION)  # keypoint order as a mirror shows it


@dataclass(frozen=True)
class LiftRecipe:
    """How the training set is rendered and augmented; stored in the model's provenance."""

    frames: int = 16000
    seed: int = 1
    copies: int = 3               # augmented copies of every person
    jitter_px: float = 3.0        # keypoint noise sigma drawn per copy from U(0, jitter_px)
    drop: float = 0.15            # keypoint drop-out probability drawn per copy from U(0, drop)
    mixed_every: int = 4          # every Nth frame: 1-3 people, tilted (0-20 deg) cameras, 55-90 deg FOV
    model: str | None = None      # an exported pose model: its keypoints on each frame are more copies
    lateral: bool = True          # also learn x, y corrections to each keypoint's ray (3L outputs)
    model_views: int = 4          # the first N of VIEWS the model is run on
    model_weight: float = 1.0     # loss weight of a model copy (a jittered copy weighs 1)


@dataclass(frozen=True)
class FitConfig:
    hidden: int = 256
    steps: int = 4000
    batch: int = 1024
    lr: float = 2e-3
    seed: int = 0


def _scene(recipe: LiftRecipe, index: int):
    from toppose.synth.scenes import SceneOptions, random_scene

    rng = np.random.default_rng([recipe.seed, index])
    if recipe.mixed_every and index % recipe.mixed_every == recipe.mixed_every - 1:
        return random_scene(rng, "top", (1, 3), furniture=True, fully_in_view=False,
                            options=SceneOptions(tilt=(0.0, 20.0), fov=(55.0, 90.0))), rng
    # as toppose-data synth draws ITOP-format frames (writers._render_itop)
    return random_scene(rng, "top", (1, 1), furniture=rng.random() < 0.3, fully_in_view=rng.random() < 0.7), rng


_ESTIMATORS: dict = {}  # per process: the pose model of ``LiftRecipe.model``


def _model_keypoints(recipe: LiftRecipe, depth: np.ndarray, view: tuple[bool, bool] = VIEWS[0]) -> np.ndarray:
    """(P, K, 3) keypoints the recipe's pose model finds in ``depth`` (metres) seen in ``view``
    (flipped left-right, upside down), mapped back to the frame."""
    if recipe.model not in _ESTIMATORS:
        from toppose.runtime.estimator import PoseEstimator
        from toppose.runtime.session import PoseSession

        _ESTIMATORS[recipe.model] = PoseEstimator(PoseSession(Path(recipe.model), "cpu", threads=1))
    lr, ud = view
    seen = np.ascontiguousarray(depth[::-1 if ud else 1, ::-1 if lr else 1])
    found = _ESTIMATORS[recipe.model](seen)[0].keypoints.copy()
    if lr != ud:  # seen in a mirror: its left is the person's right
        found[:, :len(MIRROR)] = found[:, MIRROR]
    known = found[..., 2] > 0
    for flipped, axis, size in ((lr, 0, depth.shape[1]), (ud, 1, depth.shape[0])):
        if flipped:
            found[..., axis] = np.where(known, size - 1 - found[..., axis], found[..., axis])
    return found


def sample_targets(inputs, joints_cam: np.ndarray, lateral: bool) -> tuple[np.ndarray, np.ndarray]:
    """LiftInputs of N copies + (L, 3) true camera points -> targets (N, L) offsets along the ray
    [+ (N, 2L) lateral x, y: truth - the ray point at the true depth], mask of the same shape."""
    z_true = joints_cam[:, 2]
    offsets = (z_true[None] - inputs.anchors).astype(np.float32)
    if not lateral:
        return offsets, inputs.ok
    side = joints_cam[None, :, :2] - inputs.slopes * z_true[None, :, None]      # (N, L, 2)
    return (np.concatenate([offsets, side[..., 0], side[..., 1]], 1).astype(np.float32),
            np.concatenate([inputs.ok] * 3, 1))


def _same_person(found: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """(1, K, 3): the person of ``found`` (P, K', 3) that is the true one ``kp`` (K, 3), or None."""
    if (m := match_person(found[:, :len(kp)], kp)) < 0:
        return None
    both = (found[m, :len(kp), 2] > 0) & (kp[:, 2] > 0)
    near = np.median(np.linalg.norm(found[m, :len(kp)][both, :2] - kp[both, :2], axis=1)) < 15
    return found[m:m + 1, :len(kp)] if near else None


def frame_samples(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One rendered frame -> (features (N, D), targets (N, L or 3L) metres, mask, weight (N,)) for its people."""
    recipe, index = args
    frame, rng = _scene(recipe, index)
    views = [_model_keypoints(recipe, frame.depth, v) for v in VIEWS[:recipe.model_views]] if recipe.model else []
    cx, cy, kx, ky = frame.intrinsics
    intr = Intrinsics(frame.depth.shape[1], frame.depth.shape[0], 1 / kx, 1 / ky, cx, cy)
    feats, targets, masks, weights = [], [], [], []
    for p in range(len(frame.joints_uv)):
        kp, in_frame = openpose_from_itop(frame.joints_uv[p], frame.visible[p], frame.depth.shape)
        if in_frame.sum() < 6:
            continue
        copies = np.repeat(kp[None], recipe.copies, 0)
        sigma = rng.uniform(0, recipe.jitter_px, (recipe.copies, 1, 1))
        copies[..., :2] += rng.normal(size=copies[..., :2].shape) * sigma
        copies[..., 2] *= rng.random(copies.shape[:2]) >= rng.uniform(0, recipe.drop, (recipe.copies, 1))
        found = [c for c in (_same_person(v, kp) for v in views) if c is not None]
        copies = np.concatenate([copies, *found])
        inputs = lift_features(copies, frame.depth, intr)
        target, mask = sample_targets(inputs, frame.joints_cam[p, JOINT_OF], recipe.lateral)
        feats.append(inputs.features)
        targets.append(target)
        masks.append(mask)
        weights.append(np.r_[np.ones(recipe.copies), np.full(len(found), recipe.model_weight)].astype(np.float32))
    if not feats:
        n = len(LIFTED) * (3 if recipe.lateral else 1)
        return (np.zeros((0, 0), np.float32), np.zeros((0, n), np.float32), np.zeros((0, n), bool),
                np.zeros(0, np.float32))
    return np.concatenate(feats), np.concatenate(targets), np.concatenate(masks), np.concatenate(weights)


def render_set(recipe: LiftRecipe, workers: int = 1,
               start: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(features (N, D), targets (N, L), mask (N, L), weight (N,)) of frames ``start`` .. ``start + recipe.frames``."""
    jobs = [(recipe, i) for i in range(start, start + recipe.frames)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(frame_samples, jobs, chunksize=64))
    else:
        parts = list(map(frame_samples, jobs))
    parts = [p for p in parts if len(p[0])]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def constant_offsets(targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(L,) the baseline: the median offset of each keypoint over the training set (the first L
    target columns; lateral columns have no baseline)."""
    return np.array([np.median(targets[mask[:, k], k]) if mask[:, k].any() else 0.0
                     for k in range(len(LIFTED))], np.float32)


def fit(features: np.ndarray, targets: np.ndarray, mask: np.ndarray, cfg: FitConfig, log=print,
        weight: np.ndarray | None = None) -> dict:
    """Fit the MLP (Huber loss on the known offsets, each sample's weighted by ``weight``, default 1)
    -> arrays for ``LiftModel`` (W0.., b0.., mean, std)."""
    import torch

    torch.manual_seed(cfg.seed)
    mean, std = features.mean(0), features.std(0) + 1e-3
    x = torch.from_numpy((features - mean) / std)
    y = torch.from_numpy(np.where(mask, targets, 0.0).astype(np.float32))
    m = torch.from_numpy(mask.astype(np.float32) if weight is None else mask * weight[:, None])
    d, L = x.shape[1], y.shape[1]
    net = torch.nn.Sequential(torch.nn.Linear(d, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, cfg.hidden),
                              torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, L))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    for step in range(cfg.steps):
        idx = torch.randint(0, len(x), (cfg.batch,), generator=gen)
        loss = (torch.nn.functional.huber_loss(net(x[idx]), y[idx], reduction="none", delta=0.05) * m[idx]).sum() \
            / m[idx].sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == cfg.steps - 1:
            log(f"step {step}: loss {loss.item():.5f}")
    linear = [layer for layer in net if isinstance(layer, torch.nn.Linear)]
    out = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for i, layer in enumerate(linear):
        out[f"W{i}"] = layer.weight.detach().numpy().T.copy()
        out[f"b{i}"] = layer.bias.detach().numpy().copy()
    return out


def save_model(path: Path, arrays: dict, constant: np.ndarray, meta: dict) -> None:
    """Write the ``.npz`` under a temporary name, then rename."""
    from toppose.atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays, constant=constant, meta=np.array(json.dumps(meta)))


def train_lift(out: Path, recipe: LiftRecipe, cfg: FitConfig, workers: int = 1, log=print) -> dict:
    """Render, fit and save; returns the provenance stored in the file."""
    t0 = time.time()
    feats, targets, mask, weight = render_set(recipe, workers)
    log(f"{len(feats)} samples from {recipe.frames} frames in {time.time() - t0:.0f} s")
    arrays = fit(feats, targets, mask, cfg, log, weight)
    constant = constant_offsets(targets, mask)
    meta = {"kind": "toppose lifting offsets", "toppose": __version__, "keypoints": LIFTED.tolist(),
            "recipe": asdict(recipe), "fit": asdict(cfg), "samples": int(len(feats)),
            "renderer": "toppose.synth random_scene, top view, sensor 'generic'",
            "outputs": "offsets + lateral x, y" if recipe.lateral else "offsets",
            "command": f"python -m toppose.train.lift --frames {recipe.frames} --seed {recipe.seed} "
                       f"--steps {cfg.steps} --hidden {cfg.hidden}"
                       + (f" --model {recipe.model} --model-views {recipe.model_views} --model-weight "
                          f"{recipe.model_weight:g}" if recipe.model else "")
                       + ("" if recipe.lateral else " --no-lateral"),
            "seconds": round(time.time() - t0, 1)}
    if recipe.model:
        meta["model_sha256"] = hashlib.sha256(Path(recipe.model).read_bytes()).hexdigest()
    save_model(out, arrays, constant, meta)
    return meta


app = App(help="Train the 3-D lifting offsets on rendered frames.")


@app.command()
def main(out: Annotated[Path, typer.Option(help="the .npz to write")],
         frames: Annotated[int, typer.Option(help="rendered frames")] = LiftRecipe.frames,
         seed: Annotated[int, typer.Option(help="rendering seed")] = LiftRecipe.seed,
         steps: Annotated[int, typer.Option(help="optimiser steps")] = FitConfig.steps,
         hidden: Annotated[int, typer.Option(help="units in each of the two hidden layers")] = FitConfig.hidden,
         workers: Annotated[int, typer.Option(help="rendering processes")] = 1,
         model: Annotated[Optional[Path], typer.Option(help="also learn from this exported pose model's "
                                                      "keypoints on every frame")] = None,
         model_views: Annotated[Optional[int], typer.Option(help="with --model: run it on the frame as it is, "
                                                            "mirrored, upside down, turned 180 deg (first N; "
                                                            f"default {LiftRecipe.model_views})")] = None,
         model_weight: Annotated[Optional[float], typer.Option(help="with --model: loss weight of its keypoints' "
                                                              "samples (jittered true ones weigh 1; default "
                                                              f"{LiftRecipe.model_weight:g})")] = None,
         lateral: Annotated[bool, typer.Option(help="also learn x, y corrections to each keypoint's ray")] = True,
         force: Annotated[bool, typer.Option(help="replace an existing --out")] = False) -> None:
    """Render, fit, write the weights with their provenance."""
    from toppose.atomic import check_output

    if frames < 10 or steps < 1 or workers < 1 or hidden < 1:
        raise ConfigError("--frames must be >= 10, --steps, --hidden and --workers >= 1")
    check_output(out, force, "--out")
    if model is None and (model_views is not None or model_weight is not None):
        raise ConfigError("--model-views and --model-weight are about --model's keypoints: add --model")
    model_views = LiftRecipe.model_views if model_views is None else model_views
    model_weight = LiftRecipe.model_weight if model_weight is None else model_weight
    if not 1 <= model_views <= len(VIEWS) or not model_weight > 0:
        raise ConfigError(f"--model-views must be 1 to {len(VIEWS)}, --model-weight > 0")
    if model is not None and not model.is_file():
        raise ConfigError(f"--model {model}: no such file")
    recipe = LiftRecipe(frames=frames, seed=seed, model=str(model) if model else None, lateral=lateral,
                        model_views=model_views, model_weight=model_weight)
    meta = train_lift(out, recipe, FitConfig(hidden=hidden, steps=steps), workers, typer.echo)
    typer.echo(f"wrote {out} ({meta['samples']} samples, {meta['seconds']} s)")


if __name__ == "__main__":
    app()
