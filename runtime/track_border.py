"""People at the image border: a remnant of someone mostly out of view and the small pieces
around it (Dimensions: T tracks, D pieces, J keypoints).

Walking along the border mostly out of view, a person shows a keypoint or two, and which ones
changes from frame to frame (a foot, then a hand 60 px away), so their track and the next piece
often share no keypoint and the usual cost refuses them; someone leaving through the border
moves out of it, someone walking along it does not.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

_BIG = 1e6


def parts(kp: np.ndarray) -> np.ndarray:
    """(N, J, 3) keypoints -> (N,) how many each person shows."""
    return (kp[:, :, 2] > 0).sum(1)


def border_distance(points, image_hw: tuple[int, int]) -> np.ndarray:
    """(N, 2) px points, image (H, W) -> (N,) px to the nearest image border (negative outside)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    h, w = image_hw
    return np.minimum(np.minimum(p[:, 0], w - p[:, 0]), np.minimum(p[:, 1], h - p[:, 1]))


def outward_speed(centres: np.ndarray, velocity: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """(T, 2) px, (T, 2) px / frame, image (H, W) -> (T,) px / frame towards each one's nearest
    border (negative: away from it)."""
    h, w = image_hw
    side = np.stack([centres[:, 0], w - centres[:, 0], centres[:, 1], h - centres[:, 1]], 1).argmin(1)
    out = np.stack([-velocity[:, 0], velocity[:, 0], -velocity[:, 1], velocity[:, 1]], 1)
    return out[np.arange(len(centres)), side]


def relink(tracker, kp: np.ndarray, ok: np.ndarray, t: np.ndarray, d: np.ndarray,
           image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The tracker's matched pairs t (M,), d (M,) plus its unmatched remnants (confirmed, last
    seen with fewer than ``min_parts`` keypoints, moving out through their nearest border no
    faster than ``relink_out``) paired with unmatched pieces as small of kp (D, J, 3) whose
    keypoints come within ``relink_px`` of one the remnant remembers (moved by its predicted
    motion), whatever the keypoints; one optimal assignment on that distance."""
    cfg = tracker.cfg
    small = ok & (parts(kp) < cfg.min_parts)
    small[d] = False
    if not small.any():
        return t, d
    rem = (tracker.ids >= 0) & (parts(tracker.kp) < cfg.min_parts)
    rem[t] = False
    if not rem.any():
        return t, d
    rem &= outward_speed(tracker.centre_kp, tracker.x[:, 2:], image_hw) <= cfg.relink_out
    rows, cols = np.flatnonzero(rem), np.flatnonzero(small)
    cost = np.full((len(rows), len(cols)), _BIG)
    for i, r in enumerate(rows):
        mem, last = tracker.mem[r], tracker.kp[r]
        known = np.concatenate([mem[mem[:, 2] > 0, :2], last[last[:, 2] > 0, :2]])
        known += tracker.x[r, :2] - tracker.centre_kp[r]
        for j, k in enumerate(cols):
            near = np.sqrt(((kp[k][kp[k, :, 2] > 0, None, :2] - known[None]) ** 2).sum(-1)).min()
            cost[i, j] = near if near <= cfg.relink_px else _BIG
    a, b = linear_sum_assignment(cost)
    keep = cost[a, b] < _BIG
    return np.concatenate([t, rows[a[keep]]]), np.concatenate([d, cols[b[keep]]])
