"""OpenCV's bicubic resize (INTER_CUBIC, A = -0.75) in Numba, one fine pixel or one tap at a time.

``fine_value`` reproduces cv2.resize exactly (replicated border); ``clamped_source`` and ``tap``
are the border rules of the ``fine`` decoder's heatmaps (see ``toppose.codec.peaks``).
"""

from __future__ import annotations

import math

import numpy as np

from toppose.codec._jit import jit as _jit
from toppose.codec._jit import jit_inline


@jit_inline
def cubic(t):
    """OpenCV's bicubic weights (A = -0.75), in float32 as cv2.resize computes them."""
    a = np.float32(-0.75)
    one = np.float32(1.0)
    x = np.float32(t)
    w0 = ((a * (x + one) - np.float32(5.0) * a) * (x + one) + np.float32(8.0) * a) * (x + one) - np.float32(4.0) * a
    w1 = ((a + np.float32(2.0)) * x - (a + np.float32(3.0))) * x * x + one
    w2 = ((a + np.float32(2.0)) * (one - x) - (a + np.float32(3.0))) * (one - x) * (one - x) + one
    w3 = one - w0 - w1 - w2
    return w0, w1, w2, w3


@jit_inline
def source(f, inv_stride):
    """Fine index -> (first source index of the 4 taps + 1, fraction), as cv2.resize does."""
    s = np.float32((f + 0.5) * inv_stride - 0.5)
    i = math.floor(s)
    return i, np.float32(s - i)


@jit_inline
def clamped_source(f, inv_stride, n):
    """``source`` with the source position held inside the outermost cell centres [0, n-1]."""
    i, t = source(f, inv_stride)
    if i < 0:
        return 0, np.float32(0.0)
    if i >= n - 1:
        return n - 1, np.float32(0.0)
    return i, t


@_jit
def fine_value(m, fy, fx, inv_stride):
    """Bicubic (OpenCV INTER_CUBIC, replicated border) value of the upsampled (h, w) map at a fine pixel."""
    h, w = m.shape
    iy, ty = source(fy, inv_stride)
    ix, tx = source(fx, inv_stride)
    wy = cubic(ty)
    wx = cubic(tx)
    acc = np.float32(0.0)
    for a in range(4):
        yy = min(max(iy - 1 + a, 0), h - 1)
        row = np.float32(0.0)
        for b in range(4):
            xx = min(max(ix - 1 + b, 0), w - 1)
            row += m[yy, xx] * wx[b]
        acc += row * wy[a]
    return acc


@jit_inline
def tap(i, n):
    """Source index i of an n-cell axis, mirrored at the edge cell (OpenCV's BORDER_REFLECT_101)."""
    if i < 0:
        i = -i
    if i > n - 1:
        i = 2 * (n - 1) - i
    return min(max(i, 0), n - 1)
