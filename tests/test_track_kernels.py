"""The tracker's Numba kernels against their NumPy references."""

import numpy as np

from toppose.runtime.track_pieces import body_centres, fast_centres
from toppose.runtime.track_reference import body_reference, cost_reference
from toppose.runtime.tracking import Tracker, TrackerConfig


def random_people(rng, n, drop=0.4):
    kp = np.zeros((n, 18, 3), np.float32)
    kp[..., :2] = rng.uniform(0, 320, (n, 1, 2)) + rng.normal(0, 15, (n, 18, 2))
    kp[..., 2] = rng.random((n, 18)) > drop
    kp[kp[..., 2] == 0] = 0
    return kp


def test_centres_kernel_matches_the_reference(rng):
    kp = random_people(rng, 30, drop=0.7)
    kp[3] = 0                                            # nobody found
    ref, ref_ok = body_centres(kp)
    out, ok = fast_centres(kp)
    assert (ok == ref_ok).all() and not ok[3]
    assert np.allclose(out, ref, atol=1e-4)


def test_torso_centre_and_whole_torso_match_the_references(rng):
    from toppose.runtime.track_kernels import torso_centre, whole_torso
    from toppose.runtime.track_pieces import TORSO_MASK, torso_centres, whole_torsos

    kp = random_people(rng, 40, drop=0.0)
    for d in range(40):                                  # none, one or two of neck and shoulders missing
        kp[d, rng.choice([1, 2, 5], d % 3, replace=False)] = 0
    kp[30:, 8] = 0                                       # and some without a hip: never whole
    whole = np.array([whole_torso(k, TORSO_MASK[:18]) for k in kp])
    assert (whole == whole_torsos(kp)).all() and whole[:30].sum() == 20
    centres = np.array([torso_centre(k, TORSO_MASK[:18]) for k in kp[whole]])
    assert np.allclose(centres, torso_centres(kp[whole]), atol=1e-4)


def test_cost_kernel_matches_the_reference(rng):
    for min_count in (1, 2, 5):
        tracker = Tracker(TrackerConfig(min_count=min_count))
        tracker._spawn(random_people(rng, 12), fast_centres(random_people(rng, 12))[0])
        tracker.mem[:, :, 2] *= rng.integers(1, 8, (12, 18))   # remembered keypoints of ages 0-6
        tracker.x[:, 2:] = rng.normal(0, 3, (12, 2))
        tracker.P[:] += np.diag(rng.uniform(1, 50, 4))
        tracker._predict()
        dets = random_people(rng, 15)
        dets[:12, :, :2] = tracker.kp[:, :, :2] + rng.normal(0, 4, (12, 18, 2))   # most near a track
        dets[dets[..., 2] == 0] = 0
        centres, ok = fast_centres(dets)
        tracks = np.arange(12)
        fast = tracker._cost(dets, centres, ok, tracks)
        ref = cost_reference(tracker, dets, centres, ok, tracks)
        assert np.allclose(fast, ref, atol=1e-6)
        assert (fast < 1e6).any() and (fast == 1e6).any()   # both allowed and refused pairs were checked


def test_merge_kernel_matches_the_reference(rng):
    from toppose.codec.poses import Poses
    from toppose.runtime.track_pieces import merge_fragments, merge_reference

    for _ in range(20):
        kp = random_people(rng, 8, drop=0.6)
        kp[4:, :, :2] = kp[:4, :, :2] + rng.normal(0, 8, (4, 18, 2))   # pieces near each other
        kp[kp[..., 2] == 0] = 0
        poses = Poses(kp, rng.random(8).astype(np.float32), (kp[..., 2] > 0).sum(1).astype(np.int32))
        for min_parts in (1, 6):
            fast = merge_fragments(poses, 36.0, min_parts=min_parts)[0]
            ref = merge_reference(poses, 36.0, min_parts=min_parts)
            assert len(fast) == len(ref)
            assert np.allclose(fast.keypoints, ref.keypoints) and np.allclose(fast.scores, ref.scores)


