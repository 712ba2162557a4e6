"""Numba heatmap peaks of the ``fine`` decoder: the textbook's peaks at input resolution.

Dimension glossary (shared by ``sparse`` and ``grouping``):

    C  channels of a map stack        J  keypoints (heatmap channels without background)
    K  limbs (PAF channels = 2K)      M  peak capacity per keypoint
    Q  connection capacity per limb   P  people capacity
    h, w  stride grid                 H, W  network input (H = h * stride)

``find_peaks_fine`` finds maxima of the heatmaps upsampled bicubically (as OpenCV does)
to input resolution, evaluated only where a peak can exist. Changes from the textbook,
on purpose, at the border: OpenCV replicates the edge cell, which flattens the map's
slope there, so a keypoint within a cell of the edge leaves a dip just inside it, and
overshoots in the half cell beyond the outermost cell centre, so the outermost pixel
row becomes a false peak. Here the tap beyond the edge mirrors the cell inside it
(BORDER_REFLECT_101: the slope at the edge cell follows the map), and the half cell
beyond the outermost centre holds the edge value (no extrapolation). And
maxima are taken over 8 neighbours with ties to the first pixel in row-major order (4
neighbours let two diagonal pixels of one ridge both win and split the person), and only
inside the border band (``band``), whose innermost pixel stands for the plateau beyond it.
Every kernel writes into caller-allocated arrays (see ``FineScratch``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from toppose.codec._jit import jit as _jit
from toppose.codec._jit import jit_inline
from toppose.codec.bicubic import clamped_source, cubic, tap

__all__ = ["FineScratch", "band", "find_peaks_fine", "fine_scratch"]


# Bicubic (A = -0.75) weights of one axis: two positive taps summing to at most 1.1875 and two
# negative ones to at most 0.1875, so in 2-D the positive products sum to at most 1.4453 and
# the negative ones to 0.4453. Slightly larger constants absorb float32 rounding.
_POS_GAIN, _NEG_GAIN = 1.446, 0.446


def band(stride: int) -> int:
    """Width of the border band: fine pixels before it lie on the plateau beyond the
    outermost cell centre, and the band's innermost pixel stands for them."""
    return (stride - 1) // 2


class FineScratch(NamedTuple):
    """Caller-allocated arrays of ``find_peaks_fine`` for one (h, w) grid and stride."""

    amax: np.ndarray      # (h+1, w+1) f32 bound of the upsampled value per support cell
    hrows: np.ndarray     # (h, W) f32 horizontally resized rows, valid where hstamp == tick
    hstamp: np.ndarray    # (h, W) i64
    fine: np.ndarray      # (H, W) f32 upsampled values, valid where stamp == tick
    stamp: np.ndarray     # (H, W) i64; unstamped pixels are below the threshold
    visit: np.ndarray     # (H*W,) i64 flat index of evaluated pixels above the threshold
    ysrc: np.ndarray      # (H,) i64 source row of each fine row (its support cell - 1)
    ytap: np.ndarray      # (H, 4) i64 the 4 source rows it reads (mirrored at the edges)
    yw: np.ndarray        # (H, 4) f32 their weights
    xsrc: np.ndarray      # (W,) i64
    xtap: np.ndarray      # (W, 4) i64
    xw: np.ndarray        # (W, 4) f32
    cols: np.ndarray      # (w+1, 2) i64 fine column range [start, end) of each support column
    row_any: np.ndarray   # (h+1,) bool: the support row has an active cell
    ticks: np.ndarray     # (1,) i64 the last tick used


def fine_scratch(h: int, w: int, stride: int) -> FineScratch:
    """Scratch of ``find_peaks_fine`` on an (h, w) grid, allocated once by the caller."""
    H, W = h * stride, w * stride
    s = FineScratch(np.zeros((h + 1, w + 1), np.float32), np.zeros((h, W), np.float32),
                    np.zeros((h, W), np.int64), np.zeros((H, W), np.float32), np.zeros((H, W), np.int64),
                    np.zeros(H * W, np.int64), np.zeros(H, np.int64), np.zeros((H, 4), np.int64),
                    np.zeros((H, 4), np.float32), np.zeros(W, np.int64), np.zeros((W, 4), np.int64),
                    np.zeros((W, 4), np.float32), np.zeros((w + 1, 2), np.int64),
                    np.zeros(h + 1, np.bool_), np.zeros(1, np.int64))
    _taps(H, 1.0 / stride, h, s.ysrc, s.ytap, s.yw)
    _taps(W, 1.0 / stride, w, s.xsrc, s.xtap, s.xw)
    _column_ranges(s.xsrc, s.cols)
    return s


@_jit
def _taps(n_fine, inv_stride, n, src, taps, weights):
    """Per fine index of an n-cell axis: source index (src (n_fine,)), the 4 cells it reads
    (taps (n_fine, 4), mirrored at the edges) and their weights ((n_fine, 4))."""
    for f in range(n_fine):
        i, t = clamped_source(f, inv_stride, n)
        src[f] = i
        for b in range(4):
            taps[f, b] = tap(i - 1 + b, n)
        weights[f, 0], weights[f, 1], weights[f, 2], weights[f, 3] = cubic(t)


@_jit
def _column_ranges(xsrc, cols):
    """cols (w+1, 2): fine columns [start, end) whose taps start at support column c - 1."""
    cols[:, 0] = xsrc.shape[0]
    cols[:, 1] = 0
    for fx in range(xsrc.shape[0]):
        c = xsrc[fx] + 1
        cols[c, 0] = min(cols[c, 0], fx)
        cols[c, 1] = max(cols[c, 1], fx + 1)


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
def _active_rows(amax, bound, row_any):
    """row_any (h+1,): whether any support cell of the row can reach ``bound``."""
    for r in range(amax.shape[0]):
        row_any[r] = False
        for c in range(amax.shape[1]):
            if amax[r, c] >= bound:
                row_any[r] = True
                break


