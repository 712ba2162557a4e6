"""COCO evaluation: the --min-keypoints figure beside the standard one."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.data.format import person_annotation
from toppose.evaluation import coco_stats, evaluate


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
    from toppose.synth.writers import write_training
    from toppose.train.eval_cli import app

    write_training(tmp_path / "d", "top", 6, seed=4, people=(1, 3))
    runner = CliRunner()
    res = runner.invoke(app, ["--data", str(tmp_path / "d"), "--oracle", "--skeleton", "topview23",
                              "--min-keypoints", "3", "--out", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "o.json").read_text())
    assert out["min_keypoints"] == 3 and out["stats_min_keypoints"]["AP"] >= out["stats"]["AP"]
    assert "all (standard)" in res.output and ">= 3 keypoints" in res.output
    bad = runner.invoke(app, ["--data", str(tmp_path / "d"), "--oracle", "--min-keypoints", "-1"])
    assert bad.exit_code == 1 and "--min-keypoints" in bad.output