def test_kalman_kernels_match_the_textbook_equations(rng):
    from toppose.runtime.track_state import correct_kernel, predict_kernel

    x = rng.normal(0, 10, (5, 4))
    A = rng.normal(0, 1, (5, 4, 4))
    P = A @ A.transpose(0, 2, 1) + np.eye(4)
    q = np.diag([0.25, 0.25, 1.0, 1.0])
    F = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    H = np.eye(2, 4)
    x_ref, P_ref = x @ F.T, F @ P @ F.T + q
    predict_kernel(x, P, q)
    assert np.allclose(x, x_ref) and np.allclose(P, P_ref)
    rows, z, r = np.array([1, 3]), rng.normal(0, 10, (2, 2)), 4.0
    for m, t in enumerate(rows):
        S = H @ P_ref[t] @ H.T + r * np.eye(2)
        K = P_ref[t] @ H.T @ np.linalg.inv(S)
        x_ref[t] = x_ref[t] + K @ (z[m] - H @ x_ref[t])
        P_ref[t] = (np.eye(4) - K @ H) @ P_ref[t]
    correct_kernel(x, P, rows, z, r)
    assert np.allclose(x, x_ref) and np.allclose(P, P_ref)


def test_body_kernel_matches_the_reference(rng):
    from toppose.runtime.track_kernels import body_kernel
    from toppose.runtime.track_pieces import RIGID_MASK, TORSO_MASK

    a, b = Tracker(), Tracker()
    kept = random_people(rng, 10, drop=0.2)
    kept[:, [1, 2, 5, 8, 11], 2] = 1                  # kept as whole poses
    for tr in (a, b):
        tr._spawn(kept, fast_centres(kept)[0])
    dets = random_people(rng, 6, drop=0.3)
    dets[:3, [1, 2, 5, 8, 11], 2] = 1                 # three with the whole torso, the rest maybe not
    dets[3:5, 8] = 0                                  # two without a hip: not whole, shoulders filled or not
    dets[5] = 0
    dets[5, 13] = [50, 60, 1]                         # one ankle the kept pose may lack
    rows = np.array([0, 2, 4, 6, 8, 9])
    centres = fast_centres(dets)[0]
    body_kernel(rows, dets, centres, TORSO_MASK[:18], RIGID_MASK[:18], a.whole_kp, a.whole_c, a.offset)
    body_reference(b, rows, dets, centres)
    assert np.allclose(a.offset, b.offset, atol=1e-4) and np.allclose(a.whole_kp, b.whole_kp)
    assert (a.offset[rows[:3]] == 0).all() and (np.abs(a.offset[rows[3:5]]).sum(1) > 0).all()


def test_pieces_kernel_merges_like_the_reference_and_gives_the_merged_centres(rng):
    from toppose.codec.poses import Poses
    from toppose.runtime.track_kernels import pieces_kernel
    from toppose.runtime.track_pieces import TORSO_MASK, merge_reference

    merged_any = False
    for _ in range(20):
        kp = random_people(rng, 8, drop=0.6)
        kp[4:, :, :2] = kp[:4, :, :2] + rng.normal(0, 8, (4, 18, 2))
        kp[kp[..., 2] == 0] = 0
        scores = rng.random(8).astype(np.float32)
        ref = merge_reference(Poses(kp, scores, (kp[..., 2] > 0).sum(1).astype(np.int32)), 36.0)
        work, sc = kp.copy(), scores.copy()
        alive, centres, ok = np.ones(8, bool), np.empty((8, 2)), np.empty(8, bool)
        n = pieces_kernel(work, sc, TORSO_MASK[:18], 36.0, 35.0, 1, np.zeros(8, bool), alive, centres, ok)
        merged_any |= n > 0
        assert n == 8 - len(ref) and alive.sum() == len(ref)
        assert np.allclose(work[alive], ref.keypoints) and np.allclose(sc[alive], ref.scores)
        ref_c, ref_ok = body_centres(ref.keypoints)
        assert np.allclose(centres[alive], ref_c, atol=1e-4) and (ok[alive] == ref_ok).all()
    assert merged_any
