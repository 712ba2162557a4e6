"""Fine peak kernels: exact tiny maps (trt_pose style) and their NumPy reference."""

import numpy as np
import pytest

from toppose.codec import peaks
from toppose.codec.reference import find_peaks, upsample, upsample_heatmaps
from toppose.codec.reference_parts import bicubic_taps


def _fine(heat, stride, threshold=0.1, capacity=16):
    """find_peaks_fine on (J, h, w) maps -> per keypoint a list of (x, y) input pixels."""
    J, h, w = heat.shape
    out, counts = np.zeros((J, capacity, 3)), np.zeros(J, np.int64)
    peaks.find_peaks_fine(np.ascontiguousarray(heat, np.float32), J, threshold, peaks.band(stride),
                          peaks.fine_scratch(h, w, stride), out, counts)
    return [[tuple(out[j, i, :2]) for i in range(counts[j])] for j in range(J)]


def test_taps_hold_the_border_half_cell_at_the_edge():
    src, taps, w = np.zeros(8, np.int64), np.zeros((8, 4), np.int64), np.zeros((8, 4), np.float32)
    peaks._taps(8, 1 / 4, 2, src, taps, w)  # 2 cells at stride 4: source positions -0.375 ... 1.375
    assert list(src) == [0, 0, 0, 0, 0, 0, 1, 1]
    np.testing.assert_array_equal(w[[0, 1, 6, 7]], [[0, 1, 0, 0]] * 4)
    assert taps[2].tolist() == [1, 0, 1, 0]   # mirrored beyond both edges
    ref_taps, ref_w = bicubic_taps(2, 4)
    np.testing.assert_array_equal(ref_w, w)
    np.testing.assert_array_equal(ref_taps, taps)


def test_stride_one_is_plain_8_neighbour_suppression():
    m = np.zeros((1, 4, 4), np.float32)
    m[0, 1, 1] = m[0, 2, 2] = 0.8   # one ridge along a diagonal, exact tie: the first wins
    m[0, 0, 3] = 0.5                # a separate peak in a corner
    m[0, 3, 0] = 0.05               # below the threshold
    assert _fine(m, 1) == [[(3.0, 0.0), (1.0, 1.0)]]
    m[0, 2, 2] = 0.9                # unequal: only the larger
    assert _fine(m, 1) == [[(3.0, 0.0), (2.0, 2.0)]]
    assert [p[:, :2].tolist() for p in find_peaks(m.transpose(1, 2, 0), 0.1)] == [[[3, 0], [2, 2]]]


@pytest.mark.parametrize("where", ["top", "bottom", "left", "right"])
def test_a_keypoint_one_cell_from_each_edge_is_one_peak(where):
    """On OpenCV's upsampling the border row overshoots beside it: the textbook finds two."""
    h, w, stride, sigma = 6, 8, 8, 7.0
    ys, xs = np.mgrid[0:h, 0:w] * stride + 3.5
    at = {"top": (3.5 + 6, 28), "bottom": (h * 8 - 1 - 9.5, 28), "left": (20, 3.5 + 6),
          "right": (20, w * 8 - 1 - 9.5)}[where]
    heat = np.exp(-((ys - at[0]) ** 2 + (xs - at[1]) ** 2) / (2 * sigma ** 2))[None].astype(np.float32)
    textbook = upsample(heat, stride)[:, :, 0]
    pad = np.pad(textbook, 1, constant_values=-np.inf)
    four = [(pad[1:-1, 1:-1] >= pad[a:a + textbook.shape[0], b:b + textbook.shape[1]])
            for a, b in ((0, 1), (2, 1), (1, 0), (1, 2))]
    assert np.count_nonzero(np.logical_and.reduce(four) & (textbook > 0.1)) == 2
    found = _fine(heat, stride)[0]
    assert len(found) == 1 and np.hypot(found[0][0] - at[1], found[0][1] - at[0]) <= 4.0
    ref = find_peaks(upsample_heatmaps(heat, stride), 0.1, peaks.band(stride))[0]
    assert ref[:, :2].tolist() == [list(found[0])]


def test_upsampling_matches_opencv_inside_and_holds_the_edge_outside(rng):
    m = rng.normal(size=(2, 6, 7)).astype(np.float32)
    ours, cv = upsample_heatmaps(m, 8), upsample(m, 8)
    np.testing.assert_allclose(ours[12:-12, 12:-12], cv[12:-12, 12:-12], atol=1e-5)  # taps inside
    assert np.abs(ours[4:12] - cv[4:12]).max() > 1e-3     # the first cell: mirrored, not replicated
    np.testing.assert_array_equal(ours[0], ours[3])   # the border band is a plateau
    np.testing.assert_array_equal(ours[:, 0], ours[:, 3])
    assert ours[0, 0, 0] == m[0, 0, 0] and ours[-1, -1, 1] == m[1, -1, -1]


def test_fine_kernel_equals_its_numpy_reference(rng):
    heat = np.clip(rng.normal(0.2, 0.3, (5, 9, 11)), 0, 1).astype(np.float32)
    found = _fine(heat, 8, capacity=200)
    ref = find_peaks(upsample_heatmaps(heat, 8), 0.1, peaks.band(8))
    for j in range(5):
        assert [tuple(p) for p in ref[j][:, :2].tolist()] == found[j]
