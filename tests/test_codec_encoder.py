import numpy as np
import pytest

from toppose.codec.encoder import encode, encode_heatmaps, encode_mask, encode_pafs
from toppose.skeleton import OPENPOSE18


def _person(points):
    kp = np.zeros((1, 18, 3), np.float32)
    for j, (x, y) in points.items():
        kp[0, j] = (x, y, 2)
    return kp


def test_heatmap_peak_sits_on_the_cell_centre():
    heat = encode_heatmaps(_person({0: (8 * 5 + 3.5, 8 * 3 + 3.5)}), (64, 96))
    assert heat.shape == (19, 8, 12)
    assert heat[0, 3, 5] == pytest.approx(1.0)
    assert heat[0, 3, 6] == pytest.approx(np.exp(-64 / 98), rel=1e-5)  # one cell = 8 px, sigma 7
    assert heat[18, 3, 5] == pytest.approx(0.0) and heat[18, 0, 0] == pytest.approx(1.0)
    assert heat[1].max() == 0.0  # unlabelled keypoint draws nothing


def test_gaussian_cut_below_one_percent():
    heat = encode_heatmaps(_person({0: (3.5, 3.5)}), (64, 64))
    values = heat[0][heat[0] > 0]
    assert values.min() >= 0.01 - 1e-6


def test_unlabelled_and_people_combine_by_max():
    two = np.concatenate([_person({0: (20, 20)}), _person({0: (28, 20)})])
    heat = encode_heatmaps(two, (64, 64))
    single = encode_heatmaps(two[:1], (64, 64))
    assert (heat[0] >= single[0]).all() and heat[0].max() <= 1.0


def test_paf_is_a_unit_vector_along_the_limb():
    paf = encode_pafs(_person({1: (11.5, 35.5), 8: (51.5, 35.5)}), (64, 64))
    cx, cy = OPENPOSE18.paf_channels[OPENPOSE18.limbs.index((1, 8))]
    assert paf[cx, 4, 3] == pytest.approx(1.0) and paf[cy, 4, 3] == pytest.approx(0.0)
    assert paf[cx, 1, 3] == 0.0  # 3 cells away from the limb
    assert np.count_nonzero(paf) == np.count_nonzero(paf[cx])


def test_overlapping_limbs_average():
    a = _person({1: (3.5, 19.5), 8: (59.5, 19.5)})
    b = _person({1: (19.5, 3.5), 8: (19.5, 59.5)})
    paf = encode_pafs(np.concatenate([a, b]), (64, 64))
    cx, cy = OPENPOSE18.paf_channels[6]
    assert paf[cx, 2, 2] == pytest.approx(0.5) and paf[cy, 2, 2] == pytest.approx(0.5)


def test_mask_downsamples_ignore_regions():
    ignore = np.zeros((64, 64), np.uint8)
    ignore[:32, :32] = 1
    mask = encode_mask(ignore, (64, 64))
    assert mask.shape == (8, 8) and mask[0, 0] == 0.0 and mask[7, 7] == 1.0
    paf, heat, m = encode(np.zeros((0, 18, 3)), (64, 64))
    assert paf.shape == (38, 8, 8) and heat[18].min() == 1.0 and m.min() == 1.0
