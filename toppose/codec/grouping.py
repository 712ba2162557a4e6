"""Numba limb scoring and person assembly of the PAF decoder, written like trt_pose's C++ plugins.

Every kernel writes into arrays the caller allocates with fixed capacities and returns
counts; no Python objects inside ``@njit``. Dimension glossary:

    C  channels of a map stack        J  keypoints (heatmap channels without background)
    K  limbs (PAF channels = 2K)      M  peak capacity per keypoint
    Q  connection capacity per limb   P  people capacity
    h, w  stride grid                 H, W  network input (H = h * stride)

Two modes share the limb scoring and the assembly: ``FINE`` reproduces the textbook at
input resolution (OpenCV's bicubic upsampling evaluated only where a peak can exist, and
at the PAF sample pixels), ``SPARSE`` finds peaks on the grid, refines them to sub-pixel
positions and samples PAFs bilinearly on the grid.
"""

from __future__ import annotations

import math

import numpy as np

from toppose.codec._jit import jit as _jit
from toppose.codec.peaks import fine_value

FINE, SPARSE = 0, 1


@_jit
def _bilinear(m, gy, gx):
    h, w = m.shape
    gy = min(max(gy, 0.0), h - 1.0)
    gx = min(max(gx, 0.0), w - 1.0)
    y0, x0 = int(gy), int(gx)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    fy, fx = gy - y0, gx - x0
    top = m[y0, x0] * (1 - fx) + m[y0, x1] * fx
    bottom = m[y1, x0] * (1 - fx) + m[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@_jit
def score_limbs(paf, peaks, counts, limbs, stride, height, samples, paf_threshold,
                min_fraction, mode, candidates, used_a, used_b, conns, conn_counts):
    """Score every candidate limb on the PAFs and keep a greedy one-to-one matching.

    paf (2K, h, w); peaks (J, M, 3); counts (J,); limbs (K, 4): a, b, paf x, paf y;
    candidates (M*M, 3) scratch;
    used_a, used_b (M,) scratch; conns (K, Q, 3) out: peak index in A, in B, score;
    conn_counts (K,) out.
    """
    K = limbs.shape[0]
    inv = 1.0 / stride
    off = stride / 2.0 - 0.5
    for k in range(K):
        a, b, px, py = limbs[k, 0], limbs[k, 1], limbs[k, 2], limbs[k, 3]
        na, nb = counts[a], counts[b]
        n = 0
        for i in range(na):
            ax, ay = peaks[a, i, 0], peaks[a, i, 1]
            for j in range(nb):
                dx, dy = peaks[b, j, 0] - ax, peaks[b, j, 1] - ay
                norm = math.sqrt(dx * dx + dy * dy)
                if norm == 0:
                    continue
                ux, uy = dx / norm, dy / norm
                total, hits = 0.0, 0
                stepx, stepy = dx / (samples - 1), dy / (samples - 1)
                for s in range(samples):
                    x = ax + s * stepx if s < samples - 1 else peaks[b, j, 0]
                    y = ay + s * stepy if s < samples - 1 else peaks[b, j, 1]
                    if mode == FINE:
                        ry, rx = int(np.rint(y)), int(np.rint(x))
                        vx = fine_value(paf[px], ry, rx, inv)
                        vy = fine_value(paf[py], ry, rx, inv)
                    else:
                        gy, gx = (y - off) * inv, (x - off) * inv
                        vx = _bilinear(paf[px], gy, gx)
                        vy = _bilinear(paf[py], gy, gx)
                    sc = vx * ux + vy * uy
                    total += sc
                    if sc > paf_threshold:
                        hits += 1
                with_prior = total / samples + min(0.5 * height / norm - 1.0, 0.0)
                if hits > min_fraction * samples and with_prior > 0:
                    candidates[n, 0] = i
                    candidates[n, 1] = j
                    candidates[n, 2] = with_prior
                    n += 1
        order = np.argsort(-candidates[:n, 2], kind="mergesort")  # stable, like Python's sort
        used_a[:na] = False
        used_b[:nb] = False
        q, limit = 0, min(na, nb)
        for t in range(n):
            c = order[t]
            i, j = int(candidates[c, 0]), int(candidates[c, 1])
            if used_a[i] or used_b[j]:
                continue
            used_a[i] = True
            used_b[j] = True
            if q < conns.shape[1]:
                conns[k, q, 0] = i
                conns[k, q, 1] = j
                conns[k, q, 2] = candidates[c, 2]
            q += 1
            if q >= limit:
                break
        conn_counts[k] = q


@_jit
def assemble(conns, conn_counts, limbs, redundant, offsets, peak_scores, min_parts,
             min_mean_score, subset):
    """Greedy person assembly (CMU/textbook), then filtering; returns the people count.

    conns (K, Q, 3); offsets (J,) global id of each keypoint's first peak; peak_scores (N,);
    subset (P, J+2) out: global part ids (-1 = none), total score, part count.
    Returns -1 when P is too small.
    """
    K = limbs.shape[0]
    J = subset.shape[1] - 2
    P = subset.shape[0]
    rows = 0
    for k in range(K):
        a, b = limbs[k, 0], limbs[k, 1]
        for q in range(conn_counts[k]):
            pa = offsets[a] + int(conns[k, q, 0])
            pb = offsets[b] + int(conns[k, q, 1])
            score = conns[k, q, 2]
            found, s1, s2 = 0, -1, -1
            for s in range(rows):
                if subset[s, a] == pa or subset[s, b] == pb:
                    if found == 0:
                        s1 = s
                    elif found == 1:
                        s2 = s
                    found += 1
            if found == 1:
                if subset[s1, b] != pb:
                    subset[s1, b] = pb
                    subset[s1, J + 1] += 1
                    subset[s1, J] += peak_scores[pb] + score
            elif found == 2:
                overlap = False
                for j in range(J):
                    if subset[s1, j] >= 0 and subset[s2, j] >= 0:
                        overlap = True
                        break
                if not overlap:
                    for j in range(J):
                        subset[s1, j] += subset[s2, j] + 1
                    subset[s1, J] += subset[s2, J] + score
                    subset[s1, J + 1] += subset[s2, J + 1]
                    for s in range(s2, rows - 1):
                        subset[s, :] = subset[s + 1, :]
                    rows -= 1
                else:
                    subset[s1, b] = pb
                    subset[s1, J + 1] += 1
                    subset[s1, J] += peak_scores[pb] + score
            elif found == 0 and not redundant[k]:
                if rows >= P:
                    return -1
                subset[rows, :] = -1.0
                subset[rows, a] = pa
                subset[rows, b] = pb
                subset[rows, J + 1] = 2
                subset[rows, J] = peak_scores[pa] + peak_scores[pb] + score
                rows += 1
    kept = 0
    for s in range(rows):
        if subset[s, J + 1] >= min_parts and subset[s, J] / subset[s, J + 1] >= min_mean_score:
            if kept != s:
                subset[kept, :] = subset[s, :]
            kept += 1
    return kept
