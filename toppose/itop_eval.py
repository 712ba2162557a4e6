"""ITOP's own 3-D metric: per-joint precision at 10 cm over the 15 ITOP joints, and the mean, on valid frames.

Reads a labels + depth_map pair as ITOP distributes it (or as ``toppose-data synth`` writes it) and
lifts two kinds of 2-D keypoints with ``toppose.lift``: the ground truth's (so the error is depth
only) and, with a predictor, the model's (2-D and depth errors together). Each is scored with the
learned offsets and with the constant-offset baseline. A joint without a 3-D estimate is a miss;
the torso (no OpenPose keypoint) is derived from the lifted neck and hips (``lift.to_itop``).
N frames, J = 15 ITOP joints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toppose.camera import ITOP
from toppose.data.itop import LABEL_DATASETS, check_itop_pair, open_itop
from toppose.lift import LIFTED, LiftModel, depth_metres, lift_features, points_from, to_itop, to_openpose
from toppose.skeleton import ITOP_JOINTS, NUM_OPENPOSE, openpose_from_itop

THRESHOLD_M = 0.10
METHODS = ("learned", "constant")


def precision(pred: np.ndarray, truth: np.ndarray, threshold: float = THRESHOLD_M) -> np.ndarray:
    """(N, J, 3) predictions (NaN = no estimate, a miss) vs (N, J, 3) truth, metres -> (J,) fraction
    of joints within ``threshold``."""
    d = np.linalg.norm(pred.astype(np.float64) - truth.astype(np.float64), axis=-1)
    return (np.nan_to_num(d, nan=np.inf) <= threshold).mean(0) if len(d) else np.zeros(truth.shape[1])


def match_person(keypoints: np.ndarray, truth: np.ndarray) -> int:
    """Index of the predicted person (P, K, 3) nearest the true keypoints (K, 3) in pixels
    (median over keypoints both have), -1 when none shares a keypoint."""
    best, best_d = -1, np.inf
    for p, kp in enumerate(keypoints):
        both = (kp[:, 2] > 0) & (truth[:, 2] > 0)
        if both.any():
            d = float(np.median(np.linalg.norm(kp[both, :2] - truth[both, :2], axis=1)))
            if d < best_d:
                best, best_d = p, d
    return best


def _frames(data, indices: np.ndarray, block: int = 64):
    """Frames ``indices`` (sorted) of an HDF5 dataset, read a block at a time (compressed chunks
    usually span many frames: reading them one by one decompresses each chunk again and again).

    A read holds at most ``block`` wanted frames and spans at most ``4 * block`` frames, so long
    runs of invalid frames between valid ones are skipped, not read into memory."""
    start = 0
    while start < len(indices):
        stop = min(start + block, int(np.searchsorted(indices, indices[start] + 4 * block)))
        wanted = indices[start:stop]
        chunk = data[int(wanted[0]):int(wanted[-1]) + 1]
        yield from chunk[wanted - wanted[0]]
        start = stop


def _lift_both(lifter: LiftModel, kp: np.ndarray, depth: np.ndarray) -> dict[str, np.ndarray]:
    """(K, 3) keypoints -> per method in METHODS, (15, 3) ITOP joints; the depth around the keypoints
    is read once for both."""
    inputs = lift_features(kp[None], depth, ITOP)
    return {m: to_itop(to_openpose(points_from(inputs, lifter.offsets(inputs.features, m == "learned")),
                                   len(kp)))[0] for m in METHODS}


def evaluate_itop(labels_path: Path, depth_path: Path, lifter: LiftModel, predictor=None,
                  limit: int | None = None, progress=None, tta: bool = False) -> dict:
    """Score ``lifter`` on the valid frames of an ITOP pair -> {"frames", "joints", "gt2d": {method:
    per-joint list}, "model": ... (with ``predictor``, a ``PosePredictor``; ``tta``: its scales
    0.75/1/1.25 + flip)}; each with its "mean"."""
    labels_path, depth_path = Path(labels_path), Path(depth_path)
    with open_itop(labels_path, LABEL_DATASETS) as labels, open_itop(depth_path, ("id", "data")) as depth_file:
        check_itop_pair(labels, depth_file, labels_path, depth_path)
        valid = np.nonzero(labels["is_valid"][:])[0][:limit]
        coords = labels["image_coordinates"][:].astype(np.float32)
        visible, truth = labels["visible_joints"][:], labels["real_world_coordinates"][:].astype(np.float32)
        kinds = ("gt2d",) + (("model",) if predictor is not None else ())
        preds = {(k, m): np.full((len(valid), len(ITOP_JOINTS), 3), np.nan, np.float32) for k in kinds for m in METHODS}
        for n, raw in enumerate(_frames(depth_file["data"], valid)):
            i = valid[n]
            depth = depth_metres(raw)
            gt_kp, _ = openpose_from_itop(coords[i], visible[i], ITOP.hw)
            inputs = {"gt2d": gt_kp}
            if predictor is not None:
                poses, _ = predictor(depth, tta=tta)
                p = match_person(poses.keypoints[:, :NUM_OPENPOSE], gt_kp)
                inputs["model"] = poses.keypoints[p, :NUM_OPENPOSE] if p >= 0 else None
            for kind, kp in inputs.items():
                if kp is not None:
                    for method, joints in _lift_both(lifter, kp, depth).items():
                        preds[(kind, method)][n] = joints
            if progress:
                progress(n + 1, len(valid))
        truth = truth[valid]
    result = {"frames": int(len(valid)), "joints": list(ITOP_JOINTS), "threshold_m": THRESHOLD_M}
    for kind in kinds:
        result[kind] = {}
        for method in METHODS:
            per = precision(preds[(kind, method)], truth)
            result[kind][method] = [round(float(v), 4) for v in per]
            result[kind][f"{method}_mean"] = round(float(per.mean()), 4)
    return result


def table(result: dict) -> str:
    """Per-joint precision (%) at the threshold, one column per input and method, and the mean."""
    cols = [(k, m) for k in ("gt2d", "model") if k in result for m in METHODS]
    names = {"gt2d": "true 2D", "model": "model"}
    head = f"{'ITOP joint':16}" + "".join(f"{names[k] + ' ' + m:>18}" for k, m in cols)
    lines = [f"ITOP precision at {100 * result['threshold_m']:.0f} cm, {result['frames']} valid frames", head]
    for j, name in enumerate(result["joints"]):
        lines.append(f"{name:16}" + "".join(f"{100 * result[k][m][j]:18.1f}" for k, m in cols))
    lines.append(f"{'mean':16}" + "".join(f"{100 * result[k][m + '_mean']:18.1f}" for k, m in cols))
    return "\n".join(lines)


__all__ = ["LIFTED", "evaluate_itop", "match_person", "precision", "table"]
