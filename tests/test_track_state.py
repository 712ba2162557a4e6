"""The tracker's state kernels (matches, the frame's report) against their NumPy references."""

import numpy as np

from toppose.runtime.track_pieces import RIGID_MASK, TORSO_MASK, fast_centres
from toppose.runtime.track_reference import match_reference, report_reference
from toppose.runtime.track_state import match_kernel, report_kernel
from toppose.runtime.tracking import Tracker, TrackerConfig


def people(rng, n):
    kp = np.zeros((n, 18, 3), np.float32)
    kp[..., :2] = rng.uniform(0, 320, (n, 1, 2)) + rng.normal(0, 15, (n, 18, 2))
    kp[..., 2] = rng.random((n, 18)) > 0.3
    kp[kp[..., 2] == 0] = 0
    return kp


def two_trackers(rng):
    kept = people(rng, 8)
    pair = Tracker(TrackerConfig(min_hits=3)), Tracker(TrackerConfig(min_hits=3))
    for tr in pair:
        tr._spawn(kept, fast_centres(kept)[0])
        tr.hits[:] = [1, 2, 2, 3, 5, 1, 2, 1]
        tr.ids[[3, 4]] = [1, 2]
        tr.misses[:] = [0, 1, 0, 2, 0, 9, 0, 0]
        tr.next_id = 3
        tr.x[:, 2:] = 2.0
        tr._predict()
    return pair


def test_match_kernel_matches_the_reference(rng):
    a, b = two_trackers(rng)
    dets = people(rng, 6)
    centres = fast_centres(dets)[0]
    ages = rng.integers(1, 13, (8, 18))
    for tr in (a, b):
        tr.mem[:, :, 2] *= ages                              # remembered for 0-11 frames: some forgotten now
        tr.kp[4] = 0                                         # a last pose sharing nothing: memory moves it
        tr.kp[4, 0] = [5, 5, 1]
    dets[2, 0, 2] = 0
    t, d = np.array([1, 2, 4, 6], np.int64), np.array([5, 0, 2, 3], np.int64)
    det_ids = np.full(6, -1, np.int64)
    a.next_id = match_kernel(t, d, dets, centres, TORSO_MASK[:18], RIGID_MASK[:18], a.cfg.meas_std ** 2, a.cfg.max_age,
                             (240, 320), a._state(), a.ids, a.hits, a.misses, a.next_id, a.cfg.min_hits, det_ids)
    ref = match_reference(b, t, d, dets, centres, (240, 320))
    assert (det_ids == ref).all() and a.next_id == b.next_id == 6   # tracks 1, 2 and 6 reached 3 hits
    for name in ("x", "P", "kp", "centre_kp", "whole_kp", "whole_c", "offset", "mem", "ids", "hits", "misses"):
        assert np.allclose(getattr(a, name), getattr(b, name)), name
    assert a.misses.tolist() == [1, 0, 0, 3, 0, 10, 0, 1]
    assert (a.mem[t, :, 2] <= a.cfg.max_age + 1).all() and (b.mem[t, :, 2] > 1).any()
    known = a.mem[t, :, 2] > 1                               # nothing remembered unseen outside the image
    assert ((a.mem[t, :, 0] >= 0) & (a.mem[t, :, 0] < 320) & (a.mem[t, :, 1] >= 0) & (a.mem[t, :, 1] < 240))[known].all()


def test_report_kernel_matches_the_reference(rng):
    tracker = two_trackers(rng)[0]
    tracker.ids[:] = [4, -1, 5, 6, 7, 8, 9, -1]
    tracker.offset[:] = rng.normal(0, 5, (8, 2))
    tracker.kp[:, :, 2] = 0
    tracker.kp[2, 2:15, 2] = 1                                # 13 without the neck (the shoulders' midpoint): clear
    tracker.whole_kp[:, :, 2] = 0
    turn = np.array([[np.cos(0.5), -np.sin(0.5)], [np.sin(0.5), np.cos(0.5)]])
    tracker.whole_kp[[4, 6], :, :2] = tracker.kp[[4, 6], :, :2] @ turn.T + [7, -4]   # turned and moved as one
    tracker.kp[4, 2:15, 2] = 1                                # 12 without the neck and a hip, 3 torso ...
    tracker.kp[4, 8, 2] = 0
    tracker.whole_kp[4, [2, 5, 11], 2] = 1                    # ... keypoints in the last whole pose, but ...
    tracker.whole_kp[4, 11, :2] += [15, 15]                   # ... not moving as one body with it: not clear
    tracker.kp[6, [0, 2, 5, 16], 2] = 1                       # 4 torso and head keypoints, 3 of them ...
    tracker.whole_kp[6, [0, 2, 5, 8], 2] = 1                  # ... in the last whole pose: clear
    n = len(tracker.ids)
    ids, centres, clear = np.empty(n, np.int64), np.empty((n, 2)), np.empty(n, bool)
    k = report_kernel(tracker.ids, tracker.misses, tracker.cfg.coast, tracker.cfg.clear_parts, tracker.cfg.fit_parts,
                      tracker.cfg.fit_rms, TORSO_MASK[:18], RIGID_MASK[:18], tracker._state(), ids, centres, clear)
    ref_ids, ref_centres, ref_clear = report_reference(tracker)
    assert k == 5 and ids[:k].tolist() == ref_ids.tolist() == [4, 5, 6, 7, 9]   # 8 coasted too long
    assert np.allclose(centres[:k], ref_centres) and (clear[:k] == ref_clear).all()
    assert clear[:k].tolist() == [False, True, False, False, True]
