"""Sparse decoder kernels: exact tiny maps and the NumPy reference."""

import math

import numpy as np
import pytest

from toppose.codec import sparse
from toppose.codec.decoder import PoseDecoder
from toppose.codec.reference import decode_sparse_reference, find_peaks_sparse
from toppose.codec.reference_parts import sample_bilinear
from toppose.codec.encoder import encode
from toppose.skeleton import OPENPOSE18
from toppose.synth.flat import random_people


def _peaks(heat, stride=8, threshold=0.1):
    J = heat.shape[0]
    out, counts = np.zeros((J, 64, 3)), np.zeros(J, np.int64)
    sparse.find_peaks_sparse(np.ascontiguousarray(heat, np.float32), J, stride, threshold, out, counts)
    return [out[j, :counts[j]] for j in range(J)]


def test_two_diagonal_maxima_of_one_peak_are_one_peak():
    """A keypoint between four cells; noise lowers the anti-diagonal pair a little."""
    ys, xs = np.mgrid[0:4, 0:4]
    m = np.exp(-((ys - 1.5) ** 2 + (xs - 1.5) ** 2) / (2 * 0.875 ** 2)).astype(np.float32)
    m[1, 2] -= 0.01
    m[2, 1] -= 0.01
    assert sparse.is_grid_peak(m, 1, 1) and sparse.is_grid_peak(m, 2, 2)  # the textbook test: two
    found = _peaks(m[None])[0]
    assert len(found) == 1 and np.allclose(found[0, :2], 1.5 * 8 + 3.5, atol=0.5)
    np.testing.assert_allclose(find_peaks_sparse(m[None], 8, 0.1)[0][:, :3], found, atol=1e-5)


def test_two_peaks_in_diagonal_cells_stay_two():
    m = np.zeros((4, 4), np.float32)
    m[1, 1] = m[2, 2] = 0.9
    m[0, 1] = m[1, 0] = m[3, 2] = m[2, 3] = 0.8   # each pulled away from the other
    m[1, 2] = m[2, 1] = 0.3
    found = _peaks(m[None])[0]
    assert len(found) == 2 and np.hypot(*(found[0, :2] - found[1, :2])) > 8
    ref = find_peaks_sparse(m[None], 8, 0.1)[0]
    np.testing.assert_allclose(ref[:, :3], found, atol=1e-5)


def test_axis_fit_is_exact_for_a_gaussian():
    for d in (-0.3, 0.0, 0.25):
        g = [math.exp(-((x - d) ** 2) / 2) for x in (-1, 0, 1)]
        off, gain = sparse.axis_fit(*g)
        assert abs(off - d) < 1e-12 and abs(g[1] * math.exp(gain) - 1.0) < 1e-12
    assert sparse.axis_fit(0.0, 1.0, 0.5) == (0.0, 0.0)   # not positive: no fit
    assert sparse.axis_fit(0.2, 0.1, 0.2) == (0.0, 0.0)   # not concave


def test_bilinear_on_2x2():
    m = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert sparse.bilinear(m, 0.5, 0.5) == 1.5
    assert sparse.bilinear(m, 0.0, 0.25) == 0.25
    assert sparse.bilinear(m, 5.0, -1.0) == 2.0   # clamped to the grid


def test_sparse_peaks_equal_the_numpy_reference(rng):
    heat = np.clip(rng.normal(0.2, 0.3, (6, 12, 15)), 0, 1).astype(np.float32)
    heat[0, 3:5, 3:5] = 0.7                           # a plateau: one peak
    ours, ref = _peaks(heat), find_peaks_sparse(heat, 8, 0.1)
    for j in range(6):  # same peaks; the kernel fits in float32 (Numba's log of the map's dtype)
        assert ours[j].shape == ref[j][:, :3].shape
        np.testing.assert_allclose(ours[j], ref[j][:, :3], rtol=0, atol=1e-5)


def test_sparse_decoder_equals_its_numpy_reference(rng):
    for count in (1, 4):
        people = random_people(rng, count, (240, 320))
        paf, heat, _ = encode(people, (240, 320))
        paf = paf + rng.normal(0, 0.05, paf.shape).astype(np.float32)
        heat = heat + rng.normal(0, 0.03, heat.shape).astype(np.float32)
        fast = PoseDecoder(method="sparse")(paf, heat)
        ref = decode_sparse_reference(paf, heat, OPENPOSE18)
        np.testing.assert_allclose(fast.keypoints, ref.keypoints, atol=1e-5)
        np.testing.assert_allclose(fast.scores, ref.scores, atol=1e-5)


def test_bilinear_kernel_equals_the_numpy_reference(rng):
    m = rng.normal(size=(5, 6))
    gy, gx = rng.uniform(-1, 6, 50), rng.uniform(-1, 7, 50)
    ours = [sparse.bilinear(m, y, x) for y, x in zip(gy, gx)]
    np.testing.assert_array_equal(ours, sample_bilinear(m, gy, gx))
