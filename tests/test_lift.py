"""Lifting 2-D keypoints to camera-frame metres: exact on a flat surface, close on rendered bodies,
the learned offsets better than the constant baseline on every ITOP joint."""

import json

import numpy as np
import pytest

from toppose.camera import ITOP, Intrinsics
from toppose.itop_eval import precision
from toppose.lift import GLOBAL, LIFTED, FEATURES, LiftModel, depth_metres, to_itop
from toppose.runtime.space import bundled_lifter
from toppose.skeleton import ITOP_TORSO, NUM_OPENPOSE, openpose_from_itop
from toppose.synth.scenes import random_scene

D = len(LIFTED) * FEATURES + GLOBAL


def _model(offset: float = 0.0, layers: bool = False, lateral: tuple[float, float] | None = None) -> LiftModel:
    """A model whose every offset is ``offset``: no layers (constant) or an MLP with zero weights;
    ``lateral``: the MLP also outputs this x, y correction (metres) for every keypoint."""
    bias = np.full(len(LIFTED), offset, np.float32)
    if lateral is not None:
        bias = np.concatenate([bias, np.full(len(LIFTED), lateral[0]), np.full(len(LIFTED), lateral[1])])
    mats = [(np.zeros((D, 4), np.float32), np.zeros(4, np.float32)),
            (np.zeros((4, len(bias)), np.float32), bias.astype(np.float32))] if layers or lateral else []
    return LiftModel(mats, np.zeros(D), np.ones(D), np.full(len(LIFTED), offset), {})


def _keypoints(uv: np.ndarray) -> np.ndarray:
    kp = np.zeros((1, NUM_OPENPOSE, 3), np.float32)
    kp[0, LIFTED, :2], kp[0, LIFTED, 2] = uv, 1.0
    return kp


@pytest.mark.parametrize("layers", [False, True], ids=["constant", "mlp"])
def test_flat_surface_at_known_depth_lifts_exactly(layers):
    intr = Intrinsics(200, 100, 180.0, 170.0, 97.5, 52.0)
    depth = np.full((100, 200), 2.5, np.float32)
    uv = np.stack([np.linspace(10, 190, len(LIFTED)), np.linspace(5, 95, len(LIFTED))], -1).astype(np.float32)
    uv = np.rint(uv)
    pts = _model(0.1, layers).lift(_keypoints(uv), depth, intr)[0]
    z = 2.6
    expected = np.stack([(uv[:, 0] - intr.cx) * z / intr.fx, -(uv[:, 1] - intr.cy) * z / intr.fy,
                         np.full(len(uv), z)], -1)
    np.testing.assert_allclose(pts[LIFTED], expected, atol=1e-5)
    assert np.isnan(pts[14:]).all()  # eyes and ears: not lifted


def test_a_lateral_correction_moves_each_point_off_its_ray_by_exactly_that_much():
    intr = Intrinsics(200, 100, 180.0, 170.0, 97.5, 52.0)
    depth = np.full((100, 200), 2.5, np.float32)
    uv = np.rint(np.stack([np.linspace(10, 190, len(LIFTED)), np.linspace(5, 95, len(LIFTED))], -1))
    kp = _keypoints(uv.astype(np.float32))
    plain = _model(0.1, layers=True).lift(kp, depth, intr)[0]
    moved = _model(0.1, lateral=(0.03, -0.02)).lift(kp, depth, intr)[0]
    np.testing.assert_allclose(moved[LIFTED] - plain[LIFTED], np.tile([0.03, -0.02, 0.0], (len(LIFTED), 1)), atol=1e-6)
    baseline = _model(0.1, lateral=(0.03, -0.02)).lift(kp, depth, intr, learned=False)[0]
    np.testing.assert_allclose(baseline[LIFTED], plain[LIFTED], atol=1e-6)  # the constant baseline has none
    kp[0, LIFTED[0], 2] = 0.0
    assert np.isnan(_model(0.1, lateral=(0.03, -0.02)).lift(kp, depth, intr)[0, LIFTED[0]]).all()


