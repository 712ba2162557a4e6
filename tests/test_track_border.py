"""People at the image border: remnants of someone mostly out of view keep their id."""

import numpy as np

from tests.test_tracking import frame, ids_by_position, part, person, poses_of
from toppose.runtime.track_border import outward_speed
from toppose.runtime.tracking import Tracker


def test_outward_speed_is_the_velocity_towards_the_nearest_border():
    centres = np.array([[5.0, 120.0], [315.0, 120.0], [160.0, 3.0], [160.0, 230.0]])
    velocity = np.array([[-2.0, 9.0], [-2.0, 9.0], [1.0, -4.0], [5.0, -1.0]])
    assert outward_speed(centres, velocity, (240, 320)).tolist() == [2.0, -2.0, 4.0, -1.0]


def test_someone_walking_along_the_border_showing_one_changing_keypoint_keeps_the_id():
    tracker = Tracker()
    seen = [ids_by_position(tracker, frame((100, 100 - 10 * t))) for t in range(12)]   # up to the top border
    for t in range(8):                  # along it, mostly out of view: one ankle in view
        seen.append(tracker.update(poses_of(part(person(112 + 4 * t, -26), [10])), (240, 320)).ids.tolist())
    for _ in range(2):                  # nothing in view
        seen.append(tracker.update(frame(), (240, 320)).ids.tolist())
    for t in range(3):                  # then a wrist, 30 px from where the ankle was, never seen together
        seen.append(tracker.update(poses_of(part(person(150 + 4 * t, -18), [4])), (240, 320)).ids.tolist())
    seen += [ids_by_position(tracker, frame((160, -10 + 8 * t))) for t in range(15)]   # back into view
    assert seen[20:22] == [[], []] and all(s == [1] for s in seen[3:20] + seen[22:]) and tracker.next_id == 2


def test_a_remnant_moving_out_does_not_take_a_piece_walking_in_beside_it():
    tracker = Tracker()
    seen = [ids_by_position(tracker, frame((100, 150 - 7 * t))) for t in range(20)]  # A walks up at 7 px / frame
    for t in range(4):                  # then only A's ankles, still 7 px / frame towards the top border
        seen.append(tracker.update(poses_of(part(person(100, 10 - 7 * t), [10, 13])), (240, 320)).ids.tolist())
    seen.append(tracker.update(poses_of(part(person(140, -15), [4])), (240, 320)).ids.tolist())  # B's wrist
    seen += [ids_by_position(tracker, frame((140, -10 + 8 * t))) for t in range(15)]  # B walks in
    assert seen[23] == [1] and seen[-1] == [2] and tracker.next_id == 3
