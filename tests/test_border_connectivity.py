"""scripts/border_connectivity.py: which labelled keypoints a limb-joining decoder can group."""

import importlib.util
from pathlib import Path

import numpy as np

from toppose.skeleton import OPENPOSE18, TOPVIEW

_spec = importlib.util.spec_from_file_location(
    "border_connectivity", Path(__file__).parents[1] / "scripts" / "border_connectivity.py")
border = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(border)


def labelled(*names: str) -> np.ndarray:
    out = np.zeros(len(OPENPOSE18.keypoints), bool)
    out[[OPENPOSE18.keypoints.index(n) for n in names]] = True
    return out


def test_only_keypoints_joined_by_limbs_count_as_one_group():
    arm = labelled("right_shoulder", "right_elbow", "right_wrist")
    assert border.largest_group(arm, OPENPOSE18) == 3
    apart = labelled("right_wrist", "left_ankle", "left_knee")          # a hand and a shin at the frame edge
    assert border.largest_group(apart, OPENPOSE18) == 2
    hips_and_shoulder = labelled("right_hip", "left_hip", "right_shoulder")
    assert border.largest_group(hips_and_shoulder, OPENPOSE18) == 1   # the tree joins them only via the neck
    assert border.largest_group(hips_and_shoulder, TOPVIEW) == 3      # hip-hip and shoulder-hip limbs


def test_shares_count_people_with_enough_labelled_keypoints():
    people = [labelled("right_shoulder", "right_elbow", "right_wrist"), labelled("right_wrist", "left_ankle", "left_knee"),
              labelled("nose")]
    annotations = [{"keypoints": np.c_[np.zeros((18, 2)), 2 * p].ravel().tolist()} for p in people]
    assert border.shares(annotations, OPENPOSE18, 3) == {"people": 2, "joined_2_or_more": 1.0,
                                                         "joined_3_or_more": 0.5}