def test_missing_keypoints_holes_and_thin_people_get_no_value():
    depth = np.full((240, 320), 2.0, np.float32)
    depth[100:120, 100:120] = 0.0  # a hole wider than the 9x9 window
    uv = np.tile([[50.0, 50.0]], (len(LIFTED), 1))
    uv[0], uv[1] = (110, 110), (-30, 40)  # in the hole; outside the frame
    kp = _keypoints(uv)
    kp[0, LIFTED[2], 2] = 0.0  # not detected
    pts = _model().lift(kp, depth, ITOP)[0]
    assert np.isnan(pts[LIFTED[:3]]).all() and np.isfinite(pts[LIFTED[3:]]).all()
    few = _keypoints(uv)
    few[0, LIFTED[4:], 2] = 0.0  # two keypoints with a surface: too few to trust a reference depth
    assert np.isnan(_model().lift(few, depth, ITOP)).all()
    assert _model().lift(np.zeros((0, NUM_OPENPOSE, 3), np.float32), depth, ITOP).shape == (0, NUM_OPENPOSE, 3)


def test_depth_in_millimetres_and_metres_agree():
    mm = np.array([[0, 1500], [2750, 65535]], np.uint16)
    np.testing.assert_allclose(depth_metres(mm), [[0, 1.5], [2.75, 65.535]], rtol=1e-6)
    m = np.array([[np.nan, 1.5], [-1.0, np.inf]], np.float16)
    np.testing.assert_array_equal(depth_metres(m), [[0, 1.5], [0, 0]])


def test_torso_is_derived_on_the_pelvis_to_neck_segment():
    pts = np.full((1, NUM_OPENPOSE, 3), np.nan, np.float32)
    pts[0, 1], pts[0, 8], pts[0, 11] = (0, 0.3, 1), (0.1, 0, 1), (-0.1, 0, 1)
    itop = to_itop(pts)[0]
    np.testing.assert_allclose(itop[ITOP_TORSO], [0, 0.16, 1], atol=1e-6)
    pts[0, 11] = np.nan
    assert np.isnan(to_itop(pts)[0, ITOP_TORSO]).all()


def test_a_file_that_is_not_a_lifting_model_is_refused(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="x.npz: not a toppose lifting model"):
        LiftModel.load(tmp_path / "x.npz")
    np.savez(tmp_path / "small.npz", W0=np.zeros((5, 3)), b0=np.zeros(3), mean=np.zeros(5), std=np.ones(5),
             constant=np.zeros(14), meta=np.array(json.dumps({})))
    with pytest.raises(ValueError, match="expects 5 inputs"):
        LiftModel.load(tmp_path / "small.npz")
    np.savez(tmp_path / "outputs.npz", W0=np.zeros((D, 2 * len(LIFTED))), b0=np.zeros(2 * len(LIFTED)),
             mean=np.zeros(D), std=np.ones(D), constant=np.zeros(14), meta=np.array(json.dumps({})))
    with pytest.raises(ValueError, match=f"gives {2 * len(LIFTED)} outputs"):
        LiftModel.load(tmp_path / "outputs.npz")


@pytest.fixture(scope="module")
def rendered():
    """40 rendered ITOP-like frames (sensor noise on; a seed the lifter never saw), true 2-D keypoints."""
    frames = [random_scene(np.random.default_rng([4242, i]), "top", (1, 1), fully_in_view=True) for i in range(40)]
    kps = np.stack([openpose_from_itop(f.joints_uv[0], f.visible[0], f.depth.shape)[0] for f in frames])
    return frames, kps, np.stack([f.joints_cam[0] for f in frames])


def _lift_all(model, frames, kps, learned):
    return np.concatenate([to_itop(model.lift(kp[None], f.depth, ITOP, learned)) for f, kp in zip(frames, kps)])


def test_rendered_bodies_are_lifted_within_a_few_centimetres(rendered):
    frames, kps, truth = rendered
    pred = _lift_all(LiftModel.load(bundled_lifter()), frames, kps, True)
    err = np.linalg.norm(pred - truth, axis=-1)
    assert np.isfinite(err).mean() > 0.97
    assert np.nanmedian(err) < 0.05 and precision(pred, truth).mean() >= 0.9


def test_learned_offsets_beat_the_constant_baseline_on_every_joint(rendered):
    frames, kps, truth = rendered
    model = LiftModel.load(bundled_lifter())
    learned = precision(_lift_all(model, frames, kps, True), truth)
    constant = precision(_lift_all(model, frames, kps, False), truth)
    assert (learned >= constant).all(), (learned, constant)
    assert learned.mean() > constant.mean() + 0.25
