"""Numba limb scoring and person assembly of the PAF decoder, written like trt_pose's C++ plugins.

Every kernel writes into arrays the caller allocates (``GroupScratch``) and returns counts;
no Python objects inside ``@njit``. Glossary as in ``toppose.codec.peaks``.

Two sampling modes share the limb scoring: ``FINE`` samples the PAFs bicubically at input
pixels (the textbook), ``SPARSE`` bilinearly on the grid. Two assemblies: ``assemble_tree``
is the CMU/textbook greedy pass, limb by limb, for skeletons whose non-redundant limbs form
a tree; ``assemble_graph`` serves skeletons with extra limbs (topview23): every connection,
strongest first, joins two parts' people unless that would give one person two parts of a
type, so a person whose neck is outside the frame stays whole through hip-hip,
shoulder-hip and shoulder-shoulder limbs. ``toppose.codec.reference`` holds the NumPy
reference of each.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from toppose.codec._jit import jit as _jit
from toppose.codec._jit import jit_inline
from toppose.codec.bicubic import fine_value
from toppose.codec.sparse import bilinear

FINE, SPARSE = 0, 1


class GroupScratch(NamedTuple):
    """Caller-allocated arrays of the grouping kernels for capacities J, K, M."""

    offsets: np.ndarray      # (J,) i64 global id of each keypoint's first peak
    flat: np.ndarray         # (J*M, 3) f64 every peak by global id: x, y, score
    candidates: np.ndarray   # (M*M, 3) f64 index in A, index in B, score of one limb's candidates
    used_a: np.ndarray       # (M,) bool
    used_b: np.ndarray       # (M,) bool
    conns: np.ndarray        # (K, Q=M, 3) f64 out: peak index in A, in B, score
    conn_counts: np.ndarray  # (K,) i64 out
    edges: np.ndarray        # (K*M, 4) f64 graph assembly: global id A, global id B, score, redundant
    owner: np.ndarray        # (J*M,) i64 graph assembly: person row of each peak, -1 = none
    subset: np.ndarray       # (P=J*M+1, J+2) f64 out: global part ids (-1 = none), total score, count
    used: np.ndarray         # (J*M,) bool piece merging: peaks some row holds
    scales: np.ndarray       # (P,) f64 piece merging: pixels per body height of each row
    ratios: np.ndarray       # (P, P) f64 piece merging: how well two rows fit one body


def group_scratch(num_keypoints: int, num_limbs: int, peaks_per_part: int) -> GroupScratch:
    J, K, M = num_keypoints, num_limbs, peaks_per_part
    return GroupScratch(np.zeros(J, np.int64), np.zeros((J * M, 3)), np.zeros((M * M, 3)), np.zeros(M, np.bool_), np.zeros(M, np.bool_),
                        np.zeros((K, M, 3)), np.zeros(K, np.int64), np.zeros((K * M, 4)),
                        np.zeros(J * M, np.int64), np.zeros((J * M + 1, J + 2)),
                        np.zeros(J * M, np.bool_), np.zeros(J * M + 1), np.zeros((J * M + 1, J * M + 1)))


@_jit
def flatten(peaks, counts, offsets, flat):
    """peaks (J, M, 3), counts (J,) -> flat (N, 3) in keypoint order and offsets (J,) of each
    keypoint's first peak there; returns N."""
    n = 0
    for j in range(peaks.shape[0]):
        offsets[j] = n
        for i in range(counts[j]):
            flat[n, 0], flat[n, 1], flat[n, 2] = peaks[j, i, 0], peaks[j, i, 1], peaks[j, i, 2]
            n += 1
    return n


@jit_inline
def limb_score(paf_x, paf_y, ax, ay, bx, by, stride, height, samples, paf_threshold, mode):
    """(mean PAF projection + length prior, samples above ``paf_threshold``) of limb A -> B.

    paf_x, paf_y (h, w); A, B in input pixels; ``height``: input height (the prior halves it).
    """
    dx, dy = bx - ax, by - ay
    norm = math.sqrt(dx * dx + dy * dy)
    ux, uy = dx / norm, dy / norm
    inv, off = 1.0 / stride, stride / 2.0 - 0.5
    total, hits = 0.0, 0
    for s in range(samples):
        x = ax + s * (dx / (samples - 1)) if s < samples - 1 else bx
        y = ay + s * (dy / (samples - 1)) if s < samples - 1 else by
        if mode == FINE:
            ry, rx = int(np.rint(y)), int(np.rint(x))
            vx, vy = fine_value(paf_x, ry, rx, inv), fine_value(paf_y, ry, rx, inv)
        else:
            gy, gx = (y - off) * inv, (x - off) * inv
            vx, vy = bilinear(paf_x, gy, gx), bilinear(paf_y, gy, gx)
        sc = vx * ux + vy * uy
        total += sc
        if sc > paf_threshold:
            hits += 1
    return total / samples + min(0.5 * height / norm - 1.0, 0.0), hits


@_jit
def match(candidates, n, na, nb, used_a, used_b, out):
    """Greedy one-to-one matching of n candidates (index A, index B, score), best first
    (ties keep their order, like Python's sort); out (Q, 3); returns the matches made."""
    order = np.argsort(-candidates[:n, 2], kind="mergesort")
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
        if q < out.shape[0]:
            out[q, 0], out[q, 1], out[q, 2] = i, j, candidates[c, 2]
        q += 1
        if q >= limit:
            break
    return q


@_jit
def score_limbs(paf, peaks, counts, limbs, stride, height, samples, paf_threshold,
                min_fraction, mode, s):
    """Score every candidate limb on the PAFs and keep a greedy one-to-one matching per limb.

    paf (2K, h, w); peaks (J, M, 3); counts (J,); limbs (K, 4): a, b, paf x, paf y;
    s: ``GroupScratch`` (fills conns, conn_counts).
    """
    for k in range(limbs.shape[0]):
        a, b, px, py = limbs[k, 0], limbs[k, 1], limbs[k, 2], limbs[k, 3]
        n = 0
        for i in range(counts[a]):
            for j in range(counts[b]):
                ax, ay, bx, by = peaks[a, i, 0], peaks[a, i, 1], peaks[b, j, 0], peaks[b, j, 1]
                if ax == bx and ay == by:
                    continue
                score, hits = limb_score(paf[px], paf[py], ax, ay, bx, by, stride, height, samples,
                                         paf_threshold, mode)
                if hits > min_fraction * samples and score > 0:
                    s.candidates[n, 0], s.candidates[n, 1], s.candidates[n, 2] = i, j, score
                    n += 1
        s.conn_counts[k] = match(s.candidates, n, counts[a], counts[b], s.used_a, s.used_b, s.conns[k])


@_jit
def keep_people(subset, rows, min_parts, min_mean_score):
    """Move the people with enough parts and mean score to the front; returns their count.

    subset (P, J+2); a row with count <= 0 is empty."""
    J = subset.shape[1] - 2
    kept = 0
    for s in range(rows):
        n = subset[s, J + 1]
        if n > 0 and n >= min_parts and subset[s, J] / n >= min_mean_score:
            if kept != s:
                subset[kept, :] = subset[s, :]
            kept += 1
    return kept
