"""Limb scoring kernels: exact tiny cases."""

import numpy as np
import pytest

from toppose.codec import grouping


def test_limb_score_on_a_uniform_field():
    paf_x, paf_y = np.ones((4, 4)), np.zeros((4, 4))   # unit vectors pointing +x everywhere
    for mode in (grouping.FINE, grouping.SPARSE):
        along = grouping.limb_score(paf_x, paf_y, 3.5, 11.5, 27.5, 11.5, 8, 64.0, 10, 0.05, mode)
        assert along == (1.0, 10)
        back = grouping.limb_score(paf_x, paf_y, 27.5, 11.5, 3.5, 11.5, 8, 64.0, 10, 0.05, mode)
        assert back == (-1.0, 0)
    # a limb (24 px) longer than half the image height (32 px) pays the prior 0.5 * 32 / 24 - 1
    long = grouping.limb_score(paf_x, paf_y, 3.5, 11.5, 27.5, 11.5, 8, 32.0, 10, 0.05, grouping.SPARSE)
    assert long == (pytest.approx(1.0 + 0.5 * 32 / 24 - 1.0), 10)


def test_match_is_greedy_one_to_one_best_first():
    cand = np.array([[0, 0, 0.5], [0, 1, 0.9], [1, 1, 0.8], [1, 0, 0.4], [2, 2, 0.1]])
    used_a, used_b, out = np.zeros(3, np.bool_), np.zeros(3, np.bool_), np.zeros((3, 3))
    n = grouping.match(cand, 5, 3, 2, used_a, used_b, out)   # two B peaks: at most two matches
    assert n == 2 and out[:2].tolist() == [[0, 1, 0.9], [1, 0, 0.4]]
