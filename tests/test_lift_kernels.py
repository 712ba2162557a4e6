"""The lifting kernels against their NumPy references, on tiny exact cases and random frames."""

import numpy as np

from toppose.lift_kernels import FEATURES, GLOBAL, assemble, features_reference, window_stats, \
    window_stats_reference


def test_window_statistics_ignore_holes_and_the_outside():
    depth = np.zeros((6, 6), np.float32)
    depth[0:3, 0:3] = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # 9 readings, the rest holes
    out = window_stats(depth, np.array([[0.0, 0.0], [5.2, 4.8]], np.float32))
    # (0, 0): the 5x5 window holds 1,2,3,4,5,6,7,8,9 inside the frame -> median 5;
    # the 9x9 window the same 9 readings: p10 index round(0.8) = 1 -> 2, p90 round(7.2) = 7 -> 8
    np.testing.assert_allclose(out[0], [5, 2, 8, 9 / 81])
    assert np.isnan(out[1, 0]) and not np.isnan(out[1, 1])  # only the 9x9 window reaches the readings


def test_window_statistics_match_the_reference():
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 3, (40, 50)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.3] = 0
    uv = rng.uniform(-6, 56, (200, 2)).astype(np.float32)
    np.testing.assert_array_equal(window_stats(depth, uv), window_stats_reference(depth, uv))


def test_features_match_the_reference():
    rng = np.random.default_rng(2)
    P, L = 5, 14
    kp = np.concatenate([rng.uniform(0, 300, (P, L, 2)), rng.random((P, L, 1)) > 0.2], -1).astype(np.float32)
    stats = rng.uniform(1.5, 3, (P, L, 4)).astype(np.float32)
    stats[rng.random((P, L)) < 0.15, 0] = np.nan
    stats[rng.random((P, L)) < 0.1, 1:] = np.nan
    kp[4, :, 2] = 0  # nobody there
    intr = np.array([160.0, 120.0, 285.7, 285.7])
    out = (np.empty((P, L * FEATURES + GLOBAL), np.float32), np.empty((P, L), np.float32),
           np.empty((P, L, 2), np.float32), np.empty((P, L), np.bool_))
    assemble(kp, stats, intr, 3, *out, np.empty(L, np.float32))
    ref = features_reference(kp, stats, intr, 3)
    for got, want in zip(out, ref):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert not out[3][4].any()
