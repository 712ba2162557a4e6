"""Training the lifting offsets: a tiny run fits better than the constant baseline; the file loads back."""

import numpy as np
from typer.testing import CliRunner

from corpus import check
from toppose.lift import LiftModel
from toppose.train.lift import FitConfig, LiftRecipe, app, render_set, train_lift

runner = CliRunner()


def test_a_tiny_run_beats_the_constant_offsets_and_records_its_recipe(tmp_path):
    recipe = LiftRecipe(frames=120, seed=5)
    meta = train_lift(tmp_path / "m.npz", recipe, FitConfig(hidden=64, steps=400, batch=256), log=lambda *_: None)
    model = LiftModel.load(tmp_path / "m.npz")
    assert model.meta == meta and meta["recipe"]["seed"] == 5 and meta["fit"]["steps"] == 400
    feats, targets, mask = render_set(LiftRecipe(frames=20, seed=6))  # frames it never saw
    learned = np.abs(model.offsets(feats) - targets)[mask].mean()
    constant = np.abs(model.offsets(feats, learned=False) - targets)[mask].mean()
    assert learned < 0.7 * constant  # mean absolute offset error, metres


def test_the_same_recipe_renders_the_same_samples():
    a, b = render_set(LiftRecipe(frames=6, seed=3)), render_set(LiftRecipe(frames=6, seed=3), workers=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_pose_model_adds_its_own_keypoints_as_one_more_copy():
    from toppose.runtime.stream import bundled_model

    plain = render_set(LiftRecipe(frames=6, seed=3))
    with_model = render_set(LiftRecipe(frames=6, seed=3, model=str(bundled_model())))
    people = len(plain[0]) // LiftRecipe.copies
    assert people <= len(with_model[0]) - len(plain[0]) <= people and people > 0  # one model copy per person
    np.testing.assert_array_equal(with_model[0][:LiftRecipe.copies], plain[0][:LiftRecipe.copies])


def test_cli_refuses_bad_options(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"x")
    check(app, ["--out", tmp_path / "m.npz"], "m.npz: exists (add --force", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", "--frames", 3], "--frames must be >= 10", tmp_path)
    check(app, ["--out", tmp_path / "n.npz", "--model", tmp_path / "none.onnx"], "none.onnx: no such file", tmp_path)
