"""ITOP's own 3-D metric: per-joint precision at 10 cm over the 15 ITOP joints, and the mean, on valid frames.

Reads a labels + depth_map pair as ITOP distributes it (or as ``toppose-data synth`` writes it) and
lifts two kinds of 2-D keypoints with ``toppose.lift``: the ground truth's (so the error is depth
only) and, with a predictor, the model's (2-D and depth errors together). Each is scored with the
learned offsets and with the constant-offset baseline. A joint without a 3-D estimate is a miss;
the torso (no OpenPose keypoint) is derived from the lifted neck and hips (``lift.to_itop``).
With a predictor, every model joint that misses is given one cause (``CAUSES``), so the figures
say whether the 2-D stage or the depth is to blame. N frames, J = 15 ITOP joints.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toppose.camera import ITOP
from toppose.data.itop import LABEL_DATASETS, check_itop_pair, open_itop
from toppose.lift import LIFTED, LiftModel, depth_metres, lift_features, to_itop, to_openpose
from toppose.skeleton import ITOP_JOINTS, NUM_OPENPOSE, OPENPOSE_FROM_ITOP, openpose_from_itop

THRESHOLD_M = 0.10
METHODS = ("learned", "constant")
# Why a model joint (learned lifting) is or is not within the threshold: "missing": the matched person
# has no such keypoint; "other_piece": it has none, but another decoded person holds one within
# PIECE_PX of the truth (the person was split); "off_ray": a keypoint whose viewing ray passes farther
# than the threshold from the true joint (no depth could help: the 2-D is wrong); "depth": the ray
# passes within the threshold, the lifted point does not (or has no value).
CAUSES = ("ok", "missing", "other_piece", "off_ray", "depth")
PIECE_PX = 8.0
CAUSED = [j for j in range(len(ITOP_JOINTS)) if j in OPENPOSE_FROM_ITOP]   # every ITOP joint but the torso


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


def causes(people: np.ndarray, p: int, truth_kp: np.ndarray, lifted: np.ndarray, truth: np.ndarray,
           intr=ITOP, threshold: float = THRESHOLD_M) -> np.ndarray:
    """One frame's decoded people (Q, K, 3) of which ``p`` is matched (-1: none), the true 2-D
    keypoints (K, 3), the lifted ITOP joints (15, 3, NaN = none) and the true ones (15, 3) metres ->
    (len(CAUSED),) indices into CAUSES."""
    out = np.zeros(len(CAUSED), np.int64)
    for i, j in enumerate(CAUSED):
        k = OPENPOSE_FROM_ITOP.index(j)
        t = truth[j].astype(np.float64)
        if np.linalg.norm(lifted[j] - t) <= threshold:
            continue
        if p < 0 or people[p, k, 2] <= 0:
            near = [q for q in range(len(people)) if q != p and people[q, k, 2] > 0 and truth_kp[k, 2] > 0
                    and np.linalg.norm(people[q, k, :2] - truth_kp[k, :2]) <= PIECE_PX]
            out[i] = CAUSES.index("other_piece" if near else "missing")
            continue
        u, v = people[p, k, :2]
        ray = np.array([(u - intr.cx) * t[2] / intr.fx, -(v - intr.cy) * t[2] / intr.fy, t[2]])
        out[i] = CAUSES.index("off_ray" if np.linalg.norm(ray - t) > threshold else "depth")
    return out


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
    return {m: to_itop(to_openpose(lifter.points(inputs, m == "learned"), len(kp)))[0] for m in METHODS}


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
        counts = np.zeros((len(CAUSED), len(CAUSES)), np.int64)
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
            if predictor is not None:
                people = poses.keypoints[:, :NUM_OPENPOSE]
                counts[np.arange(len(CAUSED)), causes(people, p, gt_kp, preds[("model", "learned")][n], truth[i])] += 1
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
    if predictor is not None:
        share = counts / max(len(valid), 1)
        result["model"]["causes"] = {ITOP_JOINTS[j]: {c: round(float(share[i, n]), 4) for n, c in enumerate(CAUSES)}
                                     for i, j in enumerate(CAUSED)}
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
    if "causes" in result.get("model", {}):
        lines += ["", "model joints (learned) by cause, % of frames", f"{'ITOP joint':16}" + "".join(f"{c:>12}" for c in CAUSES)]
        for name, share in result["model"]["causes"].items():
            lines.append(f"{name:16}" + "".join(f"{100 * share[c]:12.1f}" for c in CAUSES))
    return "\n".join(lines)


__all__ = ["CAUSES", "LIFTED", "causes", "evaluate_itop", "match_person", "precision", "table"]
