import numpy as np
import pytest

from toppose.synth.render import Camera
from toppose.synth.scenes import render
from toppose.synth.sensors import D435, XTION, apply_sensor, depth_edges, occluded_from_offset

BOX = np.array([[-0.4, -0.3, 0.0], [0.4, 0.3, 1.0]])  # 1 m high box under the camera


def _box_scene(sensor: str, seed: int = 0, height: float = 3.0):
    return render(Camera.top(height), [], [BOX], np.random.default_rng(seed), sensor=sensor)


def _box_columns(frame):
    """Rows crossing the box, and the box's first and last column in the clean map."""
    top = frame.clean < 2.5
    rows = np.nonzero(top.any(1))[0][3:-3]
    cols = np.nonzero(top.any(0))[0]
    return rows, cols[0], cols[-1]


def test_xtion_shadows_a_band_on_one_side_of_depth_edges():
    frame = _box_scene("xtion")
    rows, left, right = _box_columns(frame)
    fx = 1.0 / frame.intrinsics[2]
    width = fx * XTION.baseline_m * (1 / 2.0 - 1 / 3.0)  # disparity step from the box top to the floor
    band = int(np.floor(width)) - 1
    assert band >= 2
    before = frame.depth[rows, left - band:left]   # floor just left of the box
    after = frame.depth[rows, right + 1:right + 1 + band]  # floor just right of it
    assert (before == 0).mean() > 0.95
    assert (after == 0).mean() < 0.05
    floor = frame.depth[rows, :left - band - 3]
    assert (floor == 0).mean() < 0.02  # away from the edge only the rare speckle


def test_xtion_quantises_disparity():
    frame = render(Camera.top(3.0), [], [], np.random.default_rng(1), sensor="xtion")
    z = frame.depth[frame.depth > 0].astype(np.float64)
    fb = 2 * (1.0 / frame.intrinsics[2]) * XTION.baseline_m  # native 640-wide focal length
    steps = fb / z / XTION.disparity_step
    assert np.abs(steps - np.round(steps)).max() < 0.02
    assert 3 <= len(np.unique(np.round(steps))) <= 20


def test_d435_noise_grows_with_the_square_of_depth():
    spread = {}
    for h in (1.5, 3.0):
        frame = render(Camera.top(h), [], [], np.random.default_rng(2), sensor="d435")
        ok = frame.depth > 0
        err = frame.depth[ok].astype(np.float64) - frame.clean[ok]
        spread[h] = err.std()
        assert err.std() == pytest.approx(float(D435.rms_m(np.array(h))), rel=0.1)
    assert 3.0 < spread[3.0] / spread[1.5] < 5.0
    assert float(D435.rms_m(np.array(2.0))) <= 0.02 * 2.0  # datasheet: <= 2 % RMS at 2 m


def test_d435_flying_pixels_and_occlusion_holes_at_edges():
    frame = _box_scene("d435", seed=3)
    edge, near = depth_edges(frame.clean.astype(np.float64))
    inside = edge & (frame.depth > 0)
    between = (frame.depth[inside] < frame.clean[inside] - 0.05) & (frame.depth[inside] > near[inside] + 0.05)
    assert between.mean() > 0.3
    hidden = occluded_from_offset(frame.clean.astype(np.float64), 1.0 / frame.intrinsics[2], D435.baseline_m)
    assert hidden.sum() > 50 and (frame.depth[hidden] == 0).all()


def test_d435_low_texture_holes_cover_part_of_an_empty_floor():
    frame = render(Camera.top(3.0), [], [], np.random.default_rng(4), sensor="d435")
    holes = (frame.depth == 0).mean()
    assert 0.02 < holes < 0.1


def test_none_is_the_clean_render_and_unknown_sensors_are_refused():
    frame = _box_scene("none")
    assert np.array_equal(frame.depth, frame.clean)
    with pytest.raises(ValueError, match="unknown sensor"):
        apply_sensor("kinect9", frame.clean, 285.0, np.random.default_rng(0))
