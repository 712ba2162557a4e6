"""Training the lifting offsets: a tiny run fits better than the constant baseline; the file loads back."""

import numpy as np
from typer.testing import CliRunner

from corpus import check
from toppose.camera import Intrinsics
from toppose.lift import LIFTED, LiftModel, lift_features
from toppose.train.lift import FitConfig, LiftRecipe, app, render_set, sample_targets, train_lift

runner = CliRunner()


def test_a_tiny_run_beats_the_constant_offsets_and_records_its_recipe(tmp_path):
    recipe = LiftRecipe(frames=120, seed=5)
    meta = train_lift(tmp_path / "m.npz", recipe, FitConfig(hidden=64, steps=400, batch=256), log=lambda *_: None)
    model = LiftModel.load(tmp_path / "m.npz")
    assert model.meta == meta and meta["recipe"]["seed"] == 5 and meta["fit"]["steps"] == 400
    assert model.has_lateral and meta["outputs"] == "offsets + lateral x, y" and "--hidden 64" in meta["command"]
    assert model.layers[0][0].shape[1] == 64
    feats, targets, mask, weight = render_set(LiftRecipe(frames=20, seed=6))  # frames it never saw
    assert (weight == 1).all()  # no pose model: jittered true keypoints only
    L = len(LIFTED)
    learned = np.abs(model.offsets(feats) - targets[:, :L])[mask[:, :L]].mean()
    constant = np.abs(model.offsets(feats, learned=False) - targets[:, :L])[mask[:, :L]].mean()
    assert learned < 0.7 * constant  # mean absolute offset error, metres


def test_without_lateral_the_model_learns_offsets_only(tmp_path):
    recipe = LiftRecipe(frames=20, seed=5, lateral=False)
    meta = train_lift(tmp_path / "m.npz", recipe, FitConfig(hidden=16, steps=20, batch=64), log=lambda *_: None)
    model = LiftModel.load(tmp_path / "m.npz")
    assert not model.has_lateral and meta["outputs"] == "offsets" and meta["command"].endswith("--no-lateral")
    assert model.corrections(render_set(recipe)[0])[1] is None


def test_targets_are_the_offset_along_the_ray_and_the_side_step_to_the_truth():
    intr = Intrinsics(200, 100, 100.0, 100.0, 100.0, 50.0)
    depth = np.full((100, 200), 2.0, np.float32)
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, LIFTED, 0], kp[0, LIFTED, 1], kp[0, LIFTED, 2] = np.arange(len(LIFTED)) * 10 + 20, 50.0, 1.0
    inputs = lift_features(kp, depth, intr)
    truth = np.stack([(kp[0, LIFTED, 0] - 100) * 2.3 / 100 + 0.05, np.full(len(LIFTED), -0.04),
                      np.full(len(LIFTED), 2.3)], -1)  # 0.3 m behind the surface, 5 cm right and 4 cm down
    target, mask = sample_targets(inputs, truth, lateral=True)
    L = len(LIFTED)
    assert target.shape == mask.shape == (1, 3 * L) and mask.all()
    np.testing.assert_allclose(target[0], np.concatenate([np.full(L, 0.3), np.full(L, 0.05), np.full(L, -0.04)]),
                               atol=1e-5)
    offsets, only = sample_targets(inputs, truth, lateral=False)
    np.testing.assert_allclose(offsets, target[:, :L])
    np.testing.assert_array_equal(only, mask[:, :L])


def test_the_same_recipe_renders_the_same_samples():
    a, b = render_set(LiftRecipe(frames=6, seed=3)), render_set(LiftRecipe(frames=6, seed=3), workers=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_pose_model_adds_its_own_keypoints_in_each_view_as_weighted_copies():
    from toppose.runtime.stream import bundled_model

    plain = render_set(LiftRecipe(frames=6, seed=3))
    people = len(plain[0]) // LiftRecipe.copies
    for views in (1, 2):
        with_model = render_set(LiftRecipe(frames=6, seed=3, model=str(bundled_model()), model_views=views,
                                           model_weight=2.5))
        added = len(with_model[0]) - len(plain[0])
        assert people * views - 1 <= added <= people * views and people > 0  # a copy per person and view, if found
        np.testing.assert_array_equal(with_model[0][:LiftRecipe.copies], plain[0][:LiftRecipe.copies])
        assert sorted(set(with_model[3])) == [1.0, 2.5] and (with_model[3] == 2.5).sum() == added


def test_keypoints_found_in_a_flipped_view_are_mapped_back_to_the_frame(monkeypatch):
    """A stand-in pose model that finds one keypoint where it sees a bright blob: in every view the
    keypoint comes back to the blob's pixel, and a mirror's left becomes the person's right."""
    import toppose.train.lift as tl

    depth = np.zeros((48, 64), np.float32)
    depth[10, 50] = 1.0

    class Blob:
        def __call__(self, seen):
            kp = np.zeros((1, 18, 3), np.float32)
            v, u = np.unravel_index(np.argmax(seen), seen.shape)
            kp[0, 2] = (u, v, 1.0)                               # found as the right shoulder
            return type("P", (), {"keypoints": kp})(), None
    monkeypatch.setitem(tl._ESTIMATORS, "blob", Blob())
    recipe = LiftRecipe(model="blob")
    for view in tl.VIEWS:
        kp = tl._model_keypoints(recipe, depth, view)
        mirrored = view[0] != view[1]
        shoulder = 5 if mirrored else 2                          # the left shoulder when seen in a mirror
        assert tuple(kp[0, shoulder]) == (50.0, 10.0, 1.0) and kp[0, 7 - shoulder, 2] == 0


def test_cli_refuses_bad_options(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"x")
    check(app, ["--out", tmp_path / "m.npz"], "m.npz: exists (add --force", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", "--frames", 3], "--frames must be >= 10", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", "--hidden", 0], "--hidden and --workers >= 1", tmp_path)
    from toppose.runtime.stream import bundled_model

    model = ["--model", bundled_model()]
    check(app, ["--out", tmp_path / "n.npz", *model, "--model-views", 5], "--model-views must be 1 to 4", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", *model, "--model-weight", 0], "--model-weight > 0", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", "--model-views", 2], "--model-views and --model-weight are about "
          "--model's keypoints: add --model", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", "--model", tmp_path / "none.onnx"], "none.onnx: no such file", tmp_path)