@_jit
def _horizontal_pass(m, bound, s, tick):
    """Resize (into s.hrows) the source rows and fine columns that an active support cell reads."""
    h, w = m.shape
    for r in range(h + 1):
        if not s.row_any[r]:
            continue
        for c in range(w + 1):
            if s.amax[r, c] < bound:
                continue
            for a in range(4):
                y = min(max(r - 2 + a, 0), h - 1)
                for fx in range(s.cols[c, 0], s.cols[c, 1]):
                    if s.hstamp[y, fx] != tick:
                        acc = np.float32(0.0)
                        for b in range(4):
                            acc += m[y, s.xtap[fx, b]] * s.xw[fx, b]
                        s.hrows[y, fx] = acc
                        s.hstamp[y, fx] = tick


@_jit
def _vertical_pass(bound, threshold, s, tick):
    """Resize columns where the upsampled map can pass ``bound``; returns how many pixels
    exceed ``threshold`` (their flat indices in s.visit, row-major)."""
    nv = 0
    W = s.fine.shape[1]
    for fy in range(s.fine.shape[0]):
        iy = s.ysrc[fy]
        if not s.row_any[iy + 1]:
            continue
        y0, y1, y2, y3 = s.ytap[fy, 0], s.ytap[fy, 1], s.ytap[fy, 2], s.ytap[fy, 3]
        w0, w1, w2, w3 = s.yw[fy, 0], s.yw[fy, 1], s.yw[fy, 2], s.yw[fy, 3]
        for c in range(s.amax.shape[1]):
            if s.amax[iy + 1, c] < bound:
                continue
            for fx in range(s.cols[c, 0], s.cols[c, 1]):
                acc = np.float32(0.0)
                acc += s.hrows[y0, fx] * w0
                acc += s.hrows[y1, fx] * w1
                acc += s.hrows[y2, fx] * w2
                acc += s.hrows[y3, fx] * w3
                s.fine[fy, fx] = acc
                s.stamp[fy, fx] = tick
                if acc > threshold:
                    s.visit[nv] = fy * W + fx
                    nv += 1
    return nv


@jit_inline
def _beaten(fine, stamp, tick, fy, fx, y0, y1, x0, x1):
    """Whether a stamped 8-neighbour inside [y0, y1] x [x0, x1] beats pixel (fy, fx): it is
    higher, or equal and before it in row-major order."""
    v = fine[fy, fx]
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            y, x = fy + dy, fx + dx
            if (dy == 0 and dx == 0) or y < y0 or x < x0 or y > y1 or x > x1 or stamp[y, x] != tick:
                continue
            if v < fine[y, x] or (v == fine[y, x] and (dy < 0 or (dy == 0 and dx < 0))):
                return True
    return False


@_jit
def _suppress(fine, stamp, visit, nv, tick, threshold, edge, out):
    """8-neighbour maxima among the visited pixels, row-major; returns their count.

    Only pixels within [edge, H-1-edge] x [edge, W-1-edge] take part: the border band
    beyond is a copy of its innermost pixel. A maximum is > its neighbours before it in
    row-major order and >= those after it, so exact ties give one peak and two diagonal
    pixels of one ridge cannot both win. Unstamped neighbours are below the threshold.
    out (M, 3) receives x, y, score of the first M maxima.
    """
    H, W = fine.shape
    y0, y1, x0, x1 = edge, H - 1 - edge, edge, W - 1 - edge
    n = 0
    for t in range(nv):
        fy, fx = visit[t] // W, visit[t] % W
        v = fine[fy, fx]
        if v <= threshold or fy < y0 or fy > y1 or fx < x0 or fx > x1:
            continue
        # the textbook's 4-neighbour test first: it settles nearly every pixel, cheaply
        if fx > x0 and stamp[fy, fx - 1] == tick and v < fine[fy, fx - 1]:
            continue
        if fx < x1 and stamp[fy, fx + 1] == tick and v < fine[fy, fx + 1]:
            continue
        if fy > y0 and stamp[fy - 1, fx] == tick and v < fine[fy - 1, fx]:
            continue
        if fy < y1 and stamp[fy + 1, fx] == tick and v < fine[fy + 1, fx]:
            continue
        if _beaten(fine, stamp, tick, fy, fx, y0, y1, x0, x1):
            continue
        if n < out.shape[0]:
            out[n, 0] = fx
            out[n, 1] = fy
            out[n, 2] = v
        n += 1
    return n


@_jit
def find_peaks_fine(heat, num_keypoints, threshold, edge, s, peaks, counts):
    """Maxima > threshold of the bicubic-upsampled heatmaps (see ``_suppress``), row-major.

    heat (C, h, w) f32; edge: ``band(stride)``; s: ``FineScratch`` for this grid. Out:
    peaks (J, M, 3) x, y, score in input pixels; counts (J,), above M when M was too small.
    Evaluates OpenCV's separable bicubic (horizontal pass, then vertical, in float32) only
    where the 4x4 taps can reach the threshold; unstamped pixels never beat a peak.
    """
    bound = np.float32(threshold)
    tick = s.ticks[0]
    for j in range(num_keypoints):
        tick += 1
        _support_max(heat[j], s.amax)
        _active_rows(s.amax, bound, s.row_any)
        _horizontal_pass(heat[j], bound, s, tick)
        nv = _vertical_pass(bound, threshold, s, tick)
        counts[j] = _suppress(s.fine, s.stamp, s.visit, nv, tick, threshold, edge, peaks[j])
    s.ticks[0] = tick
