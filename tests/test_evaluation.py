import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.data.format import load_dataset, people_by_image
from toppose.evaluation import evaluate, per_joint
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
