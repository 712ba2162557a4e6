"""Numba kernels of the ``sparse`` decoder: grid peaks, sub-pixel fit, bilinear PAF samples.

Glossary as in ``toppose.codec.peaks``. Peaks are 4-neighbour maxima on the stride grid,
refined by a log-parabola through their neighbours (the score is the fit's maximum). Two
diagonally adjacent cells of one peak can both be 4-neighbour maxima and refine to nearly
the same point, and the person then splits between them: a maximum that refines to within
half a cell of a stronger neighbouring maximum is that peak (``same_as_stronger``). ``toppose.codec.reference.find_peaks_sparse`` is the NumPy reference.
"""

from __future__ import annotations

import math

from toppose.codec._jit import jit as _jit
from toppose.codec._jit import jit_inline


@jit_inline
def is_grid_peak(m, y, x):
    """Whether cell (y, x) of m (h, w) is >= its 4 neighbours (the textbook's test)."""
    h, w = m.shape
    c = m[y, x]
    return not ((x > 0 and c < m[y, x - 1]) or (x < w - 1 and c < m[y, x + 1])
                or (y > 0 and c < m[y - 1, x]) or (y < h - 1 and c < m[y + 1, x]))


@jit_inline
def same_as_stronger(m, y, x, py, px, score, threshold):
    """Whether a stronger grid peak among the 8 neighbours of (y, x) refines to within
    half a cell of this one's refined position (py, px) (grid units): then both are one
    peak, seen from two cells (diagonal neighbours, or equal 4-neighbours, can both pass
    ``is_grid_peak``). Stronger: a candidate (above threshold / 2) with a higher fitted
    score, or an equal one and first in row-major order."""
    h, w = m.shape
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            yy, xx = y + dy, x + dx
            if (dy == 0 and dx == 0) or yy < 0 or xx < 0 or yy >= h or xx >= w:
                continue
            if m[yy, xx] <= threshold * 0.5 or not is_grid_peak(m, yy, xx):
                continue
            oy, ox, other = refine(m, yy, xx)
            before = dy < 0 or (dy == 0 and dx < 0)
            if other > score or (other == score and before):
                if (yy + oy - py) ** 2 + (xx + ox - px) ** 2 < 0.25:
                    return True
    return False


@jit_inline
def axis_fit(l, c, r):
    """Sub-cell offset in [-0.5, 0.5] and log-value gain of a Gaussian (log-parabola)
    through 3 samples l, c, r; (0, 0) when they are not positive and concave."""
    if l <= 0 or c <= 0 or r <= 0:
        return 0.0, 0.0
    L, Cc, R = math.log(l), math.log(c), math.log(r)
    den = L - 2.0 * Cc + R
    if den >= 0:
        return 0.0, 0.0
    d = min(max(0.5 * (L - R) / den, -0.5), 0.5)
    return d, 0.5 * (R - L) * d + 0.5 * den * d * d


@jit_inline
def refine(m, y, x):
    """Grid peak (y, x) of m (h, w) -> (dy, dx, score): sub-cell offsets and fitted maximum.

    An axis at the grid's edge keeps offset 0 (one side is unknown)."""
    h, w = m.shape
    c = m[y, x]
    dx, gx = axis_fit(m[y, x - 1], c, m[y, x + 1]) if 0 < x < w - 1 else (0.0, 0.0)
    dy, gy = axis_fit(m[y - 1, x], c, m[y + 1, x]) if 0 < y < h - 1 else (0.0, 0.0)
    return dy, dx, c * math.exp(gx + gy)


@_jit
def find_peaks_sparse(heat, num_keypoints, stride, threshold, peaks, counts):
    """Grid maxima refined to sub-pixel input coordinates, row-major order.

    heat (C, h, w); out: peaks (J, M, 3) x, y, score in input pixels; counts (J,), above M
    when M was too small. A cell above threshold / 2 is tried; its fitted score must pass.
    """
    h, w = heat.shape[1], heat.shape[2]
    off = stride / 2.0 - 0.5
    M = peaks.shape[1]
    for j in range(num_keypoints):
        m = heat[j]
        n = 0
        for y in range(h):
            for x in range(w):
                if m[y, x] <= threshold * 0.5 or not is_grid_peak(m, y, x):
                    continue
                dy, dx, score = refine(m, y, x)
                if score <= threshold or same_as_stronger(m, y, x, y + dy, x + dx, score, threshold):
                    continue
                if n < M:
                    peaks[j, n, 0] = (x + dx) * stride + off
                    peaks[j, n, 1] = (y + dy) * stride + off
                    peaks[j, n, 2] = score
                n += 1
        counts[j] = n


@jit_inline
def bilinear(m, gy, gx):
    """Bilinear value of m (h, w) at grid position (gy, gx), clamped to the grid."""
    h, w = m.shape
    gy = min(max(gy, 0.0), h - 1.0)
    gx = min(max(gx, 0.0), w - 1.0)
    y0, x0 = int(gy), int(gx)
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    fy, fx = gy - y0, gx - x0
    top = m[y0, x0] * (1 - fx) + m[y0, x1] * fx
    bottom = m[y1, x0] * (1 - fx) + m[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
