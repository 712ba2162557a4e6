"""Pieces of people: body centres prefer the torso; one person's pieces merge, two tracked people's do not."""

import numpy as np

from tests.test_tracking import TEMPLATE, person
from toppose.codec.poses import Poses
from toppose.runtime.track_pieces import body_centres, fill_shoulders, merge_fragments, torso_centres, whole_torsos


def test_body_centres_prefer_the_torso():
    kp = person(100, 50)[None].copy()
    kp[0, 10, :2] = [300, 300]                   # a far-off ankle does not move the centre
    centre, ok = body_centres(kp)
    torso = TEMPLATE[[1, 2, 5, 8, 11]].mean(0) + [100, 50]
    assert ok[0] and np.allclose(centre[0], torso)


def test_the_neck_and_shoulders_fill_in_one_missing_from_the_other_two():
    whole = person(100, 50)
    missing = np.stack([whole] * 4)
    missing[0, 1] = 0                            # the neck: the shoulders' midpoint
    missing[1, 5] = 0                            # a shoulder: the other one mirrored through the neck
    missing[2, 2] = 0
    missing[3, [1, 5]] = 0                       # two of the three: nothing to fill from
    filled = fill_shoulders(missing)
    assert np.allclose(filled[:3], whole) and np.allclose(filled[3], missing[3])
    assert whole_torsos(missing).tolist() == [True, True, True, False]
    torso = TEMPLATE[[1, 2, 5, 8, 11]].mean(0) + [100, 50]
    assert np.allclose(torso_centres(missing[:3]), torso)
    assert not np.allclose(body_centres(missing)[0][1:3], torso, atol=3)   # found keypoints alone: pulled aside


def test_merge_fragments_rejoins_a_split_person_but_not_two_people():
    whole = person(100, 100)
    upper, lower = whole.copy(), whole.copy()
    upper[8:14] = 0
    lower[:8] = 0
    lower[14:] = 0
    split = Poses(np.stack([upper, lower, person(220, 100)]), np.ones(3, np.float32), np.array([12, 6, 18], np.int32))
    merged = merge_fragments(split, 36.0)[0]
    assert len(merged) == 2 and np.allclose(merged.keypoints[0], whole) and merged.parts[0] == 18


def test_pieces_matched_to_two_tracks_are_never_merged():
    a, b = person(100, 100), person(100, 100)
    a[8:], b[:8] = 0, 0                               # would merge as one split person ...
    poses = Poses(np.stack([a, b]), np.ones(2, np.float32), np.array([8, 10], np.int32))
    assert len(merge_fragments(poses, 60.0)[0]) == 1
    kept, alive = merge_fragments(poses, 60.0, fixed=np.array([True, True]))
    assert len(kept) == 2 and alive.all()             # ... but not when each has its own track
    kept, alive = merge_fragments(poses, 60.0, fixed=np.array([True, False]))
    assert alive.tolist() == [True, False] and kept.parts[0] == 18   # the tracked piece keeps its place


def test_pieces_under_min_parts_keypoints_are_left_alone():
    upper, feet = person(100, 100), person(100, 100)
    upper[8:14], feet[:10], feet[11:13], feet[14:] = 0, 0, 0, 0    # feet: the two ankles only
    poses = Poses(np.stack([upper, feet]), np.ones(2, np.float32), np.array([12, 2], np.int32))
    assert len(merge_fragments(poses, 60.0)[0]) == 1
    kept, alive = merge_fragments(poses, 60.0, min_parts=3)
    assert len(kept) == 2 and alive.all()             # two ankles beside someone may be someone else
