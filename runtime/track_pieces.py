"""Pieces of people as a decoder reports them: body centres, and merging the pieces of one person.

Dimensions: D detections (pieces), J keypoints, K limbs. ``merge_fragments`` and
``fast_centres`` run the Numba kernels of ``track_kernels``; ``merge_reference`` and
``body_centres`` are their NumPy references.
"""

from __future__ import annotations

import numpy as np

from toppose.codec.poses import Poses
from toppose.runtime.track_kernels import L_SHOULDER, NECK, R_SHOULDER, centres_kernel, merge_kernel

TORSO = (1, 2, 5, 8, 11)  # neck, shoulders, hips: the body centre when any of them is found
TORSO_MASK = np.isin(np.arange(64), TORSO)
RIGID_MASK = np.isin(np.arange(64), TORSO + (0, 14, 15, 16, 17))  # torso and head: they turn as one


def fill_shoulders(keypoints: np.ndarray) -> np.ndarray:
    """(D, J, 3) -> a copy with the one of neck and shoulders not found put where the other two
    put it (score 1), as ``track_kernels.filled_joint`` does: the neck is the shoulders' midpoint."""
    kp = np.array(keypoints, np.float64)
    if kp.shape[1] <= L_SHOULDER:
        return kp
    found = kp[..., 2] > 0
    neck, right, left = kp[:, NECK, :2], kp[:, R_SHOULDER, :2], kp[:, L_SHOULDER, :2]
    fills = ((NECK, ~found[:, NECK] & found[:, R_SHOULDER] & found[:, L_SHOULDER], (right + left) / 2),
             (L_SHOULDER, found[:, NECK] & found[:, R_SHOULDER] & ~found[:, L_SHOULDER], 2 * neck - right),
             (R_SHOULDER, found[:, NECK] & ~found[:, R_SHOULDER] & found[:, L_SHOULDER], 2 * neck - left))
    for j, where, xy in fills:
        kp[where, j, :2], kp[where, j, 2] = xy[where], 1.0
    return kp


def whole_torsos(keypoints: np.ndarray) -> np.ndarray:
    """(D, J, 3) -> (D,) bool: every torso keypoint found, or put in by ``fill_shoulders``."""
    return (fill_shoulders(keypoints)[:, TORSO_MASK[:keypoints.shape[1]], 2] > 0).all(1)


def body_centres(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, J, 3) keypoints -> (D, 2) centre px (mean of found torso keypoints, else of all found),
    (D,) bool: any keypoint found."""
    found = keypoints[..., 2] > 0
    torso = np.zeros_like(found)
    torso[:, list(TORSO)] = found[:, list(TORSO)]
    use = np.where(torso.any(1, keepdims=True), torso, found)
    n = use.sum(1)
    centre = (keypoints[..., :2] * use[..., None]).sum(1) / np.maximum(n, 1)[:, None]
    return centre, n > 0


def torso_centres(keypoints: np.ndarray) -> np.ndarray:
    """(D, J, 3) -> (D, 2) px: the body centre the tracker reports for a ``whole_torsos`` pose,
    the mean of its torso keypoints with ``fill_shoulders``' (``track_kernels.torso_centre``)."""
    return body_centres(fill_shoulders(keypoints))[0]


def fast_centres(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``body_centres`` by the Numba kernel."""
    out, ok = np.empty((len(keypoints), 2)), np.empty(len(keypoints), bool)
    centres_kernel(keypoints, TORSO_MASK[:keypoints.shape[1]], out, ok)
    return out, ok


def merge_fragments(poses: Poses, radius: float, centres: np.ndarray | None = None, agree: float = 35.0,
                    fixed: np.ndarray | None = None, min_parts: int = 1) -> tuple[Poses, np.ndarray]:
    """Pieces of one person (the decoder split them, or found them twice) with centres closer
    than ``radius`` px whose shared keypoints agree within ``agree`` px are put back together:
    from above, two people are never that close. Pieces marked ``fixed`` (D,) (each matched to
    its own track) are never merged with each other: what the tracker knows to be two people
    stays two; pieces with fewer than ``min_parts`` keypoints are left alone. Returns the poses
    and which of the D pieces are kept, (D,) bool. (Numba;
    ``merge_reference`` is the NumPy one.)"""
    alive = np.ones(len(poses), bool)
    if len(poses) < 2:
        return poses, alive
    kp = np.array(poses.keypoints, np.float32)
    centres = fast_centres(kp)[0] if centres is None else centres
    fixed = np.zeros(len(kp), bool) if fixed is None else fixed
    scores = poses.scores.astype(np.float32)
    if not merge_kernel(kp, centres, scores, float(radius), float(agree), int(min_parts), fixed, alive):
        return poses, alive
    return Poses(kp[alive], scores[alive], (kp[alive, :, 2] > 0).sum(1).astype(np.int32)), alive


def merge_reference(poses: Poses, radius: float, agree: float = 35.0, fixed: np.ndarray | None = None,
                    min_parts: int = 1) -> Poses:
    """NumPy reference of ``merge_fragments``."""
    keypoints = poses.keypoints
    centres = body_centres(keypoints)[0]
    close = np.argwhere(np.triu(((centres[:, None] - centres[None]) ** 2).sum(-1) < radius ** 2, 1))
    kp, alive = keypoints.copy(), np.ones(len(keypoints), bool)
    scores = poses.scores.copy()
    parts = (keypoints[..., 2] > 0).sum(1)
    fixed = np.zeros(len(keypoints), bool) if fixed is None else fixed
    for a, b in close:
        if (fixed[a] and fixed[b]) or min(parts[a], parts[b]) < min_parts:
            continue                     # each has its own track, or one is too small to tell
        if (fixed[b] or parts[b] > parts[a]) and not fixed[a]:
            a, b = b, a                  # keep the tracked or larger piece, fill in from the other
        shared = (kp[a, :, 2] > 0) & (kp[b, :, 2] > 0)
        if shared.any() and np.abs(kp[a, shared, :2] - kp[b, shared, :2]).max() > agree:
            continue                     # the same keypoint in two places: two people
        if alive[a] and alive[b]:
            take = (kp[b, :, 2] > 0) & ~(kp[a, :, 2] > 0)
            kp[a, take] = kp[b, take]
            scores[a] += scores[b]
            alive[b] = False
    return Poses(kp[alive], scores[alive], (kp[alive, :, 2] > 0).sum(1).astype(np.int32))
