"""Numba kernels of the PAF decoder, written like trt_pose's C++ plugins.

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
import os
from pathlib import Path

import numba
import numpy as np
from numba import njit

FINE, SPARSE = 0, 1


def _ensure_writable_cache() -> None:
    """Cache compiled kernels beside the sources, or in a user cache for read-only installs."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.access(Path(__file__).parent, os.W_OK):
        return
    for base in (os.environ.get("XDG_CACHE_HOME"), str(Path.home() / ".cache"), "/tmp"):
        if base and (os.access(base, os.W_OK) or not os.path.exists(base)):
            path = Path(base) / "toppose" / "numba"
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue
            numba.config.CACHE_DIR = str(path)
            return


_ensure_writable_cache()
_jit = njit(cache=True, nogil=True)


@_jit
def _cubic(t):
    """OpenCV's bicubic weights (A = -0.75), in float32 as cv2.resize computes them."""
    a = np.float32(-0.75)
    one = np.float32(1.0)
    x = np.float32(t)
    w0 = ((a * (x + one) - np.float32(5.0) * a) * (x + one) + np.float32(8.0) * a) * (x + one) - np.float32(4.0) * a
    w1 = ((a + np.float32(2.0)) * x - (a + np.float32(3.0))) * x * x + one
    w2 = ((a + np.float32(2.0)) * (one - x) - (a + np.float32(3.0))) * (one - x) * (one - x) + one
    w3 = one - w0 - w1 - w2
    return w0, w1, w2, w3


@_jit
def _source(f, inv_stride):
    """Fine index -> (first source index of the 4 taps + 1, fraction), as cv2.resize does."""
    s = np.float32((f + 0.5) * inv_stride - 0.5)
    i = math.floor(s)
    return i, np.float32(s - i)


@_jit
def fine_value(m, fy, fx, inv_stride):
    """Bicubic (OpenCV INTER_CUBIC, replicated border) value of the upsampled (h, w) map at a fine pixel."""
    h, w = m.shape
    iy, ty = _source(fy, inv_stride)
    ix, tx = _source(fx, inv_stride)
    wy = _cubic(ty)
    wx = _cubic(tx)
    acc = np.float32(0.0)
    for a in range(4):
        yy = min(max(iy - 1 + a, 0), h - 1)
        row = np.float32(0.0)
        for b in range(4):
            xx = min(max(ix - 1 + b, 0), w - 1)
            row += m[yy, xx] * wx[b]
        acc += row * wy[a]
    return acc


# Bicubic (A = -0.75) weights of one axis: two positive taps summing to at most 1.1875 and two
# negative ones to at most 0.1875, so in 2-D the positive products sum to at most 1.4453 and
# the negative ones to 0.4453. Slightly larger constants absorb float32 rounding.
_POS_GAIN, _NEG_GAIN = 1.446, 0.446


@_jit
def _support_max(m, amax):
    """amax (h+1, w+1): an upper bound of the upsampled value over support cell (iy, ix), index +1."""
    h, w = m.shape
    for iy in range(-1, h):
        for ix in range(-1, w):
            hi = np.float32(0.0)
            lo = np.float32(0.0)
            for a in range(4):
                yy = min(max(iy - 1 + a, 0), h - 1)
                for b in range(4):
                    xx = min(max(ix - 1 + b, 0), w - 1)
                    hi = max(hi, m[yy, xx])
                    lo = min(lo, m[yy, xx])
            amax[iy + 1, ix + 1] = _POS_GAIN * hi - _NEG_GAIN * lo


@_jit
def _taps(n_fine, inv_stride, src, weights):
    """Per fine index: first tap's source index (src, (n,)) and its 4 weights ((n, 4))."""
    for f in range(n_fine):
        i, t = _source(f, inv_stride)
        src[f] = i
        weights[f, 0], weights[f, 1], weights[f, 2], weights[f, 3] = _cubic(t)


def fine_scratch(h: int, w: int, stride: int) -> tuple:
    """Scratch arrays for ``find_peaks_fine`` on an (h, w) grid, allocated once by the caller."""
    H, W = h * stride, w * stride
    return (np.zeros((h + 1, w + 1), np.float32), np.zeros((h, W), np.float32), np.zeros((h, W), np.int64),
            np.zeros((H, W), np.float32), np.zeros((H, W), np.int64), np.zeros(H * W, np.int64),
            np.zeros(H, np.int64), np.zeros((H, 4), np.float32), np.zeros(W, np.int64),
            np.zeros((W, 4), np.float32), np.zeros((w + 1, 2), np.int64), np.zeros(h + 1, np.bool_),
            np.zeros(1, np.int64))


