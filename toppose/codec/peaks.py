"""Numba heatmap peak finders (see ``toppose.codec.grouping`` for the glossary).

``find_peaks_fine`` reproduces the textbook: 4-neighbour maxima of the heatmaps upsampled
bicubically (as OpenCV does) to input resolution, evaluated only where a peak can exist.
``find_peaks_sparse`` finds maxima on the stride grid and refines them to sub-pixel positions.
"""

from __future__ import annotations

import math

import numpy as np

from toppose.codec._jit import jit as _jit


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


