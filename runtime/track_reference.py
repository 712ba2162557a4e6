"""NumPy references of the tracker's Numba kernels (``track_kernels``, ``track_state``), for tests.

Dimensions: T tracks, D detections, M matched pairs, J keypoints. Each function does on a
``Tracker``'s state arrays what its kernel does, with whole-array NumPy operations.
"""

from __future__ import annotations

import numpy as np

from toppose.runtime.track_pieces import RIGID_MASK, torso_centres, whole_torsos
from toppose.runtime.tracking import _BIG, Tracker


def _sizes(keypoints: np.ndarray, min_size: float) -> np.ndarray:
    """(N, J, 3) -> (N,) sqrt of the found keypoints' box area in px, at least ``min_size``."""
    found = keypoints[..., 2] > 0
    big = np.where(found[..., None], keypoints[..., :2], np.inf)
    small = np.where(found[..., None], keypoints[..., :2], -np.inf)
    span = np.maximum(small.max(1) - big.min(1), 0.0)
    span = np.where(np.isfinite(span), span, 0.0)
    return np.maximum(np.sqrt(span[:, 0] * span[:, 1]), min_size)


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 2) points a, b -> the (2, 2) rotation that best maps a about its mean onto b about its (Kabsch)."""
    u, v = a - a.mean(0), b - b.mean(0)
    angle = np.arctan2((u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]).sum(), (u * v).sum())
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _rigid_rms(a: np.ndarray, b: np.ndarray) -> float:
    """RMS px between b and a turned by ``_rotation`` (0 for no points)."""
    if not len(a):
        return 0.0
    u, v = a - a.mean(0), b - b.mean(0)
    return float(np.sqrt(((u @ _rotation(a, b).T - v) ** 2).sum(1).mean()))


def body_reference(tracker: Tracker, t: np.ndarray, kp: np.ndarray, centres: np.ndarray) -> None:
    """NumPy reference of ``body_kernel``: tracks t (M,) matched detections (M, J, 3) with
    centres (M, 2). With the whole torso (a missing neck or shoulder filled in), its centre is the
    body's and the pose is kept; otherwise the body centre is the kept pose's centre moved (and
    turned, with 2 or more torso and head keypoints in common: Kabsch) as the keypoints both have
    moved, so the centre of someone half out of view (or whose hip comes and goes) does not jump
    to the part in view (and count line crossings nobody made)."""
    rigid = RIGID_MASK[:kp.shape[1]]
    whole = whole_torsos(kp)
    kept = tracker.whole_kp[t]
    shared = (kp[..., 2] > 0) & (kept[..., 2] > 0)                                  # (M, J)
    n = shared.sum(1)
    moved = ((kp[..., :2] - kept[..., :2]) * shared[..., None]).sum(1) / np.maximum(n, 1)[:, None]
    body = np.where((n == 0)[:, None], centres, tracker.whole_c[t] + moved)
    body[whole] = torso_centres(kp[whole])
    for m in np.flatnonzero(~whole & ((shared & rigid).sum(1) >= 2)):
        use = shared[m] & rigid
        a, b = kept[m, use, :2], kp[m, use, :2]
        body[m] = b.mean(0) + _rotation(a, b) @ (tracker.whole_c[t[m]] - a.mean(0))
    tracker.offset[t] = body - centres
    tracker.whole_kp[t[whole]], tracker.whole_c[t[whole]] = kp[whole], body[whole]


def cost_reference(tracker: Tracker, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray,
                   tracks: np.ndarray) -> np.ndarray:
    """NumPy reference of ``Tracker._cost`` (``cost_kernel``) on the tracks' remembered keypoints."""
    cfg = tracker.cfg
    shift = tracker.x[tracks, :2] - tracker.centre_kp[tracks]     # predicted motion since last seen
    tk = tracker.mem[tracks]
    pred = tk[:, None, :, :2] + shift[:, None, None, :]           # (T, 1, J, 2)
    shared = (tk[:, None, :, 2] > 0) & (kp[None, :, :, 2] > 0)    # (T, D, J)
    d2 = ((pred - kp[None, :, :, :2]) ** 2).sum(-1)
    size = _sizes(tk, cfg.min_size)
    var = np.minimum(np.trace(tracker.P[tracks, :2, :2], axis1=1, axis2=2), cfg.max_var)
    old = 2 * (cfg.age_px * (tk[:, None, :, 2] - 1)) ** 2       # (T, 1, J) a remembered keypoint's age
    tol2 = 2 * (cfg.kappa * size[:, None, None]) ** 2 + old
    atol2 = 2 * cfg.agree_px ** 2 + var[:, None, None] + old
    n = shared.sum(-1)
    own = (tk[:, None, :, 2] > 0).sum(-1)                         # (T, 1) keypoints the track has
    sim = (np.exp(-d2 / tol2) * shared).sum(-1) / np.maximum(own, cfg.min_count)
    agree = (np.exp(-d2 / atol2) * shared).sum(-1) / np.maximum(n, cfg.min_count)
    dc2 = ((tracker.x[tracks, None, :2] - centres[None]) ** 2).sum(-1)
    spread = 2 * (cfg.centre_tol * size) ** 2 + var
    cost = 1.0 - sim
    cost[:, ~ok] = _BIG
    cost[(n == 0) | (1.0 - agree > cfg.max_cost) | (dc2 > 4 * spread[:, None])] = _BIG
    return cost


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, int]:
    """Mean displacement (2,) px from pose a (J, 3) to b (J, 3) over the keypoints both have, and their number."""
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    n = int(both.sum())
    return ((b[both, :2] - a[both, :2]).mean(0) if n else np.zeros(2)), n


