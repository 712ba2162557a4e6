"""Numba kernels of the tracker, like the decoder's: fixed arrays the caller allocates, no
Python objects inside. Dimensions: T tracks, D detections, J keypoints. NumPy references:
``track_pieces.body_centres`` and ``merge_reference``, ``track_reference.cost_reference`` and
``body_reference``; tests compare them. The Kalman and bookkeeping steps are in ``track_state``.
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit
from toppose.skeleton import OPENPOSE_KEYPOINTS

NECK, R_SHOULDER, L_SHOULDER = (OPENPOSE_KEYPOINTS.index(n) for n in ("neck", "right_shoulder", "left_shoulder"))


@jit
def filled_joint(kp):
    """kp (J, 3) of one person -> (j, x, y): the one of neck and shoulders not found, where the
    other two put it (the neck is the shoulders' midpoint: OpenPose's training data defines it
    so); j = -1 when none is missing or two are. Someone half out of view at the border often
    shows the neck and one shoulder: without the other, their centre is 10-15 px off."""
    if kp.shape[0] <= L_SHOULDER:
        return -1, 0.0, 0.0
    n, r, sl = kp[NECK, 2] > 0, kp[R_SHOULDER, 2] > 0, kp[L_SHOULDER, 2] > 0
    if r and sl and not n:
        return NECK, 0.5 * (kp[R_SHOULDER, 0] + kp[L_SHOULDER, 0]), 0.5 * (kp[R_SHOULDER, 1] + kp[L_SHOULDER, 1])
    if n and r and not sl:
        return L_SHOULDER, 2.0 * kp[NECK, 0] - kp[R_SHOULDER, 0], 2.0 * kp[NECK, 1] - kp[R_SHOULDER, 1]
    if n and sl and not r:
        return R_SHOULDER, 2.0 * kp[NECK, 0] - kp[L_SHOULDER, 0], 2.0 * kp[NECK, 1] - kp[L_SHOULDER, 1]
    return -1, 0.0, 0.0


@jit
def whole_torso(kp, torso):
    """kp (J, 3) of one person, torso (J,) bool -> every torso keypoint found or ``filled_joint``."""
    f = filled_joint(kp)[0]
    for j in range(kp.shape[0]):
        if torso[j] and not kp[j, 2] > 0 and j != f:
            return False
    return True


@jit
def torso_centre(kp, torso):
    """kp (J, 3) of one person with a ``whole_torso`` (J,) bool -> (x, y) px: the body centre,
    the mean of the torso keypoints, the ``filled_joint`` among them."""
    x = y = 0.0
    n = 0
    for j in range(kp.shape[0]):
        if torso[j] and kp[j, 2] > 0:
            x += kp[j, 0]
            y += kp[j, 1]
            n += 1
    f, fx, fy = filled_joint(kp)
    if f >= 0 and torso[f]:
        x += fx
        y += fy
        n += 1
    return x / max(n, 1), y / max(n, 1)


@jit
def centres_kernel(kp, torso, out, ok):
    """kp (D, J, 3) x, y, score; torso (J,) bool -> out (D, 2) px: mean of the found torso
    keypoints, else of all found ones; ok (D,) bool: any keypoint found. (The tracker matches
    by these; the body centre it reports fills in a missing shoulder: ``body_kernel``.)"""
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
def cost_kernel(rows, track_kp, centre_kp, x, P, det_kp, det_xy, det_ok, params, out):
    """(M, D) cost = 1 - similarity of tracks ``rows`` (M,) to the detections into ``out``;
    ``big`` where refused.

    track_kp (T, J, 3) last matched keypoints, centre_kp (T, 2) their centre; x (T, 4) predicted
    centre and velocity, P (T, 4, 4) its covariance; det_kp (D, J, 3); det_xy (D, 2) centres;
    det_ok (D,); params (7,): kappa, centre_tol, min_size px, min_count, max_cost, max_var px^2,
    big. Each track's pose is shifted by its predicted motion x[:2] - centre_kp. With s the
    sum over the keypoints both have of exp(-d^2 / (2 (kappa size)^2)) (size: sqrt of the
    track's keypoint box area, at least ``min_size``): cost 1 - s / (keypoints the track has),
    so the whole person beats a piece of them; refused when 1 - s / (keypoints in common, at
    least ``min_count``) exceeds ``max_cost``, when they have no keypoint in common, or when
    the centres are further apart than twice sqrt(2 (centre_tol size)^2 + var), var the
    centre's variance (trace) capped at ``max_var``.
    """
    kappa, centre_tol, min_size, min_count = params[0], params[1], params[2], params[3]
    max_cost, max_var, big, agree_px, age_px = params[4], params[5], params[6], params[7], params[8]
    for i in range(rows.shape[0]):
        t = rows[i]
        x0 = y0 = np.inf
        x1 = y1 = -np.inf
        m = 0
        for j in range(track_kp.shape[1]):
            if track_kp[t, j, 2] > 0:
                x0, x1 = min(x0, track_kp[t, j, 0]), max(x1, track_kp[t, j, 0])
                y0, y1 = min(y0, track_kp[t, j, 1]), max(y1, track_kp[t, j, 1])
                m += 1
        size = np.sqrt((x1 - x0) * (y1 - y0)) if x1 > x0 and y1 > y0 else 0.0
        size = max(size, min_size)
        tol2 = 2.0 * (kappa * size) ** 2
        var = min(P[t, 0, 0] + P[t, 1, 1], max_var)
        spread = 2.0 * (centre_tol * size) ** 2 + var
        atol2 = 2.0 * agree_px * agree_px + var
        sx, sy = x[t, 0] - centre_kp[t, 0], x[t, 1] - centre_kp[t, 1]
        for d in range(det_kp.shape[0]):
            cx, cy = x[t, 0] - det_xy[d, 0], x[t, 1] - det_xy[d, 1]
            if not det_ok[d] or cx * cx + cy * cy > 4.0 * spread:   # too far to be the same person
                out[i, d] = big
                continue
            s = a = 0.0
            n = 0
            for j in range(track_kp.shape[1]):
                if track_kp[t, j, 2] > 0 and det_kp[d, j, 2] > 0:
                    dx = track_kp[t, j, 0] + sx - det_kp[d, j, 0]
                    dy = track_kp[t, j, 1] + sy - det_kp[d, j, 1]
                    old = 2.0 * (age_px * (track_kp[t, j, 2] - 1.0)) ** 2
                    s += np.exp(-(dx * dx + dy * dy) / (tol2 + old))
                    a += np.exp(-(dx * dx + dy * dy) / (atol2 + old))
                    n += 1
            c = 1.0 - s / max(m, min_count)
            out[i, d] = big if n == 0 or 1.0 - a / max(n, min_count) > max_cost else c


@jit
def merge_kernel(kp, centres, scores, radius, agree, min_parts, fixed, alive):
    """In place: pieces a, b (a < b in order) with centres closer than ``radius`` px and shared
    keypoints within ``agree`` px merge into the fixed one, else the one with more keypoints
    (missing keypoints filled in, scores added). Two fixed (D,) pieces never merge, nor a piece
    with fewer than ``min_parts`` keypoints; alive (D,) bool marks who is left. kp (D, J, 3);
    centres (D, 2); scores (D,). Returns the number merged."""
    n = kp.shape[0]
    merged = 0
    parts = np.zeros(n, np.int64)
    for d in range(n):
        for j in range(kp.shape[1]):
            parts[d] += kp[d, j, 2] > 0
    for i in range(n):
        for k in range(i + 1, n):
            dx, dy = centres[i, 0] - centres[k, 0], centres[i, 1] - centres[k, 1]
            if dx * dx + dy * dy >= radius * radius or (fixed[i] and fixed[k]) or min(parts[i], parts[k]) < min_parts:
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
def pieces_kernel(kp, scores, torso, radius, agree, min_parts, fixed, alive, centres, ok):
    """``centres_kernel`` then ``merge_kernel`` (in place on kp (D, J, 3), scores (D,), alive
    (D,)), then the centres (D, 2) and ok (D,) of the merged pieces; returns the number merged."""
    centres_kernel(kp, torso, centres, ok)
    merged = merge_kernel(kp, centres, scores, radius, agree, min_parts, fixed, alive)
    if merged:
        centres_kernel(kp, torso, centres, ok)
    return merged


@jit
def rigid_fit(kept, kp, rigid):
    """kept, kp (J, 3): a track's last whole pose and a later detection of it; rigid (J,) bool ->
    (n, ax, ay, bx, by, cos_a, sin_a, rms): the least-squares rotation (Kabsch) that maps the n
    ``rigid`` keypoints both have, about their means ax, ay in ``kept``, onto kp's about bx, by,
    and the RMS distance in px that remains after it (keypoints that do not move as one body)."""
    ax = ay = bx = by = 0.0
    n = 0
    for j in range(kp.shape[0]):
        if rigid[j] and kp[j, 2] > 0 and kept[j, 2] > 0:
            ax += kept[j, 0]
            ay += kept[j, 1]
            bx += kp[j, 0]
            by += kp[j, 1]
            n += 1
    if n == 0:
        return 0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0
    ax, ay, bx, by = ax / n, ay / n, bx / n, by / n
    dot = crs = 0.0
    for j in range(kp.shape[0]):
        if rigid[j] and kp[j, 2] > 0 and kept[j, 2] > 0:
            ux, uy = kept[j, 0] - ax, kept[j, 1] - ay
            vx, vy = kp[j, 0] - bx, kp[j, 1] - by
            dot += ux * vx + uy * vy
            crs += ux * vy - uy * vx
    h = np.hypot(dot, crs)
    cos_a, sin_a = (dot / h, crs / h) if h > 0 else (1.0, 0.0)
    left = 0.0
    for j in range(kp.shape[0]):
        if rigid[j] and kp[j, 2] > 0 and kept[j, 2] > 0:
            ux, uy = kept[j, 0] - ax, kept[j, 1] - ay
            ex = cos_a * ux - sin_a * uy - (kp[j, 0] - bx)
            ey = sin_a * ux + cos_a * uy - (kp[j, 1] - by)
            left += ex * ex + ey * ey
    return n, ax, ay, bx, by, cos_a, sin_a, np.sqrt(left / n)


@jit
def body_kernel(rows, kp, centres, torso, rigid, whole_kp, whole_c, offset):
    """In place, for tracks ``rows`` (M,) matched to detections kp (M, J, 3) with centres (M, 2):
    offset[rows] (T, 2) <- body centre - centres, where the body centre is the ``torso_centre``
    when the detection has a ``whole_torso`` (J,) bool (then whole_kp (T, J, 3) and whole_c
    (T, 2) take the pose and that centre), else the kept whole pose's centre moved as the
    ``rigid`` (J,) bool keypoints (torso and head) both have moved and turned (``rigid_fit``:
    someone walking along the border turns), with fewer than 2 of those by the mean displacement
    of all the keypoints both have (0 in common: the detection's own centre)."""
    for m in range(rows.shape[0]):
        t = rows[m]
        if whole_torso(kp[m], torso):
            cx, cy = torso_centre(kp[m], torso)
            offset[t, 0], offset[t, 1] = cx - centres[m, 0], cy - centres[m, 1]
            for j in range(kp.shape[1]):
                for c in range(3):
                    whole_kp[t, j, c] = kp[m, j, c]
            whole_c[t, 0], whole_c[t, 1] = cx, cy
            continue
        sx = sy = 0.0
        n = 0
        for j in range(kp.shape[1]):
            if kp[m, j, 2] > 0 and whole_kp[t, j, 2] > 0:
                sx += kp[m, j, 0] - whole_kp[t, j, 0]
                sy += kp[m, j, 1] - whole_kp[t, j, 1]
                n += 1
        if n == 0:
            offset[t, 0], offset[t, 1] = 0.0, 0.0
            continue
        r, ax, ay, bx, by, cos_a, sin_a, _ = rigid_fit(whole_kp[t], kp[m], rigid)
        if r >= 2:   # turned as well as moved
            wx, wy = whole_c[t, 0] - ax, whole_c[t, 1] - ay
            offset[t, 0] = bx + cos_a * wx - sin_a * wy - centres[m, 0]
            offset[t, 1] = by + sin_a * wx + cos_a * wy - centres[m, 1]
        else:
            offset[t, 0] = whole_c[t, 0] + sx / n - centres[m, 0]
            offset[t, 1] = whole_c[t, 1] + sy / n - centres[m, 1]
