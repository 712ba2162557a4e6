"""Bad-input corpus for ``toppose-train`` and ``toppose-eval`` (see tests/corpus.py for the checks)."""

import json
import os

import cv2
import numpy as np
import pytest

from corpus import check, interrupt, make_models, make_weights, mounted, run_cli, runner, snapshot
from toppose.runtime.stream import bundled_model
from toppose.synth.writers import write_training
from toppose.train.cli import app as train_app
from toppose.train.eval_cli import app as eval_app
from toppose.weights import load_weights

TINY = "--epochs 1 --batch-size 2 --input-size 64x96 --workers 0 --device cpu"


def _dataset_variants(ws):
    write_training(ws / "d", "top", 4, seed=1, people=(1, 1), fully_in_view=True)
    ds = json.loads((ws / "d" / "annotations.json").read_text())
    for name, change in {"empty": {"images": [], "annotations": []}, "nobody": {"annotations": []}}.items():
        (ws / name).mkdir()
        (ws / name / "annotations.json").write_text(json.dumps({**ds, **change}))
    (ws / "corrupt").mkdir()
    (ws / "corrupt" / "annotations.json").write_text(json.dumps(ds)[:300])
    (ws / "gone").mkdir()
    (ws / "gone" / "annotations.json").write_text(json.dumps(
        {**ds, "images": [{**im, "file_name": f"images/gone{i}.png"} for i, im in enumerate(ds["images"])]}))
    (ws / "colour16" / "images").mkdir(parents=True)
    cv2.imwrite(str(ws / "colour16" / "images" / "c.png"), np.full((240, 320, 3), 9000, np.uint16))
    (ws / "colour16" / "annotations.json").write_text(json.dumps(
        {**ds, "images": [{**ds["images"][0], "file_name": "images/c.png"}],
         "annotations": [a for a in ds["annotations"] if a["image_id"] == ds["images"][0]["id"]]}))


