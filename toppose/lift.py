"""2-D keypoints + a depth frame -> camera-frame 3-D joints (metres), NumPy only (the runtime uses it).

Camera frame as ``toppose.camera``: x right, y up, z away from the camera. A keypoint at pixel
(u, v) lies on the ray x = (u - cx) z / fx, y = -(v - cy) z / fy; lifting finds its z as the
observed surface near (u, v) plus an offset along the ray. From above, hips, knees, elbows and the
torso usually lie under another body surface, so the offset is learned (``LiftModel``, a small
MLP trained by ``toppose.train.lift`` on rendered frames with exact 3-D truth); a constant offset
per keypoint is the baseline it must beat. A model may also learn a lateral correction (x, y
metres added to the ray point): the rest of the skeleton and the depth around it move a 2-D
keypoint that a pose model placed a few pixels off (knees on the hip, ankles beside the foot).

Glossary: P people, K keypoints of the model (OpenPose order first), L lifted keypoints
(``LIFTED``: the 14 ITOP labels), S window samples, F features per keypoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toppose.camera import Intrinsics
from toppose.lift_kernels import FEATURES, GLOBAL, assemble, window_stats
from toppose.preprocess import depth_from_png
from toppose.skeleton import ITOP_LABELLED, ITOP_TORSO, NUM_ITOP, OPENPOSE_FROM_ITOP

LIFTED = np.asarray(ITOP_LABELLED)   # (L,) OpenPose indices lifted: nose .. left ankle
NECK, R_HIP, L_HIP = 1, 8, 11        # OpenPose indices the torso is derived from
# ITOP's torso lies on the pelvis-centre -> neck segment at this fraction (the renderer's body:
# torso 0.16 h, neck 0.30 h above the pelvis centre); ITOP itself labels it as a spine point.
TORSO_FRACTION = 0.16 / 0.30
MIN_SURFACE = 3                      # keypoints with a surface reading a person needs to be lifted


def depth_metres(frame: np.ndarray) -> np.ndarray:
    """(H, W) depth as a source delivers it (uint16 mm, float metres) -> float32 metres, 0 = no reading."""
    if frame.dtype == np.uint16:
        return depth_from_png(frame)
    d = frame.astype(np.float32, copy=False)
    return np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0))


@dataclass
class LiftInputs:
    """What the offset model reads for P people: features (P, L*F + GLOBAL), anchors (P, L) metres
    (the observed surface each offset starts from), slopes (P, L, 2), ok (P, L) liftable."""

    features: np.ndarray
    anchors: np.ndarray
    slopes: np.ndarray
    ok: np.ndarray


def lift_features(keypoints: np.ndarray, depth: np.ndarray, intr: Intrinsics) -> LiftInputs:
    """(P, K, 3) keypoints (x, y, score; score <= 0 = missing) + (H, W) depth metres -> LiftInputs.

    Per lifted keypoint: present, lateral position (2, metres at the reference depth, relative to
    the person's centre), surface median, 10th / 90th percentile (relative to the reference depth)
    and valid share; per person its centre's ray and the reference depth: the median surface
    over its keypoints (``lift_kernels.features_reference`` is the readable version)."""
    P, L = len(keypoints), len(LIFTED)
    kp = np.ascontiguousarray(keypoints[:, LIFTED], np.float32)       # (P, L, 3)
    stats = window_stats(depth, kp[..., :2].reshape(-1, 2)).reshape(P, L, 4)
    out = LiftInputs(np.empty((P, L * FEATURES + GLOBAL), np.float32), np.empty((P, L), np.float32),
                     np.empty((P, L, 2), np.float32), np.empty((P, L), np.bool_))
    assemble(kp, stats, np.array([intr.cx, intr.cy, intr.fx, intr.fy]), MIN_SURFACE,
             out.features, out.anchors, out.slopes, out.ok, np.empty(L, np.float32))
    return out


def points_from(inputs: LiftInputs, offsets: np.ndarray, lateral: np.ndarray | None = None) -> np.ndarray:
    """Anchors + offsets (P, L) metres along the ray (+ lateral (P, L, 2) x, y metres) -> (P, L, 3)
    camera points, NaN where not liftable."""
    z = inputs.anchors + offsets
    xy = inputs.slopes * z[..., None]
    if lateral is not None:
        xy += lateral
    pts = np.concatenate([xy, z[..., None]], -1)
    pts[~inputs.ok | (z <= 0)] = np.nan
    return pts


def to_openpose(points: np.ndarray, num_keypoints: int) -> np.ndarray:
    """(P, L, 3) lifted points -> (P, K, 3) in the model's keypoint order; NaN elsewhere."""
    out = np.full((len(points), num_keypoints, 3), np.nan, np.float32)
    out[:, LIFTED] = points
    return out


def to_itop(points: np.ndarray) -> np.ndarray:
    """(P, K >= 14, 3) OpenPose-order points -> (P, 15, 3) ITOP joints; the torso is derived as
    pelvis centre + TORSO_FRACTION (neck - pelvis centre), NaN unless the neck and both hips are known."""
    out = np.full((len(points), NUM_ITOP, 3), np.nan, np.float32)
    for k, j in enumerate(OPENPOSE_FROM_ITOP):
        if j >= 0:
            out[:, j] = points[:, k]
    pelvis = (points[:, R_HIP] + points[:, L_HIP]) / 2
    out[:, ITOP_TORSO] = pelvis + TORSO_FRACTION * (points[:, NECK] - pelvis)
    return out


class LiftModel:
    """The offset regressor: a ReLU MLP evaluated with NumPy, or the constant per-keypoint baseline.

    The MLP's output is L offsets along the ray, or 3L: the offsets, then the lateral x (L) and y
    (L) corrections in metres. ``LiftModel.load(path)`` reads a ``.npz`` written by
    ``toppose.train.lift`` (weights W0.., b0.., input mean/std, the baseline's constant offsets and
    a JSON ``meta`` with the provenance)."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], mean: np.ndarray, std: np.ndarray,
                 constant: np.ndarray, meta: dict) -> None:
        self.layers, self.mean, self.std = layers, mean.astype(np.float32), std.astype(np.float32)
        self.constant, self.meta = constant.astype(np.float32), meta
        n_in = layers[0][0].shape[0] if layers else len(mean)
        n_out = layers[-1][0].shape[1] if layers else len(LIFTED)
        if n_in != len(LIFTED) * FEATURES + GLOBAL or n_out not in (len(LIFTED), 3 * len(LIFTED)):
            raise ValueError(f"lifting model expects {n_in} inputs and gives {n_out} outputs; this toppose "
                             f"computes {len(LIFTED) * FEATURES + GLOBAL} for {len(LIFTED)} keypoints and "
                             f"takes {len(LIFTED)} or {3 * len(LIFTED)}")
        self.has_lateral = n_out == 3 * len(LIFTED)
        if layers:  # the input standardisation folded into the first layer: one product less per frame
            w0, b0 = layers[0]
            self._layers = [(w0 / self.std[:, None], b0 - (self.mean / self.std) @ w0)] + layers[1:]

    @classmethod
    def load(cls, path: str | Path) -> "LiftModel":
        """A ``.npz`` written by ``toppose.train.lift``; ValueError naming the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                n = sum(1 for k in z.files if k.startswith("W"))
                layers = [(z[f"W{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)) for i in range(n)]
                return cls(layers, z["mean"], z["std"], z["constant"], json.loads(str(z["meta"])))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a toppose lifting model ({e})") from None

    def corrections(self, features: np.ndarray, learned: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(P, L*F + GLOBAL) features -> (P, L) offsets in metres along the ray and (P, L, 2) lateral
        x, y metres (None for the baseline and for offset-only models)."""
        L = len(LIFTED)
        if not learned or not self.layers:
            return np.broadcast_to(self.constant, (len(features), L)).copy(), None
        h = features
        for i, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if i < len(self._layers) - 1:
                np.maximum(h, 0, out=h)
        if not self.has_lateral:
            return h, None
        return h[:, :L], h[:, L:].reshape(len(h), 2, L).transpose(0, 2, 1)

    def offsets(self, features: np.ndarray, learned: bool = True) -> np.ndarray:
        """(P, L*F + GLOBAL) features -> (P, L) offsets in metres along the ray."""
        return self.corrections(features, learned)[0]

    def points(self, inputs: LiftInputs, learned: bool = True) -> np.ndarray:
        """LiftInputs of P people -> (P, L, 3) camera points (metres), NaN where not liftable."""
        return points_from(inputs, *self.corrections(inputs.features, learned))

    def lift(self, keypoints: np.ndarray, depth: np.ndarray, intr: Intrinsics, learned: bool = True) -> np.ndarray:
        """(P, K, 3) keypoints + (H, W) depth metres -> (P, K, 3) camera metres, NaN where unknown."""
        return to_openpose(self.points(lift_features(keypoints, depth, intr), learned), keypoints.shape[1])
