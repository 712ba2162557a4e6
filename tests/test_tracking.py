"""The tracker: ids persist through a close pass, a leaver's id is never handed to a newcomer."""

import numpy as np

from toppose.codec.poses import Poses
from toppose.runtime.track_pieces import body_centres
from toppose.runtime.track_reference import cost_reference
from toppose.runtime.tracking import Tracker

# 18 keypoint offsets (px) of a person seen from above, spread about 40 px
TEMPLATE = np.array([[0, -4], [0, 0], [-14, 0], [-20, 10], [-22, 20], [14, 0], [20, 10], [22, 20], [-8, 14],
                     [-8, 24], [-8, 32], [8, 14], [8, 24], [8, 32], [-3, -6], [3, -6], [-6, -4], [6, -4]], float)


def person(x: float, y: float) -> np.ndarray:
    kp = np.ones((18, 3), np.float32)
    kp[:, :2] = TEMPLATE + [x, y]
    return kp


def frame(*centres, rng=None) -> Poses:
    """People at ``centres`` as a decoder reports them: keypoints outside the 320x240 image missing."""
    kp = np.stack([person(x, y) for x, y in centres]) if centres else np.zeros((0, 18, 3), np.float32)
    if rng is not None:
        kp[..., :2] += rng.normal(0, 1.0, kp[..., :2].shape)
    out = (kp[..., 0] < 0) | (kp[..., 0] >= 320) | (kp[..., 1] < 0) | (kp[..., 1] >= 240)
    kp[out] = 0
    kp = kp[(kp[..., 2] > 0).any(1)]
    return Poses(kp, np.ones(len(kp), np.float32), (kp[..., 2] > 0).sum(1).astype(np.int32))


def ids_by_position(tracker: Tracker, poses: Poses) -> list[int]:
    """The ids in the order the people were given (the tracker keeps the detection order)."""
    return tracker.update(poses, (240, 320)).ids.tolist()


def test_ids_persist_when_two_people_pass_close(rng):
    tracker = Tracker()
    seen = []
    for t in range(40):  # A walks right, B walks left, 36 px apart vertically: they pass at t = 20
        a, b = (40 + 6 * t, 100), (280 - 6 * t, 136)
        order = rng.permutation(2)
        poses = frame(*[(a, b)[i] for i in order], rng=rng)
        ids = ids_by_position(tracker, poses)
        seen.append([ids[list(order).index(0)], ids[list(order).index(1)]])
    seen = np.array(seen[3:])   # confirmed after min_hits frames
    assert (seen[:, 0] == seen[0, 0]).all() and (seen[:, 1] == seen[0, 1]).all()
    assert seen[0, 0] != seen[0, 1] and (seen > 0).all()


def test_ids_persist_when_paths_cross_at_different_times(rng):
    tracker = Tracker()
    seen = []
    for t in range(40):  # B crosses the point (160, 120) at t = 10, A at t = 24, at right angles (44 px apart at least)
        a, b = (40 + 5 * t, 120), (160, 80 + 4 * t)
        seen.append(ids_by_position(tracker, frame(a, b, rng=rng)))
    seen = np.array(seen[3:])
    assert len(set(seen[:, 0])) == 1 and len(set(seen[:, 1])) == 1 and seen[0, 0] != seen[0, 1]


def test_a_person_leaving_and_another_entering_at_the_same_spot_get_different_ids(rng):
    tracker = Tracker()
    ids_a, ids_b = set(), set()
    for t in range(20):    # A walks out through the left border
        ids_a |= set(ids_by_position(tracker, frame((100 - 6 * t, 120), rng=rng)))
    for t in range(2):     # nobody for 2 frames (0.13 s at 15 FPS)
        tracker.update(frame(), (240, 320))
    for t in range(20):    # B walks in at the same spot
        ids_b |= set(ids_by_position(tracker, frame((5 + 6 * t, 120), rng=rng)))
    ids_a, ids_b = ids_a - {-1}, ids_b - {-1}
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b
    assert min(ids_b) > max(ids_a)   # ids are never reused


