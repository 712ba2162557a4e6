"""The floor by RANSAC on rendered frames from tilted cameras, heights above it, the lying flag."""

import numpy as np
import pytest

from toppose.camera import Intrinsics
from toppose.floor import FloorTracker, fit_plane, heights, person_heights, points_from_depth
from toppose.lift import LiftModel
from toppose.runtime.space import bundled_lifter
from toppose.skeleton import openpose_from_itop
from toppose.synth.body import Body, place, sample_pose
from toppose.synth.render import Camera
from toppose.synth.scenes import render


def _intr(camera: Camera) -> Intrinsics:
    cx, cy, kx, ky = camera.intr
    return Intrinsics(320, 240, 1 / kx, 1 / ky, cx, cy)


def _truth(camera: Camera) -> np.ndarray:
    n, d = camera.floor_plane()[:3], camera.floor_plane()[3]  # n . p = d, n up
    return np.append(n, -d)


def _scene(seed: int, family: str, tilt: float, height: float = 3.0):
    rng = np.random.default_rng(seed)
    camera = Camera.top(height, tilt_deg=tilt, azimuth=float(rng.uniform(0, 2 * np.pi)))
    xy = tuple(camera.floor_centre() + rng.uniform(-0.3, 0.3, 2))
    person = place(Body.random(rng), sample_pose(rng, family), xy, float(rng.uniform(0, 2 * np.pi)), family, rng)
    box = np.array([[xy[0] + 0.8, xy[1] - 0.3, 0.0], [xy[0] + 1.4, xy[1] + 0.3, 0.75]])  # a table top: a plane too
    return camera, render(camera, [person], [box], rng, [family])


@pytest.mark.parametrize("tilt", [0.0, 12.0, 25.0])
def test_the_floor_of_tilted_cameras_is_found_despite_people_and_furniture(tilt):
    camera, frame = _scene(int(tilt), "standing", tilt)
    plane = fit_plane(points_from_depth(frame.depth, _intr(camera)), np.random.default_rng(0))
    truth = _truth(camera)
    assert np.degrees(np.arccos(min(1.0, plane[:3] @ truth[:3]))) < 1.5
    assert abs(plane[3] - truth[3]) < 0.03  # camera height, metres
    feet = camera.to_camera(np.array([[0.3, 0.2, 0.0], [-1.0, 0.5, 1.2]]))  # world points on / above the floor
    np.testing.assert_allclose(heights(feet, plane), [0.0, 1.2], atol=0.04)


def test_no_plane_in_too_few_points_or_a_wall_seen_edge_on():
    rng = np.random.default_rng(0)
    assert fit_plane(rng.normal(size=(50, 3)), rng) is None
    wall = np.stack([np.full(2000, 1.0), rng.uniform(-1, 1, 2000), rng.uniform(1, 3, 2000)], -1)  # x = 1: faces sideways
    assert fit_plane(wall, rng) is None


def test_the_tracker_refits_slowly():
    camera, frame = _scene(3, "standing", 0.0)
    tracker = FloorTracker(refresh=3, blend=0.5)
    intr = _intr(camera)
    first = tracker.update(frame.depth, intr).copy()
    lower = frame.depth + np.float32(0.2)  # the floor seems 20 cm further away
    assert np.array_equal(tracker.update(lower, intr), first)  # not due yet
    tracker.update(lower, intr)
    moved = tracker.update(lower, intr)  # the 4th frame refits and moves halfway
    assert 0.05 < moved[3] - first[3] < 0.15
    assert tracker.update(np.zeros_like(lower), intr) is moved  # nothing to fit: the plane stays


@pytest.mark.parametrize("seed", range(8))
def test_lying_people_are_flagged_and_standing_or_sitting_ones_are_not(seed):
    lifter = LiftModel.load(bundled_lifter())
    for family, lying in (("lying", True), (("standing", "sitting", "crouching", "bending")[seed % 4], False)):
        camera, frame = _scene(100 + seed, family, 8.0 * (seed % 3))
        intr = _intr(camera)
        kp = openpose_from_itop(frame.joints_uv[0], frame.visible[0], frame.depth.shape)[0]
        points = lifter.lift(kp[None], frame.depth, intr)[0]
        plane = FloorTracker().update(frame.depth, intr)
        h = person_heights(points, plane)
        assert h["lying"] is lying, (family, h)
        if frame.in_frame[0, 0]:
            assert abs(h["head"] - heights(frame.joints_cam[0, 0], _truth(camera))) < 0.1


def test_heights_are_unknown_without_the_joints():
    plane = np.array([0, 0, -1.0, 3.0])  # camera 3 m above the floor, looking straight down
    points = np.full((18, 3), np.nan)
    assert person_heights(points, plane) == {"head": None, "pelvis": None, "lying": None}
    points[8] = [0, 0, 2.9]
    assert person_heights(points, plane) == {"head": None, "pelvis": 0.1, "lying": None}  # no neck
    points[1] = [0.5, 0, 2.85]  # a level torso near the floor
    assert person_heights(points, plane)["lying"] is True
    points[1] = [0.1, 0, 2.4]   # the torso upright: sitting on the floor, not lying
    assert person_heights(points, plane)["lying"] is False