@_jit
def find_peaks_fine(heat, num_keypoints, stride, threshold, amax, hrows, hstamp, fine, stamp, visit,
                    ysrc, yw, xsrc, xw, cols, row_any, ticks, peaks, counts):
    """4-neighbour maxima > threshold of the bicubic-upsampled heatmaps, row-major order.

    Evaluates OpenCV's separable bicubic (horizontal pass, then vertical, in float32) only
    where the 4x4 taps can reach the threshold. heat (C, h, w) float32. Scratch (see
    ``fine_scratch``): amax (h+1, w+1) value bound per support cell, hrows (h, W) horizontally
    resized rows computed on demand (valid where hstamp (h, W) is the tick), fine (H, W)
    and stamp (H, W) (a value is valid when its stamp is this call's tick; unstamped pixels
    are known to be below the threshold, so they never beat a peak), visit (H*W,) evaluated
    pixels above the threshold, ysrc (H,), yw (H, 4), xsrc (W,), xw (W, 4), cols (w+1, 2) fine columns of each
    support column, row_any (h+1,), ticks (1,) the last tick used. Out: peaks (J, M, 3)
    x, y, score; counts (J,), above M when the capacity was too small.
    """
    C, h, w = heat.shape
    H, W = h * stride, w * stride
    inv = 1.0 / stride
    bound = np.float32(threshold)  # where amax is below the threshold no upsampled pixel passes it
    M = peaks.shape[1]
    _taps(H, inv, ysrc, yw)
    _taps(W, inv, xsrc, xw)
    cols[:, 0] = W
    cols[:, 1] = 0
    for fx in range(W):
        c = xsrc[fx] + 1
        cols[c, 0] = min(cols[c, 0], fx)
        cols[c, 1] = max(cols[c, 1], fx + 1)
    tick = ticks[0]
    for j in range(num_keypoints):
        m = heat[j]
        _support_max(m, amax)
        for r in range(h + 1):
            row_any[r] = False
            for c in range(w + 1):
                if amax[r, c] >= bound:
                    row_any[r] = True
                    break
        tick += 1
        nv = 0
        for r in range(h + 1):  # horizontal pass: rows and columns an active support cell reads
            if not row_any[r]:
                continue
            for c in range(w + 1):
                if amax[r, c] < bound:
                    continue
                for a in range(4):
                    y = min(max(r - 2 + a, 0), h - 1)
                    for fx in range(cols[c, 0], cols[c, 1]):
                        if hstamp[y, fx] != tick:
                            hacc = np.float32(0.0)
                            for b in range(4):
                                hacc += m[y, min(max(xsrc[fx] - 1 + b, 0), w - 1)] * xw[fx, b]
                            hrows[y, fx] = hacc
                            hstamp[y, fx] = tick
        for fy in range(H):  # vertical pass where the upsampled map can pass
            iy = ysrc[fy]
            if not row_any[iy + 1]:
                continue
            y0, y1 = min(max(iy - 1, 0), h - 1), min(max(iy, 0), h - 1)
            y2, y3 = min(max(iy + 1, 0), h - 1), min(max(iy + 2, 0), h - 1)
            w0, w1, w2, w3 = yw[fy, 0], yw[fy, 1], yw[fy, 2], yw[fy, 3]
            for c in range(w + 1):
                if amax[iy + 1, c] < bound:
                    continue
                for fx in range(cols[c, 0], cols[c, 1]):
                    acc = np.float32(0.0)
                    acc += hrows[y0, fx] * w0
                    acc += hrows[y1, fx] * w1
                    acc += hrows[y2, fx] * w2
                    acc += hrows[y3, fx] * w3
                    fine[fy, fx] = acc
                    stamp[fy, fx] = tick
                    if acc > threshold:  # only these can be peaks; the rest serve as neighbours
                        visit[nv] = fy * W + fx
                        nv += 1
        n = 0
        for t in range(nv):  # non-maximum suppression on the evaluated pixels, row-major
            fy, fx = visit[t] // W, visit[t] % W
            v = fine[fy, fx]
            if v <= threshold:
                continue
            if fx > 0 and stamp[fy, fx - 1] == tick and v < fine[fy, fx - 1]:
                continue
            if fx < W - 1 and stamp[fy, fx + 1] == tick and v < fine[fy, fx + 1]:
                continue
            if fy > 0 and stamp[fy - 1, fx] == tick and v < fine[fy - 1, fx]:
                continue
            if fy < H - 1 and stamp[fy + 1, fx] == tick and v < fine[fy + 1, fx]:
                continue
            if n < M:
                peaks[j, n, 0] = fx
                peaks[j, n, 1] = fy
                peaks[j, n, 2] = v
            n += 1
        counts[j] = n
    ticks[0] = tick


@_jit
def _axis_fit(l, c, r):
    """Sub-cell offset and log-value gain of a Gaussian (log-parabola) through 3 samples."""
    if l <= 0 or c <= 0 or r <= 0:
        return 0.0, 0.0
    L, Cc, R = math.log(l), math.log(c), math.log(r)
    den = L - 2.0 * Cc + R
    if den >= 0:
        return 0.0, 0.0
    d = min(max(0.5 * (L - R) / den, -0.5), 0.5)
    return d, 0.5 * (R - L) * d + 0.5 * den * d * d


@_jit
def find_peaks_sparse(heat, num_keypoints, stride, threshold, peaks, counts):
    """Grid 4-neighbour maxima refined to sub-pixel input coordinates; score from the fit.

    heat (C, h, w); peaks (J, M, 3) out: x, y, score in input pixels; counts (J,) out.
    """
    C, h, w = heat.shape
    off = stride / 2.0 - 0.5
    M = peaks.shape[1]
    for j in range(num_keypoints):
        m = heat[j]
        n = 0
        for y in range(h):
            for x in range(w):
                c = m[y, x]
                if c <= threshold * 0.5:
                    continue
                left = m[y, x - 1] if x > 0 else 0.0
                right = m[y, x + 1] if x < w - 1 else 0.0
                up = m[y - 1, x] if y > 0 else 0.0
                down = m[y + 1, x] if y < h - 1 else 0.0
                if c < left or c < right or c < up or c < down:
                    continue
                dx, gx = _axis_fit(left, c, right) if 0 < x < w - 1 else (0.0, 0.0)
                dy, gy = _axis_fit(up, c, down) if 0 < y < h - 1 else (0.0, 0.0)
                score = c * math.exp(gx + gy)
                if score <= threshold:
                    continue
                if n < M:
                    peaks[j, n, 0] = (x + dx) * stride + off
                    peaks[j, n, 1] = (y + dy) * stride + off
                    peaks[j, n, 2] = score
                n += 1
        counts[j] = n


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