def test_a_short_miss_keeps_the_id_and_a_one_frame_ghost_gets_none(rng):
    tracker = Tracker()
    first = None
    for t in range(30):
        poses = frame((60 + 5 * t, 120), rng=rng) if not 10 <= t < 14 else frame()
        ids = ids_by_position(tracker, poses)
        if t == 5:
            first = ids[0]
        if t >= 14:
            assert ids == [first]
    ghost = ids_by_position(tracker, frame((210, 120), (40, 40)))
    assert ghost[1] == -1


def test_a_track_prefers_the_whole_person_to_a_fragment_and_refuses_disjoint_keypoints():
    tracker = Tracker()
    for t in range(3):
        tracker.update(frame((100 + 2 * t, 100)), (240, 320))
    whole = person(106, 100)
    whole[:, :2] += np.random.default_rng(0).normal(0, 3, (18, 2))   # a noisy whole detection
    fragment = np.zeros((18, 3), np.float32)
    fragment[[2, 3, 4]] = person(106, 100)[[2, 3, 4]]                # three exact keypoints
    disjoint = np.zeros((18, 3), np.float32)
    disjoint[13] = [106, 132, 1]                                     # a left ankle only ...
    tracker.mem[0, 13, 2] = 0                                        # ... that the track has not seen
    kp = np.stack([whole, fragment, disjoint])
    centres, ok = body_centres(kp)
    cost = tracker._cost(kp, centres, ok, np.arange(1))[0]
    assert cost[0] < 0.2 < cost[1] < 1e6 and cost[2] == 1e6   # the fragment agrees but covers 3 of 17
    assert np.allclose(cost, cost_reference(tracker, kp, centres, ok, np.arange(1))[0], atol=1e-6)


def test_the_reported_centre_does_not_jump_when_the_hips_vanish():
    """Lines count the reported centres: a torso keypoint that comes and goes must not move them."""
    tracker = Tracker()
    for t in range(6):
        out = tracker.update(frame((100 + 2 * t, 100)), (240, 320))
    torso = TEMPLATE[[1, 2, 5, 8, 11]].mean(0)
    assert np.allclose(out.centres[0], torso + [110, 100], atol=0.5)
    half = frame((112, 100))
    half.keypoints[0, [8, 11]] = 0                   # hips missed: the seen centre moves 5.6 px up
    assert abs(body_centres(half.keypoints)[0][0, 1] - (torso[1] + 100)) > 5
    out = tracker.update(half, (240, 320))
    assert np.allclose(out.centres[0], torso + [112, 100], atol=0.5)


def part(kp: np.ndarray, joints) -> np.ndarray:
    """Only ``joints`` of the person (J, 3) found, as a decoder that sees part of them reports it."""
    out = np.zeros_like(kp)
    out[list(joints)] = kp[list(joints)]
    return out


def poses_of(*people: np.ndarray) -> Poses:
    kp = np.stack(people).astype(np.float32)
    return Poses(kp, np.ones(len(kp), np.float32), (kp[..., 2] > 0).sum(1).astype(np.int32))


def test_keypoints_coming_into_view_are_no_velocity():
    tracker = Tracker()
    order = np.argsort(-TEMPLATE[:, 0])              # a person at the right border, seen from the right
    for t in range(12):                              # standing still while more of them is found
        tracker.update(poses_of(part(person(290, 120), order[:4 + t])), (240, 320))
    assert np.abs(tracker.x[0, 2:]).max() < 0.5      # px / frame; the found keypoints' centre moved 12 px


def test_a_person_reported_as_upper_body_and_legs_in_turn_keeps_one_id():
    tracker = Tracker()
    upper, legs = [0, 1, 2, 3, 4, 5, 6, 7, 14, 15, 16, 17], [8, 9, 10, 11, 12, 13]   # no keypoint in common
    ids = []
    for t in range(30):    # seen whole, then the decoder splits them: one half found per frame
        kp = person(60 + 4 * t, 120)
        ids += tracker.update(poses_of(kp if t < 5 else part(kp, upper if t % 2 else legs)), (240, 320)).ids.tolist()
    assert set(ids[3:]) == {1} and tracker.next_id == 2   # the remembered keypoints bridge the two halves


