import numpy as np
import pytest

from toppose.camera import ITOP
from toppose.skeleton import (COCO17_FROM_OPENPOSE, COCO17_KEYPOINTS, COCO17_SIGMAS, ITOP_JOINTS, ITOP_LABELLED,
                              NECK_SIGMA, NUM_ITOP, NUM_OPENPOSE, OPENPOSE18, OPENPOSE_FROM_ITOP, OPENPOSE_SIGMAS,
                              TOPVIEW, Skeleton, get_skeleton, openpose_from_itop)


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


def test_joint_mapping_and_visibility():
    uv = np.arange(2 * NUM_ITOP, dtype=np.float32).reshape(NUM_ITOP, 2) * 5
    uv[13] = (-10, 50)  # right foot outside the frame
    vis = np.ones(NUM_ITOP)
    vis[4] = 0  # right elbow occluded
    kp, in_frame = openpose_from_itop(uv, vis, ITOP.hw)
    assert tuple(kp[0, :2]) == tuple(uv[0]) and tuple(kp[3, :2]) == tuple(uv[4])  # nose<-head, R-elb<-R-elbow
    assert kp[3, 2] == 1 and kp[0, 2] == 2 and kp[10, 2] == 0 and not in_frame[13]
    assert (kp[14:, 2] == 0).all()


def test_in_frame_follows_the_frame_size():
    uv = np.full((NUM_ITOP, 2), 100.0, np.float32)
    uv[0] = (300, 50)  # inside a 320-wide frame, outside a 200-wide one
    vis = np.ones(NUM_ITOP)
    wide, in_wide = openpose_from_itop(uv, vis, (240, 320))
    narrow, in_narrow = openpose_from_itop(uv, vis, (240, 200))
    assert in_wide[0] and not in_narrow[0] and wide[0, 2] == 2 and narrow[0, 2] == 0
    assert tuple(narrow[0, :2]) == (300, 50)  # coordinates kept outside the frame


def test_itop_labels_exactly_the_body_keypoints():
    assert ITOP_LABELLED == tuple(range(14)) and NUM_OPENPOSE - len(ITOP_LABELLED) == 4  # eyes and ears
    assert {OPENPOSE_FROM_ITOP[k] for k in ITOP_LABELLED} == set(range(NUM_ITOP)) - {8}  # all but the torso


def test_oks_sigmas_follow_coco_by_name_and_the_neck_takes_the_shoulders():
    assert len(OPENPOSE_SIGMAS) == NUM_OPENPOSE
    for k, op in enumerate(COCO17_FROM_OPENPOSE):
        assert OPENPOSE_SIGMAS[op] == COCO17_SIGMAS[k]
    shoulder = COCO17_SIGMAS[COCO17_KEYPOINTS.index("left_shoulder")]
    assert OPENPOSE_SIGMAS[OPENPOSE18.keypoints.index("neck")] == NECK_SIGMA == shoulder


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
