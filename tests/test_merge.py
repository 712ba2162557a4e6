"""Piece merging (toppose.codec.merge): exact cases on a few hand-placed parts."""

import numpy as np
import pytest

from toppose.codec.merge import body_distances, limb_shares, merge_pieces
from toppose.skeleton import OPENPOSE18, TOPVIEW

R_SHO, R_ELB, R_WRI, L_HIP, L_KNE, L_ANK = 2, 3, 4, 11, 12, 13
RIGHT_ARM = {R_SHO: (0.0, 0.0), R_ELB: (0.0, 18.0), R_WRI: (0.0, 35.0)}   # ~97 px per body height
LEFT_LEG = {L_HIP: (25.0, 30.0), L_KNE: (25.0, 54.0), L_ANK: (25.0, 78.0)}


def _merge(pieces, skeleton=OPENPOSE18, prior=0.0, slack=8.0, single=0.5, score=1.0, dup=-1.0, drop=False):
    """pieces: list of {keypoint: (x, y) or (x, y, peak score)}, peaks of ``score`` unless given
    -> list of {keypoint: (x, y)} after merging and dropping rows left empty (count 0)."""
    J = skeleton.num_keypoints
    parts = sorted((j, p, i) for i, piece in enumerate(pieces) for j, p in piece.items())  # keypoint order
    flat = np.array([(*p[:2], p[2] if len(p) > 2 else score) for _, p, _ in parts], np.float64).reshape(-1, 3)
    offsets = np.searchsorted([j for j, _, _ in parts], np.arange(J)).astype(np.int64)
    subset = np.full((64, J + 2), -1.0)
    rows = [i for i, piece in enumerate(pieces) if len(piece) > 1]  # a lone part: a peak no row holds
    for g, (j, _, i) in enumerate(parts):
        if i in rows:
            r = rows.index(i)
            subset[r, j] = g
            subset[r, J] = max(subset[r, J], 0.0) + flat[g, 2]
            subset[r, J + 1] = max(subset[r, J + 1], 0.0) + 1
    n = merge_pieces(subset, len(rows), flat, offsets, skeleton.limb_array(), limb_shares(skeleton),
                     body_distances(skeleton), prior, slack, dup, drop, single, np.zeros(len(flat), np.bool_),
                     np.zeros(64), np.zeros((64, 64)))
    out = []
    for r in range(n):
        if subset[r, J + 1] > 0:
            ids = [int(subset[r, j]) for j in range(J) if subset[r, j] >= 0]
            # counts and scores add up over the parts the row keeps
            assert subset[r, J + 1] == len(ids) and subset[r, J] == pytest.approx(flat[ids, 2].sum())
            out.append({j: tuple(flat[int(subset[r, j]), :2]) for j in range(J) if subset[r, j] >= 0})
    return out


def test_body_distances_follow_the_skeleton():
    d18, d23 = body_distances(OPENPOSE18), body_distances(TOPVIEW)
    assert d18[R_WRI, 7] == pytest.approx(2 * (0.175 + 0.186 + 0.12))   # wrist-wrist through the neck
    assert d23[R_WRI, 7] == pytest.approx(2 * (0.175 + 0.186) + 0.23)   # the shoulder-shoulder limb is shorter
    assert d18[L_HIP, 8] == pytest.approx(0.62) and d23[L_HIP, 8] == pytest.approx(0.116)
    assert (np.diag(d18) == 0).all() and np.isfinite(d18[:14, :14]).all()


@pytest.mark.parametrize("skeleton", [OPENPOSE18, TOPVIEW], ids=lambda s: s.name)
def test_two_pieces_of_one_person_merge(skeleton):
    assert _merge([RIGHT_ARM, LEFT_LEG], skeleton) == [{**RIGHT_ARM, **LEFT_LEG}]


def test_pieces_of_two_people_far_apart_stay_apart():
    far_leg = {j: (x + 400.0, y) for j, (x, y) in LEFT_LEG.items()}
    assert _merge([RIGHT_ARM, far_leg]) == [RIGHT_ARM, far_leg]
    # the image-plane prior lets a piece without limbs reach further, but not across the frame
    assert _merge([RIGHT_ARM, far_leg], prior=120.0) == [RIGHT_ARM, far_leg]


def test_never_two_parts_of_one_type():
    other_arm = {j: (x + 10.0, y) for j, (x, y) in RIGHT_ARM.items()}
    assert _merge([RIGHT_ARM, other_arm]) == [RIGHT_ARM, other_arm]
    # with duplicates allowed, the second arm 10 px away is the same arm: one of each part stays
    assert _merge([RIGHT_ARM, other_arm], dup=0.2) == [RIGHT_ARM]
    # two legs fit the arm: the closer one joins, the other stays a person of its own
    second_leg = {j: (x + 20.0, y) for j, (x, y) in LEFT_LEG.items()}
    assert _merge([RIGHT_ARM, second_leg, LEFT_LEG]) == [{**RIGHT_ARM, **LEFT_LEG}, second_leg]