def test_two_keypoints_beside_someone_keep_their_own_id():
    tracker = Tracker()
    a, b = person(100, 120), person(160, 120)
    for _ in range(5):
        tracker.update(poses_of(a, b), (240, 320))
    arm = part(b, [3, 4])                              # only B's right elbow and wrist, 40 px from A's centre
    no_arm = part(a, [j for j in range(18) if j not in (3, 4)])
    out = tracker.update(poses_of(no_arm, arm), (240, 320))
    assert len(out.poses) == 2 and out.ids.tolist() == [1, 2]   # not merged into A as A's right arm


def test_a_newcomer_beside_someone_mostly_out_of_view_gets_an_id():
    tracker = Tracker()
    for _ in range(5):
        tracker.update(poses_of(person(100, 120)), (240, 320))
    feet = part(person(100, 120), [10, 13])            # A's ankles only: the rest of A out of view
    for _ in range(5):                                 # B whole, 52 px from A's ankles
        ids = tracker.update(poses_of(feet, person(150, 160)), (240, 320)).ids.tolist()
    assert ids == [1, 2]                               # two keypoints do not keep a newcomer away


def test_a_person_unseen_at_the_border_has_left_after_edge_lost_frames(rng):
    cfg = Tracker().cfg
    for gap, same in ((cfg.edge_lost, True), (cfg.edge_lost + 2, False)):
        tracker = Tracker()
        before = [ids_by_position(tracker, frame((5, 120), rng=rng)) for _ in range(10)]  # half out on the left
        for _ in range(gap):
            tracker.update(frame(), (240, 320))
        after = [ids_by_position(tracker, frame((5, 120), rng=rng)) for _ in range(10)]
        assert before[-1] == [1] and (after[-1] == [1]) == same and after[-1][0] > 0


def test_a_whole_person_at_the_border_unseen_for_a_few_frames_keeps_the_id(rng):
    tracker = Tracker()   # whole in view, centre 20 px from the border: hidden or merged for a moment, not gone
    before = [ids_by_position(tracker, frame((40, 15), rng=rng)) for _ in range(10)]
    for _ in range(tracker.cfg.edge_lost + 5):
        tracker.update(frame(), (240, 320))
    assert before[-1] == [1] and ids_by_position(tracker, frame((40, 15), rng=rng)) == [1]


def test_only_a_whole_torso_or_a_fit_to_the_last_whole_pose_counts_as_clearly_seen_for_lines():
    no_hip = [j for j in range(18) if j != 8]                 # 17 keypoints, a hip missing
    never_whole = Tracker()
    seen = [never_whole.update(poses_of(part(person(100, 120), no_hip)), (240, 320)).seen.tolist() for _ in range(5)]
    assert seen[-1] == [False]                                # its centre is only that of what is in view
    tracker = Tracker()
    seen = [tracker.update(poses_of(person(100, 120) if t < 5 else part(person(100, 120), no_hip)),
                           (240, 320)).seen.tolist() for t in range(8)]
    assert seen[4] == [True] and seen[6] == [True]            # fitted to the whole pose it had


def test_someone_walking_in_with_a_shoulder_still_out_of_view_has_their_whole_centre_and_counts_for_lines():
    """The neck is the shoulders' midpoint: with the neck and one shoulder in view the torso is
    whole, and the centre is not pulled 3 px (here; 10-15 px on a real person) towards the image."""
    tracker = Tracker()
    for _ in range(4):
        out = tracker.update(frame((310, 120)), (240, 320))
    assert out.poses.keypoints[0, 5, 2] == 0 and out.poses.parts.tolist() == [15]   # not reported as found
    torso = TEMPLATE[[1, 2, 5, 8, 11]].mean(0) + [310, 120]
    assert np.allclose(out.centres[0], torso, atol=1e-3) and out.seen.tolist() == [True]
    both_out = Tracker()                                      # neck and a shoulder out: nothing to fill from
    for _ in range(4):
        out = both_out.update(poses_of(part(person(100, 120), [j for j in range(18) if j not in (1, 5)])), (240, 320))
    assert out.seen.tolist() == [False]


