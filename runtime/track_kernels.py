"""Numba kernels of the tracker, like the decoder's: fixed arrays the caller allocates, no
Python objects inside. Dimensions: T tracks, D detections, J keypoints. ``tracking.py`` keeps
the NumPy reference of each (``body_centres``, ``Tracker.cost_reference``, ``merge_reference``,
``Tracker.body_reference``); tests compare them.
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit


@jit
def centres_kernel(kp, torso, out, ok):
    """kp (D, J, 3) x, y, score; torso (J,) bool -> out (D, 2) px: mean of the found torso
    keypoints, else of all found ones; ok (D,) bool: any keypoint found."""
    for d in range(kp.shape[0]):
        sx = sy = tx = ty = 0.0
        n = tn = 0
        for j in range(kp.shape[1]):
            if kp[d, j, 2] > 0:
                sx += kp[d, j, 0]
                sy += kp[d, j, 1]
                n += 1
                if torso[j]:
                    tx += kp[d, j, 0]
                    ty += kp[d, j, 1]
                    tn += 1
        ok[d] = n > 0
        if tn > 0:
            out[d, 0], out[d, 1] = tx / tn, ty / tn
        elif n > 0:
            out[d, 0], out[d, 1] = sx / n, sy / n
        else:
            out[d, 0], out[d, 1] = 0.0, 0.0


@jit
def cost_kernel(track_kp, shift, track_xy, track_var, det_kp, det_xy, det_ok, kappa, centre_tol, min_size,
                min_count, max_cost, big, out):
    """(T, D) cost = 1 - similarity into ``out``; ``big`` where refused.

    track_kp (T, J, 3) last matched keypoints; shift (T, 2) px predicted motion since then;
    track_xy (T, 2) predicted centres; track_var (T,) px^2 their variance (trace); det_kp
    (D, J, 3); det_xy (D, 2) centres; det_ok (D,). With s the sum over the keypoints both have
    of exp(-d^2 / (2 (kappa size)^2)) (size: sqrt of the track's keypoint box area, at least
    ``min_size``): cost 1 - s / (keypoints the track has), so the whole person beats a piece of
    them; refused when 1 - s / (keypoints in common, at least ``min_count``) exceeds
    ``max_cost``, when they have no keypoint in common, or when the centres are further apart
    than twice sqrt(2 (centre_tol size)^2 + var).
    """
    for t in range(track_kp.shape[0]):
        x0 = y0 = np.inf
        x1 = y1 = -np.inf
        for j in range(track_kp.shape[1]):
            if track_kp[t, j, 2] > 0:
                x0, x1 = min(x0, track_kp[t, j, 0]), max(x1, track_kp[t, j, 0])
                y0, y1 = min(y0, track_kp[t, j, 1]), max(y1, track_kp[t, j, 1])
        m = 0
        for j in range(track_kp.shape[1]):
            m += track_kp[t, j, 2] > 0
        size = np.sqrt((x1 - x0) * (y1 - y0)) if x1 > x0 and y1 > y0 else 0.0
        size = max(size, min_size)
        tol2 = 2.0 * (kappa * size) ** 2
        spread = 2.0 * (centre_tol * size) ** 2 + track_var[t]
        for d in range(det_kp.shape[0]):
            cx, cy = track_xy[t, 0] - det_xy[d, 0], track_xy[t, 1] - det_xy[d, 1]
            if not det_ok[d] or cx * cx + cy * cy > 4.0 * spread:   # too far to be the same person
                out[t, d] = big
                continue
            s = 0.0
            n = 0
            for j in range(track_kp.shape[1]):
                if track_kp[t, j, 2] > 0 and det_kp[d, j, 2] > 0:
                    dx = track_kp[t, j, 0] + shift[t, 0] - det_kp[d, j, 0]
                    dy = track_kp[t, j, 1] + shift[t, 1] - det_kp[d, j, 1]
                    s += np.exp(-(dx * dx + dy * dy) / tol2)
                    n += 1
            c = 1.0 - s / max(m, min_count)
            out[t, d] = big if n == 0 or 1.0 - s / max(n, min_count) > max_cost else c


@jit
def merge_kernel(kp, centres, scores, radius, agree, fixed, alive):
    """In place: pieces a, b (a < b in order) with centres closer than ``radius`` px and shared
    keypoints within ``agree`` px merge into the fixed one, else the one with more keypoints
    (missing keypoints filled in, scores added). Two fixed (D,) pieces never merge; alive (D,)
    bool marks who is left. kp (D, J, 3); centres (D, 2); scores (D,). Returns the number merged."""
    n = kp.shape[0]
    merged = 0
    parts = np.zeros(n, np.int64)
    for d in range(n):
        for j in range(kp.shape[1]):
            parts[d] += kp[d, j, 2] > 0
    for i in range(n):
        for k in range(i + 1, n):
            dx, dy = centres[i, 0] - centres[k, 0], centres[i, 1] - centres[k, 1]
            if dx * dx + dy * dy >= radius * radius or (fixed[i] and fixed[k]):
                continue
            a, b = (k, i) if (fixed[k] or parts[k] > parts[i]) and not fixed[i] else (i, k)
            worst = 0.0
            for j in range(kp.shape[1]):
                if kp[a, j, 2] > 0 and kp[b, j, 2] > 0:
                    worst = max(worst, abs(kp[a, j, 0] - kp[b, j, 0]), abs(kp[a, j, 1] - kp[b, j, 1]))
            if worst > agree or not (alive[a] and alive[b]):
                continue
            for j in range(kp.shape[1]):
                if kp[b, j, 2] > 0 and not kp[a, j, 2] > 0:
                    kp[a, j, 0], kp[a, j, 1], kp[a, j, 2] = kp[b, j, 0], kp[b, j, 1], kp[b, j, 2]
            scores[a] += scores[b]
            alive[b] = False
            merged += 1
    return merged


@jit
def body_kernel(rows, kp, centres, torso, whole_kp, whole_c, offset):
    """In place, for tracks ``rows`` (M,) matched to detections kp (M, J, 3) with centres (M, 2):
    offset[rows] (T, 2) <- body centre - centres, where the body centre is the detection's own
    centre when its whole ``torso`` (J,) bool is found (then whole_kp (T, J, 3) and whole_c
    (T, 2) take it), else the kept whole pose's centre moved by the mean displacement of the
    keypoints both have (0 in common: the detection's own centre)."""
    for m in range(rows.shape[0]):
        t = rows[m]
        whole = True
        sx = sy = 0.0
        n = 0
        for j in range(kp.shape[1]):
            if torso[j] and not kp[m, j, 2] > 0:
                whole = False
            if kp[m, j, 2] > 0 and whole_kp[t, j, 2] > 0:
                sx += kp[m, j, 0] - whole_kp[t, j, 0]
                sy += kp[m, j, 1] - whole_kp[t, j, 1]
                n += 1
        if whole or n == 0:
            offset[t, 0], offset[t, 1] = 0.0, 0.0
        else:
            offset[t, 0] = whole_c[t, 0] + sx / n - centres[m, 0]
            offset[t, 1] = whole_c[t, 1] + sy / n - centres[m, 1]
        if whole:
            for j in range(kp.shape[1]):
                for c in range(3):
                    whole_kp[t, j, c] = kp[m, j, c]
            whole_c[t, 0], whole_c[t, 1] = centres[m, 0], centres[m, 1]


@jit
def predict_kernel(x, P, q):
    """In place, constant velocity one frame on: x (T, 4) cx, cy, vx, vy px; P (T, 4, 4)
    <- F P F^T + q with F = [[I, I], [0, I]]; q (4, 4)."""
    for t in range(x.shape[0]):
        x[t, 0] += x[t, 2]
        x[t, 1] += x[t, 3]
        for r in range(4):          # rows: P <- F P
            if r < 2:
                for c in range(4):
                    P[t, r, c] += P[t, r + 2, c]
        for c in range(2):          # columns: P <- P F^T
            for r in range(4):
                P[t, r, c] += P[t, r, c + 2]
        for r in range(4):
            for c in range(4):
                P[t, r, c] += q[r, c]


@jit
def correct_kernel(x, P, rows, z, r):
    """In place Kalman update of tracks ``rows`` (M,) with measured centres z (M, 2) px and
    measurement variance r px^2 (H = [I, 0])."""
    for m in range(rows.shape[0]):
        t = rows[m]
        a, b, c, d = P[t, 0, 0] + r, P[t, 0, 1], P[t, 1, 0], P[t, 1, 1] + r
        det = a * d - b * c
        i00, i01, i10, i11 = d / det, -b / det, -c / det, a / det
        y0, y1 = z[m, 0] - x[t, 0], z[m, 1] - x[t, 1]
        K = np.empty((4, 2))
        for k in range(4):
            K[k, 0] = P[t, k, 0] * i00 + P[t, k, 1] * i10
            K[k, 1] = P[t, k, 0] * i01 + P[t, k, 1] * i11
        for k in range(4):
            x[t, k] += K[k, 0] * y0 + K[k, 1] * y1
        top = P[t, :2, :].copy()
        for k in range(4):
            for c2 in range(4):
                P[t, k, c2] -= K[k, 0] * top[0, c2] + K[k, 1] * top[1, c2]
