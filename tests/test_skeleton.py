import numpy as np
import pytest

from toppose.skeleton import (COCO17_FROM_OPENPOSE, COCO17_KEYPOINTS, OPENPOSE18, OPENPOSE_FROM_ITOP,
                              ITOP_JOINTS, TOPVIEW, Skeleton, get_skeleton)


def test_openpose18_channels():
    assert OPENPOSE18.num_keypoints == 18 and OPENPOSE18.num_heatmaps == 19 and OPENPOSE18.num_pafs == 38
    table = OPENPOSE18.limb_array()
    assert table.shape == (19, 4)
    assert tuple(table[6]) == (1, 8, 0, 1)  # neck -> right hip owns PAF 0, 1


def test_coco17_order_maps_names():
    for k, op in enumerate(COCO17_FROM_OPENPOSE):
        assert OPENPOSE18.keypoints[op] == COCO17_KEYPOINTS[k]


def test_itop_mapping_names():
    for op, it in enumerate(OPENPOSE_FROM_ITOP):
        if it < 0:
            continue
        a, b = OPENPOSE18.keypoints[op], ITOP_JOINTS[it]
        assert (a, b) == ("nose", "head") or a.split("_")[0] == b.split("_")[0]


@pytest.mark.parametrize("skeleton", [OPENPOSE18, TOPVIEW])
def test_paf_flip_is_an_involution(skeleton, rng):
    perm, sign = skeleton.paf_flip()
    paf = rng.normal(size=skeleton.num_pafs)
    once = sign * paf[perm]
    twice = sign * once[perm]
    np.testing.assert_allclose(twice, paf)


def test_round_trip_dict():
    assert Skeleton.from_dict(TOPVIEW.to_dict()) == TOPVIEW
    assert get_skeleton("topview23") is TOPVIEW
    with pytest.raises(ValueError):
        get_skeleton("nope")


def test_invalid_skeleton_rejected():
    with pytest.raises(ValueError, match="PAF channels"):
        Skeleton("bad", ("a", "b"), ((0, 1),), ((0, 0),), (False,), (0, 1))