def test_the_centre_of_someone_turning_half_out_of_view_follows_the_turn():
    """Walking along the border a person turns while only the head and shoulders are in view:
    the body centre is the last whole pose's, turned and moved as those keypoints were."""
    tracker = Tracker()
    for t in range(5):
        tracker.update(poses_of(person(100 + 2 * t, 40)), (240, 320))
    whole = person(108, 40)
    torso = whole[[1, 2, 5, 8, 11], :2].mean(0)
    angle = np.radians(60)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = whole.copy()
    turned[:, :2] = (whole[:, :2] - torso) @ rot.T + torso + [4, -3]
    out = tracker.update(poses_of(part(turned, [0, 1, 2, 5, 14, 15])), (240, 320))
    assert np.allclose(out.centres[0], torso + [4, -3], atol=0.5) and out.seen.tolist() == [True]
    shifted_only = turned[[0, 1, 2, 5, 14, 15], :2].mean(0) - whole[[0, 1, 2, 5, 14, 15], :2].mean(0) + torso
    assert np.linalg.norm(shifted_only - (torso + [4, -3])) > 6   # what the mean shift alone would give


def test_a_newcomer_walking_in_beside_someone_gets_an_id_as_soon_as_three_parts_show():
    tracker = Tracker()
    ids, parts = [], []
    for t in range(20):   # A stands 8 px from the right border; B walks in beside them, 40-50 px away
        a, b = person(290, 60), person(348 - 2 * t, 100)
        b = part(b, [j for j in range(18) if b[j, 0] < 320])
        out = tracker.update(poses_of(a, b) if b[:, 2].any() else poses_of(a), (240, 320))
        ids.append(out.ids.tolist())
        parts.append(int((b[:, 2] > 0).sum()))
    first = parts.index(next(n for n in parts if n >= tracker.cfg.min_parts))
    assert parts[first - tracker.cfg.min_hits:first] == [1, 2, 2, 2][-tracker.cfg.min_hits:]   # followed while small
    assert all(i[0] == 1 for i in ids[2:]) and ids[first - 1][1] == -1
    assert all(i[1] == 2 for i in ids[first:]) and tracker.next_id == 3


def test_a_foot_alone_at_the_border_gets_no_id_until_the_person_shows_three_parts():
    tracker = Tracker()
    foot = part(person(320, 100), [10])                 # the right ankle alone, 8 px inside the right border
    ids = [tracker.update(poses_of(foot), (240, 320)).ids.tolist() for _ in range(10)]
    body = part(person(320, 100), [2, 3, 4, 10])          # then the right shoulder, elbow and wrist too
    ids.append(tracker.update(poses_of(body), (240, 320)).ids.tolist())
    assert ids[:10] == [[-1]] * 10 and ids[10] == [1]


def test_a_corner_handover_between_one_keypoint_remnants_keeps_the_ids_apart():
    tracker = Tracker()
    seen = []
    for t in range(30):   # A walks out through the top-left corner; B walks in there as A's last keypoint goes
        a, b = (60 - 5 * t, 30 - 5 * t), (-65 + 5 * t, -75 + 5 * t)
        seen.append(ids_by_position(tracker, frame(a, b) if t >= 7 else frame(a)))
    assert seen[10] == [1] and [len(s) for s in seen[11:13]] == [2, 2] and seen[13] == [2]   # A's remnant, then B
    assert seen[-1] == [2] and tracker.next_id == 3   # the remnant's id is not handed to the newcomer