def _runs(ws):
    res = runner.invoke(train_app, ["--data", ws / "d", "--out", ws / "run", *TINY.split()])
    assert res.exit_code == 0, res.output
    (ws / "broken").mkdir()
    (ws / "broken" / "config.json").write_text((ws / "run" / "config.json").read_text())
    data = (ws / "run" / "last.pth").read_bytes()
    (ws / "broken" / "last.pth").write_bytes(data[: len(data) // 2])
    (ws / "cfg_bad.json").write_text("{not json")
    (ws / "cfg_unknown.json").write_text(json.dumps({"data": [[str(ws / "d"), 1]], "out": "x", "colour": 1}))


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("corpus_train")
    make_weights(ws)
    _dataset_variants(ws)
    make_models(ws)
    _runs(ws)
    (ws / "afile").write_text("a file")
    (ws / "existing.json").write_text("{}")
    return ws


T = "--data {ws}/d --out {ws}/new " + TINY
TRAIN = [
    ("data-missing", T.replace("{ws}/d ", "{ws}/nodata "), "nodata/annotations.json: no such file"),
    ("data-empty", T.replace("{ws}/d ", "{ws}/empty "), "empty: the dataset holds no images"),
    ("data-corrupt", T.replace("{ws}/d ", "{ws}/corrupt "), "corrupt/annotations.json: not valid JSON"),
    ("data-weight-zero", T.replace("{ws}/d ", "{ws}/d:0 "), "--data weights must be positive"),
    ("val-wrong-path", T + " --val {ws}/nowhere", "nowhere/annotations.json: no such file"),
    ("val-empty", T + " --val {ws}/empty", "empty: the dataset holds no images"),
    ("device-cuda", T.replace("--device cpu", "--device cuda"), "--device cuda: CUDA is not available"),
    ("device-unknown", T.replace("--device cpu", "--device tpu"), "--device must be auto, cpu or cuda"),
    ("zero-step-epoch", T + " --epoch-size 2 --batch-size 4", "--epoch-size 2 with --batch-size 4 gives no training step"),
    ("zero-step-default-epoch", T + " --batch-size 8", "the data's 4 images (the epoch size) with --batch-size 8"),
    ("batch-0", T + " --batch-size 0", "--batch-size must be at least 1, got 0"),
    ("epochs-0", T.replace("--epochs 1", "--epochs 0"), "--epochs must be at least 1"),
    ("epoch-size-negative", T + " --epoch-size -4", "--epoch-size must be at least 1"),
    ("lr-negative", T + " --lr -1", "--lr must be a positive number"),
    ("lr-nan", T + " --lr nan", "--lr must be a positive number"),
    ("input-size-not-multiple", T.replace("64x96", "100x100"), "--input-size must be HxW, positive multiples of 8"),
    ("input-size-text", T.replace("64x96", "big"), "--input-size must look like HxW"),
    ("optimizer", T + " --optimizer adam", "unknown optimizer 'adam'"),
    ("freeze", T + " --freeze some", "unknown freeze preset 'some'"),
    ("amp", T + " --amp fp8", "unknown AMP mode 'fp8'"),
    ("arch", T + " --arch resnet", "--arch must be one of"),
    ("workers-negative", T.replace("--workers 0", "--workers -1"), "--workers must be 0 or more"),
    ("rotation", T + " --rotation 400", "--rotation must be in [0, 180]"),
    ("val-images-0", T + " --val-images 0", "--val-images must be at least 1"),
    ("init-nan", T + " --init {ws}/nan.pth", "nan.pth: tensor refine.pafs.1.0.weight holds"),
    ("init-text", T + " --init {ws}/text.pth", "text.pth: truncated or not a PyTorch weights file"),
    ("init-missing", T + " --init {ws}/gone.pth", "--init {ws}/gone.pth: no such file"),
    ("init-wrong-arch", T + " --init {ws}/ok.pth --arch openpose", "not openpose"),
    ("init-no-spec", T + " --init {ws}/nospec.pth", "nospec.pth: toppose checkpoint without a 'spec'"),
    ("resume-with-other-options", "--resume {ws}/run --lr 0.1 --epochs 3", "drop --epochs, --lr"),
    ("resume-not-a-run", "--resume {ws}/d", "--resume {ws}/d: not a training run folder"),
    ("resume-truncated-checkpoint", "--resume {ws}/broken", "broken/last.pth: truncated"),
    ("existing-run-without-resume", T.replace("{ws}/new", "{ws}/run"), "holds a training run (continue it with --resume"),
    ("out-is-a-file", T.replace("{ws}/new", "{ws}/afile"), "--out {ws}/afile: is a file"),
    ("out-under-a-file", T.replace("{ws}/new", "{ws}/afile/run"), "afile is a file, not a folder"),
    ("config-missing", "--config {ws}/nocfg.json", "nocfg.json: no such file"),
    ("config-bad-json", "--config {ws}/cfg_bad.json", "cfg_bad.json: not valid JSON"),
    ("config-unknown-key", "--config {ws}/cfg_unknown.json", "cfg_unknown.json: unknown key 'colour' in config"),
    ("no-data", "--out {ws}/new", "--data and --out are required"),
    ("gpus-0", T + " --gpus 0", "--gpus must be at least 1"),
    ("gpus-text", T + " --gpus=two", "'--gpus'"),
    ("missing-image", T.replace("{ws}/d ", "{ws}/gone "), "gone/images/gone"),
]


@pytest.mark.parametrize("name,args,culprit", TRAIN, ids=[c[0] for c in TRAIN])
def test_toppose_train(ws, name, args, culprit):
    check(train_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


E = "--data {ws}/d --model {ws}/m.onnx"
EVAL = [
    ("data-missing", "--data {ws}/nodata --oracle", "nodata/annotations.json: no such file"),
    ("data-empty", "--data {ws}/empty --oracle", "empty: the dataset holds no images"),
    ("data-unlabelled", "--data {ws}/nobody --oracle", "nobody: the dataset holds no labelled people"),
    ("limit-0", "--data {ws}/d --oracle --limit 0", "--limit must be at least 1, got 0"),
    ("limit-negative", "--data {ws}/d --oracle --limit -2", "--limit must be at least 1"),
    ("no-model", "--data {ws}/d", "give exactly one of --weights, --model or --oracle"),
    ("weights-and-model", "--data {ws}/d --weights {ws}/ok.pth --model {ws}/plain.onnx", "give exactly one"),
    ("oracle-and-weights", "--data {ws}/d --oracle --weights {ws}/ok.pth", "give exactly one"),
    ("weights-nan", "--data {ws}/d --weights {ws}/nan.pth", "nan.pth: tensor refine.pafs.1.0.weight"),
    ("weights-text", "--data {ws}/d --weights {ws}/text.pth", "text.pth: truncated or not"),
    ("weights-hostile", "--data {ws}/d --weights {ws}/evil.pth", "evil.pth: refused to unpickle"),
    ("model-text", "--data {ws}/d --model {ws}/text.onnx", "text.onnx: not a loadable ONNX model"),
    ("model-missing", "--data {ws}/d --model {ws}/gone.onnx", "gone.onnx: no such file"),
    ("model-not-toppose", "--data {ws}/d --model {ws}/plain.onnx", "plain.onnx: not a toppose model"),
    ("model-skeleton-mismatch", "--data {ws}/d --model {ws}/wrongskeleton.onnx", "topview23 skeleton in its metadata"),
    ("skeleton-unknown", "--data {ws}/d --oracle --skeleton hand21", "--skeleton hand21: unknown skeleton"),
    ("out-existing", "--data {ws}/d --oracle --out {ws}/existing.json", "--out {ws}/existing.json: exists (add --force"),
    ("out-is-a-folder", "--data {ws}/d --oracle --out {ws}/d", "--out {ws}/d: is a folder"),
    ("out-under-a-file", "--data {ws}/d --oracle --out {ws}/afile/o.json", "afile is a file, not a folder"),
    ("image-16-bit-colour", f"--data {{ws}}/colour16 --model {bundled_model()}", "colour16/images/c.png: unsupported frame"),
    ("image-missing", f"--data {{ws}}/gone --model {bundled_model()}", "gone/images/gone0.png: missing or unreadable"),
]


@pytest.mark.parametrize("name,args,culprit", EVAL, ids=[c[0] for c in EVAL])
def test_toppose_eval(ws, name, args, culprit):
    check(eval_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


def test_a_loader_worker_error_is_one_line(ws):
    """In a fresh process: workers forked from a test runner full of threads may deadlock."""
    args = T.replace("{ws}/d ", "{ws}/gone ").replace("--workers 0", "--workers 1").format(ws=ws).split()
    before = snapshot(ws)
    res = run_cli("toppose-train", args)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith(f"error: {ws}/gone/images/gone") and \
        lines[0].endswith(".png: missing or unreadable image (in a data loader worker)")
    assert snapshot(ws) == before


def test_training_onto_a_full_disk_leaves_nothing(ws):
    with mounted("64k") as full:
        check(train_app, T.replace("{ws}/new", str(full / "run")).format(ws=ws).split(), "no space left on device",
              full, ws)


def test_force_starts_afresh_and_resume_uses_the_folder_given(ws, tmp_path):
    os.symlink(ws / "d", tmp_path / "d")
    args = ["--data", "d", "--out", "run", *TINY.split()]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert runner.invoke(train_app, args).exit_code == 0
        res = runner.invoke(train_app, [*args, "--force", "--epochs", "2"])
        assert res.exit_code == 0, res.output
        assert len(json.loads((tmp_path / "run" / "summary.json").read_text()) and
                   (tmp_path / "run" / "history.csv").read_text().splitlines()) == 3  # header + 2 fresh epochs
        (tmp_path / "moved").mkdir()
        os.replace(tmp_path / "run", tmp_path / "moved" / "run")  # config.json still records out = "run"
        res = runner.invoke(train_app, ["--resume", "moved/run"])
        assert res.exit_code == 0 and "resumed moved/run at epoch 3" in res.output, res.output
        assert not (tmp_path / "run").exists()
    finally:
        os.chdir(cwd)


def test_sigint_stops_training_with_130_and_a_resumable_checkpoint(ws, tmp_path):
    args = ["--data", ws / "d", "--out", tmp_path / "run", *TINY.replace("--epochs 1", "--epochs 1000").split()]
    code, err = interrupt("toppose-train", args, (tmp_path / "run" / "last.pth").exists, wait=240, timeout=120)
    assert code == 130 and err.strip().splitlines()[-1] == "error: interrupted", err[-1500:]
    assert load_weights(tmp_path / "run" / "last.pth").checkpoint["epoch"] >= 0
    assert not [p for p in snapshot(tmp_path) if p.split("/")[-1].startswith(".")]  # no temporary file left