def test_a_lone_part_joins_a_piece_never_another_lone_part():
    head = {0: (10.0, -20.0)}
    assert _merge([RIGHT_ARM, head]) == [{**RIGHT_ARM, **head}]
    assert _merge([head, {L_ANK: (15.0, -10.0)}]) == []   # lone parts that join nothing are dropped
    # a weak lone peak (below ``single``) joins nothing: on a network's maps those are mostly noise
    assert _merge([RIGHT_ARM, head], score=0.3) == [RIGHT_ARM]
    assert _merge([RIGHT_ARM, head], score=0.3, single=0.25) == [{**RIGHT_ARM, **head}]


# Duplicates (``dup``): at ~98 px per body height, two parts of one type count as one when they
# lie within 0.2 x 98 + 8 = 27.6 px.
def test_pieces_sharing_a_duplicated_part_merge():
    leg_and_wrist = {**LEFT_LEG, R_WRI: (3.0, 38.0)}
    assert _merge([RIGHT_ARM, leg_and_wrist]) == [RIGHT_ARM, leg_and_wrist]   # dup < 0: today's rule
    assert _merge([RIGHT_ARM, leg_and_wrist], dup=0.2) == [{**RIGHT_ARM, **LEFT_LEG}]
    # the duplicate is judged on its own distance: a wrist folded back 33 px from the other fits
    # every other part of the arm but is not the same wrist at 0.2, and is at 0.3 (37.4 px)
    folded = {**LEFT_LEG, R_WRI: (5.0, 2.0)}
    assert _merge([RIGHT_ARM, folded], dup=0.2) == [RIGHT_ARM, folded]
    assert _merge([RIGHT_ARM, folded], dup=0.3) == [{**RIGHT_ARM, **LEFT_LEG}]


def test_two_people_whose_shared_parts_lie_apart_stay_apart():
    person = {**RIGHT_ARM, **LEFT_LEG}
    beside = {j: (x + 45.0, y) for j, (x, y) in person.items()}
    assert _merge([person, beside], dup=0.2) == [person, beside]
    # a lone peak 45 px from the wrist is another wrist too, and stays out
    assert _merge([person, {R_WRI: (45.0, 35.0)}], dup=0.2) == [person]


@pytest.mark.parametrize("first, second, kept", [(0.6, 0.9, (3.0, 38.0)), (0.9, 0.6, RIGHT_ARM[R_WRI])])
def test_the_stronger_duplicate_is_kept(first, second, kept):
    arm = {**RIGHT_ARM, R_WRI: (*RIGHT_ARM[R_WRI], first)}
    leg_and_wrist = {**LEFT_LEG, R_WRI: (3.0, 38.0, second)}
    assert _merge([arm, leg_and_wrist], dup=0.2) == [{**RIGHT_ARM, **LEFT_LEG, R_WRI: kept}]


# Dropping a part (``drop``): pieces that fit but for one part join without it.
FAR_NOSE, FAR_EAR = {0: (25.0, 200.0)}, {16: (25.0, 220.0)}


def test_a_piece_with_one_wrong_part_joins_without_it():
    leg_and_nose = {**LEFT_LEG, **FAR_NOSE}   # the nose lies 200 px below the shoulder: no body
    assert _merge([RIGHT_ARM, leg_and_nose]) == [RIGHT_ARM, leg_and_nose]
    assert _merge([RIGHT_ARM, leg_and_nose], drop=True) == [{**RIGHT_ARM, **LEFT_LEG}]
    # two wrong parts: no single part is to blame, the pieces stay apart
    two_wrong = {**leg_and_nose, **FAR_EAR}
    assert _merge([RIGHT_ARM, two_wrong], drop=True) == [RIGHT_ARM, two_wrong]


# A wrist 32 px from the arm's own (over 27.6: not a duplicate) that fits the shoulder and elbow:
# the one pair that fails is the two wrists, and the weaker of them goes.
@pytest.mark.parametrize("arm_score, other_score, kept", [(0.9, 0.6, RIGHT_ARM[R_WRI]), (0.6, 0.9, (-20.0, 10.0))])
def test_of_one_failing_pair_the_weaker_part_is_dropped(arm_score, other_score, kept):
    arm = {**RIGHT_ARM, R_WRI: (*RIGHT_ARM[R_WRI], arm_score)}
    leg_and_wrist = {**LEFT_LEG, R_WRI: (-20.0, 10.0, other_score)}
    assert _merge([arm, leg_and_wrist], dup=0.2) == [RIGHT_ARM, {**LEFT_LEG, R_WRI: (-20.0, 10.0)}]
    assert _merge([arm, leg_and_wrist], dup=0.2, drop=True) == [{**RIGHT_ARM, **LEFT_LEG, R_WRI: kept}]


def test_two_people_never_join_by_dropping():
    person = {**RIGHT_ARM, **LEFT_LEG}
    for dx in (45.0, 60.0, 100.0):   # every shared part fails: no one part is to blame
        beside = {j: (x + dx, y) for j, (x, y) in person.items()}
        assert _merge([person, beside], dup=0.2, drop=True) == [person, beside]
        assert _merge([person, beside], drop=True) == [person, beside]
    # a lone wrist that fits nothing but the arm's wrist's place is not swapped in
    assert _merge([person, {R_WRI: (45.0, 35.0)}], dup=0.2, drop=True) == [person]
