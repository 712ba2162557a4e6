"""OpenCV's bicubic in Numba: exact against cv2.resize, and the decoder's border rules."""

import numpy as np
import pytest

from toppose.codec import bicubic
from toppose.codec.reference import upsample


def test_fine_value_matches_opencv(rng):
    m = rng.normal(size=(6, 7)).astype(np.float32)
    up = upsample(m[None], 8)[:, :, 0]
    for fy, fx in [(0, 0), (3, 4), (20, 30), (47, 55), (13, 0)]:
        assert bicubic.fine_value(m, fy, fx, 1 / 8) == pytest.approx(up[fy, fx], abs=1e-6)


def test_taps_mirror_at_the_edge_and_sources_hold_inside_the_centres():
    assert [bicubic.tap(i, 4) for i in (-2, -1, 0, 3, 4, 5)] == [2, 1, 0, 3, 2, 1]
    assert bicubic.tap(-1, 1) == 0 and bicubic.tap(1, 1) == 0   # a single cell: always itself
    assert bicubic.source(0, 1 / 8) == (-1, np.float32(0.5625))  # OpenCV: 4.5 px before cell 0's centre
    assert bicubic.clamped_source(0, 1 / 8, 6) == (0, 0.0) and bicubic.clamped_source(47, 1 / 8, 6) == (5, 0.0)
    assert bicubic.clamped_source(4, 1 / 8, 6) == (0, np.float32(0.0625))
    assert sum(bicubic.cubic(np.float32(0.3))) == pytest.approx(1.0) and bicubic.cubic(0.0)[1] == 1.0