def match_reference(tracker: Tracker, t: np.ndarray, d: np.ndarray, kp: np.ndarray, centres: np.ndarray,
                    image_hw: tuple[int, int]) -> np.ndarray:
    """NumPy reference of ``match_kernel``: tracks t (M,) matched to detections d (M,) of kp
    (D, J, 3), centres (D, 2) in an image (H, W) -> det_ids (D,); the tracker's state updated in place."""
    r = tracker.cfg.meas_std ** 2
    tracker.misses += 1
    H = np.eye(2, 4)
    for m, k in enumerate(t):   # textbook Kalman update of the moved centre, then re-anchored
        moved, n = _shift(tracker.kp[k], kp[d[m]])
        z = tracker.centre_kp[k] + moved if n else centres[d[m]]
        K = tracker.P[k] @ H.T @ np.linalg.inv(H @ tracker.P[k] @ H.T + r * np.eye(2))
        tracker.x[k] = tracker.x[k] + K @ (z - H @ tracker.x[k])
        tracker.x[k, :2] += centres[d[m]] - z
        tracker.P[k] = (np.eye(4) - K @ H) @ tracker.P[k]
    body_reference(tracker, t, kp[d], centres[d])
    for m, k in enumerate(t):   # memory: seen keypoints replaced, the others moved along and older
        moved, n = _shift(tracker.kp[k], kp[d[m]])
        if not n:
            moved, n = _shift(tracker.mem[k], kp[d[m]])
        seen, known = kp[d[m], :, 2] > 0, tracker.mem[k, :, 2] > 0
        tracker.mem[k, ~seen & known, :2] += moved
        tracker.mem[k, ~seen & known, 2] += 1
        xy = tracker.mem[k, :, :2]
        outside = (xy[:, 0] < 0) | (xy[:, 0] >= image_hw[1]) | (xy[:, 1] < 0) | (xy[:, 1] >= image_hw[0])
        tracker.mem[k, (tracker.mem[k, :, 2] > tracker.cfg.max_age + 1) | (outside & ~seen)] = 0
        tracker.mem[k, seen, :2], tracker.mem[k, seen, 2] = kp[d[m], seen, :2], 1
    tracker.kp[t], tracker.centre_kp[t] = kp[d], centres[d]
    tracker.hits[t] += 1
    tracker.misses[t] = 0
    new = t[(tracker.ids[t] < 0) & (tracker.hits[t] >= tracker.cfg.min_hits)]
    tracker.ids[new] = np.arange(tracker.next_id, tracker.next_id + len(new))
    tracker.next_id += len(new)
    det_ids = np.full(len(kp), -1, np.int64)
    det_ids[d] = tracker.ids[t]
    return det_ids


def report_reference(tracker: Tracker) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy reference of ``report_kernel`` -> ids (N,), body centres (N, 2) px, clear (N,) bool."""
    cfg = tracker.cfg
    live = (tracker.ids >= 0) & (tracker.misses <= cfg.coast)
    seen = tracker.misses[live] == 0
    found = tracker.kp[live, :, 2] > 0
    rigid = RIGID_MASK[:found.shape[1]]
    shared = found & rigid & (tracker.whole_kp[live, :, 2] > 0)
    fit = shared.sum(1)
    rms = np.array([_rigid_rms(a[use, :2], b[use, :2]) for a, b, use in
                    zip(tracker.whole_kp[live], tracker.kp[live], shared)])
    clear = seen & (((found.sum(1) >= cfg.clear_parts) & whole_torsos(tracker.kp[live]))
                    | ((fit >= cfg.fit_parts) & (rms <= cfg.fit_rms)))
    centres = np.where(seen[:, None], tracker.centre_kp[live], tracker.x[live, :2]) + tracker.offset[live]
    return tracker.ids[live], centres, clear
