"""Numba kernels that update the tracks' state: Kalman steps, matches, the frame's report.

Fixed arrays the caller allocates, no Python objects inside. Dimensions: T tracks, D
detections, M matched pairs, J keypoints. References: the textbook Kalman equations, and
``Tracker.match_reference`` / ``Tracker.report_reference``; tests compare them.
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit
from toppose.runtime.track_kernels import body_kernel, rigid_fit, whole_torso


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


@jit
def shared_shift(a, b):
    """Mean displacement (dx, dy) px from pose a (J, 3) to pose b (J, 3) over the keypoints both
    have, and their number."""
    sx = sy = 0.0
    n = 0
    for j in range(a.shape[0]):
        if a[j, 2] > 0 and b[j, 2] > 0:
            sx += b[j, 0] - a[j, 0]
            sy += b[j, 1] - a[j, 1]
            n += 1
    return (sx / n, sy / n, n) if n else (0.0, 0.0, 0)


@jit
def moved_centre(last_c, last_kp, kp, centre):
    """The track's last centre (2,) px moved by the mean displacement of the keypoints its last
    pose (J, 3) and the detection (J, 3) both have; with none in common the detection's centre
    (2,). Measuring motion this way, a keypoint coming into view (a person entering at the
    border) moves the centre of the found keypoints but is no velocity."""
    dx, dy, n = shared_shift(last_kp, kp)
    out = np.empty(2)
    if n == 0:
        out[0], out[1] = centre[0], centre[1]
    else:
        out[0], out[1] = last_c[0] + dx, last_c[1] + dy
    return out


@jit
def remember(mem, kp, dx, dy, max_age, h, w):
    """In place, a track's memory of its keypoints mem (J, 3) x, y, 1 + frames since seen (0 =
    unknown) after a match with pose kp (J, 3) that moved the body by (dx, dy) px: seen
    keypoints replaced, the others moved along and one frame older, forgotten after ``max_age``
    or once moved out of the (h, w) image (of someone leaving, what is still remembered is what
    could still be seen: not their head beside the head of someone coming in)."""
    for j in range(mem.shape[0]):
        if kp[j, 2] > 0:
            mem[j, 0], mem[j, 1], mem[j, 2] = kp[j, 0], kp[j, 1], 1.0
        elif mem[j, 2] > 0:
            mem[j, 0] += dx
            mem[j, 1] += dy
            mem[j, 2] += 1.0
            if mem[j, 2] > max_age + 1 or not (0 <= mem[j, 0] < w and 0 <= mem[j, 1] < h):
                mem[j, 0] = mem[j, 1] = mem[j, 2] = 0.0


@jit
def match_kernel(t, d, kp, centres, torso, rigid, meas_var, max_age, hw, state, ids, hits, misses, next_id, min_hits,
                 det_ids):
    """Tracks t (M,) matched to detections d (M,) with keypoints kp (D, J, 3) and centres (D, 2)
    px, in place: every track's misses (T,) + 1, then per pair the Kalman update with
    variance ``meas_var`` px^2, the track's pose and centre replaced, its body offset
    (``body_kernel``, torso and rigid (J,) bool), hits (T,) + 1 and misses 0; a tentative track (ids -1)
    with ``min_hits`` hits gets the next id; det_ids (D,) <- the tracks' ids. state: the
    tracker's (x (T, 4), P (T, 4, 4), track_kp (T, J, 3), centre_kp (T, 2), whole_kp (T, J, 3),
    whole_c (T, 2), offset (T, 2), mem (T, J, 3) as ``remember``'s, forgetting after
    ``max_age`` frames or outside the image hw (H, W)). Returns the next unused id."""
    x, P, track_kp, centre_kp, whole_kp, whole_c, offset, mem = state
    for k in range(misses.shape[0]):
        misses[k] += 1
    z = np.empty((t.shape[0], 2))
    det_c = np.empty((t.shape[0], 2))
    det_kp = np.empty((t.shape[0], kp.shape[1], 3), kp.dtype)
    for m in range(t.shape[0]):
        det_kp[m], det_c[m] = kp[d[m]], centres[d[m]]
        z[m] = moved_centre(centre_kp[t[m]], track_kp[t[m]], det_kp[m], det_c[m])
    correct_kernel(x, P, t, z, meas_var)
    for m in range(t.shape[0]):   # re-anchored on the detection's own centre: velocity unchanged
        x[t[m], 0] += det_c[m, 0] - z[m, 0]
        x[t[m], 1] += det_c[m, 1] - z[m, 1]
    body_kernel(t, det_kp, det_c, torso, rigid, whole_kp, whole_c, offset)
    for m in range(t.shape[0]):
        k = t[m]
        dx, dy, n = shared_shift(track_kp[k], det_kp[m])
        if n == 0:
            dx, dy, n = shared_shift(mem[k], det_kp[m])
        remember(mem[k], det_kp[m], dx, dy, max_age, hw[0], hw[1])
        track_kp[k] = det_kp[m]
        centre_kp[k] = det_c[m]
        hits[k] += 1
        misses[k] = 0
        if ids[k] < 0 and hits[k] >= min_hits:
            ids[k] = next_id
            next_id += 1
        det_ids[d[m]] = ids[k]
    return next_id


@jit
def report_kernel(ids, misses, coast, clear_parts, fit_parts, fit_rms, torso, rigid, state, out_ids, out_centres,
                  out_clear):
    """Confirmed tracks seen within ``coast`` frames -> out_ids (N,), body centres out_centres
    (N, 2) px (the measured centre, or the prediction while coasting, plus the body offset) and
    out_clear (N,) bool: measured this frame with at least ``clear_parts`` keypoints and the whole
    torso (J,) bool, or with at least ``fit_parts`` ``rigid`` (J,) bool keypoints (torso and head)
    that the last whole pose has too and that still move as one body with it (``rigid_fit``
    leaves at most ``fit_rms`` px; its body offset is fitted to them: ``body_kernel``); else the
    centre may be that of the part in view, up to half a body off. In the tracks' order; the
    out arrays hold T rows. state as ``match_kernel``'s. Returns N."""
    x, P, track_kp, centre_kp, whole_kp, whole_c, offset, mem = state
    n = 0
    for k in range(ids.shape[0]):
        if ids[k] < 0 or misses[k] > coast:
            continue
        out_ids[n] = ids[k]
        seen = misses[k] == 0
        for c in range(2):
            out_centres[n, c] = (centre_kp[k, c] if seen else x[k, c]) + offset[k, c]
        parts = 0
        for j in range(track_kp.shape[1]):
            parts += track_kp[k, j, 2] > 0
        clear = seen and parts >= clear_parts and whole_torso(track_kp[k], torso)
        if seen and not clear:
            fit, _, _, _, _, _, _, rms = rigid_fit(whole_kp[k], track_kp[k], rigid)
            clear = fit >= fit_parts and rms <= fit_rms
        out_clear[n] = clear
        n += 1
    return n
