import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.data.format import load_dataset, people_by_image, person_annotation
from toppose.evaluation import coco_stats, evaluate, per_joint
from toppose.skeleton import NECK_SIGMA, OPENPOSE18
from toppose.synth.writers import write_training
from toppose.train.eval_cli import app as eval_app

NECK = OPENPOSE18.keypoints.index("neck")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    write_training(root / "d", "top", 8, seed=1, people=(1, 2), fully_in_view=True)
    return root / "d"


def _truth_as_predictions(dataset: dict) -> dict[int, Poses]:
    preds = {}
    for image_id, people in people_by_image(dataset).items():
        kp = people.copy()
        kp[..., 2] = (kp[..., 2] > 0).astype(np.float32)
        preds[image_id] = Poses(kp, np.ones(len(kp), np.float32), (kp[..., 2] > 0).sum(1).astype(np.int32))
    return preds


def test_ground_truth_as_predictions_scores_ap_1(data):
    ds = load_dataset(data)
    result = evaluate(ds, _truth_as_predictions(ds))
    assert result.stats["AP"] == pytest.approx(1.0)
    assert all(row["pck"] == 1.0 for row in result.per_joint if row["labelled"])


def test_per_joint_oks_of_the_neck_uses_the_neck_sigma():
    kp = np.zeros((18, 3), np.float32)
    kp[:14] = [[100 + 10 * j, 100 + 5 * j, 2] for j in range(14)]
    ann = {"id": 1, "image_id": 1, "keypoints": kp.ravel().tolist(), "area": 900.0, "bbox": [100, 100, 130, 65]}
    dataset = {"images": [{"id": 1, "width": 320, "height": 240}], "annotations": [ann]}
    found = kp.copy()
    found[:, 2] = (kp[:, 2] > 0)
    found[NECK, 0] += 6.0  # the neck 6 px off, every other keypoint exact
    rows = per_joint(dataset, {1: Poses(found[None], np.ones(1, np.float32), np.array([14], np.int32))})
    expected = np.exp(-36.0 / (2 * 900.0 * (2 * NECK_SIGMA) ** 2))
    assert rows[NECK]["keypoint"] == "neck" and rows[NECK]["oks"] == pytest.approx(expected)
    assert rows[0]["oks"] == pytest.approx(1.0) and rows[14]["labelled"] == 0


def test_evaluating_an_onnx_model_decodes_with_its_own_settings(data, tmp_path, with_metadata):
    runner = CliRunner()
    counts = {}
    for name, edit in (("as-exported", lambda d: None), ("min-parts-19", lambda d: d["decoder"].update(min_parts=19))):
        model = with_metadata(edit, f"{name}.onnx")
        res = runner.invoke(eval_app, ["--data", str(data), "--model", str(model), "--out", str(tmp_path / f"{name}.json")])
        assert res.exit_code == 0, res.output
        counts[name] = len(json.loads((tmp_path / f"{name}.json").read_text())["detections"])
    assert counts["as-exported"] > 0 and counts["min-parts-19"] == 0  # nobody has 19 of 18 parts


def _person(x0, labelled):
    kp = np.zeros((18, 3), np.float32)
    body = np.array([(0, -40), (0, -30), (-15, -28), (-22, -8), (-25, 10), (15, -28), (22, -8), (25, 10),
                     (-10, 5), (-11, 28), (-12, 50), (10, 5), (11, 28), (12, 50)], np.float32)
    kp[:14, :2] = body + (x0, 120)
    kp[labelled, 2] = 2
    return kp


def _dataset(people):
    images = [{"id": 1, "width": 320, "height": 240, "file_name": "000001.png"}]
    anns = [{"id": i + 1, "image_id": 1, **person_annotation(p)} for i, p in enumerate(people)]
    return {"images": images, "annotations": anns}


def test_people_with_few_keypoints_are_ignored_only_in_the_extra_figure():
    full, foot = _person(80, list(range(14))), _person(240, [10, 13])   # a foot pair inside the frame
    dataset = _dataset([full, foot])
    found = Poses(full[None].copy(), np.array([5.0], np.float32), np.array([14], np.int32))
    standard, ignoring = coco_stats(dataset, {1: found}), coco_stats(dataset, {1: found}, min_keypoints=3)
    assert standard["AR"] == pytest.approx(0.5) and ignoring["AR"] == pytest.approx(1.0) == ignoring["AP"]
    # a detection of the ignored person is not a false positive either
    both = Poses(np.stack([full, foot]), np.array([5.0, 1.0], np.float32), np.array([14, 2], np.int32))
    assert coco_stats(dataset, {1: both}, min_keypoints=3)["AP"] == pytest.approx(1.0)
    result = evaluate(dataset, {1: found}, min_keypoints=3)
    assert result.stats == standard and result.stats_min_keypoints == ignoring
    lines = result.table().splitlines()
    assert lines[1].endswith("all (standard)") and lines[2].endswith(">= 3 keypoints")
    assert evaluate(dataset, {1: found}).stats_min_keypoints is None


def test_eval_cli_reports_both_figures(tmp_path):
    write_training(tmp_path / "d", "top", 6, seed=4, people=(1, 3))
    runner = CliRunner()
    res = runner.invoke(eval_app, ["--data", str(tmp_path / "d"), "--oracle", "--skeleton", "topview23",
                              "--min-keypoints", "3", "--out", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["min_keypoints"] == 3 and out["stats_min_keypoints"]["AP"] >= out["stats"]["AP"]
    assert "all (standard)" in res.output and ">= 3 keypoints" in res.output
    bad = runner.invoke(eval_app, ["--data", str(tmp_path / "d"), "--oracle", "--min-keypoints", "-1"])
    assert bad.exit_code == 1 and "--min-keypoints" in bad.output
