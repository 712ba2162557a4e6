"""Bad-input corpus for ``toppose-stream``, ``toppose-infer`` and ``toppose-export`` (checks: tests/corpus.py)."""

import json
import os
import signal
import subprocess

import cv2
import h5py
import numpy as np
import pytest

from corpus import check, interrupt, make_models, make_weights, mounted, runner, snapshot
from toppose.export.cli import app as export_app
from toppose.runtime.cli import infer_app, stream_app
from toppose.synth.writers import write_training


def _images(ws):
    write_training(ws / "d", "top", 3, seed=4, people=(1, 2), fully_in_view=True)
    (ws / "imgs").mkdir()
    for p in sorted((ws / "d" / "images").iterdir()):
        os.link(p, ws / "imgs" / p.name)
    (ws / "many").mkdir()
    for i in range(40):
        os.link(next((ws / "d" / "images").iterdir()), ws / "many" / f"{i:03d}.png")
    (ws / "mixed").mkdir()
    depth = cv2.imread(str(next((ws / "d" / "images").iterdir())), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(ws / "mixed" / "a.png"), depth)
    cv2.imwrite(str(ws / "mixed" / "b.png"), cv2.resize(depth, (160, 120), interpolation=cv2.INTER_NEAREST))
    cv2.imwrite(str(ws / "colour16.png"), np.full((60, 80, 3), 9000, np.uint16))
    (ws / "text.png").write_text("not an image")
    (ws / "noimages").mkdir()
    (ws / "sub").mkdir()
    cv2.imwrite(str(ws / "sub" / "a.png"), depth)
    (ws / "empty_calib").mkdir()
    ds = json.loads((ws / "d" / "annotations.json").read_text())
    (ws / "empty_calib" / "annotations.json").write_text(json.dumps({**ds, "images": [], "annotations": []}))


def _models(ws):
    make_models(ws)
    (ws / "text.h5").write_text("not hdf5")
    with h5py.File(ws / "nodata.h5", "w") as h:
        h["id"] = np.arange(3)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("corpus_runtime")
    make_weights(ws)
    _images(ws)
    _models(ws)
    (ws / "afile").write_text("a file")
    for name in ("existing.mp4", "existing.jsonl", "existing.onnx", "a_poses.png"):
        (ws / name).write_bytes(b"keep")
    (ws / "opjson").mkdir()
    (ws / "opjson" / "keep.json").write_text("{}")
    (ws / "v.mp4").mkdir()
    return ws


S = "--images {ws}/imgs --device cpu --no-show"
STREAM = [
    ("frames-0", "--demo --frames 0", "--frames must be positive, got 0"),
    ("frames-negative", S + " --frames -5", "--frames must be positive"),
    ("duration-0", S + " --duration 0", "--duration must be positive"),
    ("threads-negative", S + " --threads -1", "--threads must be positive"),
    ("decoder-unknown", S + " --decoder fast", "--decoder must be one of"),
    ("device-unknown", S.replace("cpu", "gpu"), "--device must be one of"),
    ("save-existing", S + " --save {ws}/existing.mp4", "--save {ws}/existing.mp4: exists (add --force"),
    ("save-not-a-video", S + " --save {ws}/out.txt", "--save {ws}/out.txt: expected a .mp4"),
    ("save-is-a-folder", S + " --save {ws}/v.mp4", "--save {ws}/v.mp4: is a folder"),
    ("json-existing", S + " --json {ws}/existing.jsonl", "--json {ws}/existing.jsonl: exists"),
    ("json-under-a-file", S + " --json {ws}/afile/p.jsonl", "afile is a file, not a folder"),
    ("openpose-json-existing", S + " --openpose-json {ws}/opjson", "--openpose-json {ws}/opjson: exists and is not empty"),
    ("model-text", S + " --model {ws}/text.onnx", "text.onnx: not a loadable ONNX model"),
    ("model-missing", S + " --model {ws}/gone.onnx", "gone.onnx: no such file"),
    ("model-not-toppose", S + " --model {ws}/plain.onnx", "plain.onnx: not a toppose model"),
    ("model-skeleton-mismatch", S + " --model {ws}/wrongskeleton.onnx", "needs 46 paf channels"),
    ("model-hostile-weights", S + " --model {ws}/evil.pth", "evil.pth: not a loadable ONNX model"),
    ("video-missing", "--video {ws}/gone.mp4 --device cpu", "gone.mp4: no such file"),
    ("video-text", "--video {ws}/afile --device cpu", "afile: cannot open"),
    ("images-none", "--images {ws}/noimages --device cpu", "noimages: no images found"),
    ("3d-without-intrinsics", S + " --3d --json {ws}/new.jsonl", "--3d: {ws}/imgs gives no depth frames with known intrinsics"),
    ("itop-text", "--itop {ws}/text.h5 --device cpu", "text.h5: not a readable HDF5 file"),
    ("itop-no-data", "--itop {ws}/nodata.h5 --device cpu", "nodata.h5: no 'data' dataset"),
    ("no-source", "--device cpu", "choose a source"),
    ("two-sources-save-file", S + " --demo --save {ws}/new.mp4", "--save"),
    ("serial-without-realsense", S + " --serial 123", "--serial"),
    ("frames-text", S + " --frames many", "'--frames'"),
    ("unknown-option", S + " --colour", "No such option: --colour"),
    ("mixed-frame-sizes", "--images {ws}/mixed --device cpu --no-show --save {ws}/new.mp4 --json {ws}/new.jsonl",
     "--save {ws}/new.mp4: frame 2 (b.png) is 160x120 but the video is 320x240"),
]


@pytest.mark.parametrize("name,args,culprit", STREAM, ids=[c[0] for c in STREAM])
def test_toppose_stream(ws, name, args, culprit):
    check(stream_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


@pytest.mark.parametrize("option,name", [("--save", "v.mp4"), ("--json", "p.jsonl"), ("--openpose-json", "op")])
def test_stream_onto_a_full_disk_fails_and_leaves_nothing(ws, option, name):
    with mounted("8k") as full:
        args = [*S.replace("imgs", "many").format(ws=ws).split(), option, full / name]
        check(stream_app, args, f"{full / name}" if option != "--save" else f"--save {full / name}", full, ws)


def test_sigkill_leaves_no_file_under_the_final_names(tmp_path):
    args = ["--demo", "--frames", "100000", "--device", "cpu", "--no-show", "--save", tmp_path / "v.mp4",
            "--json", tmp_path / "p.jsonl", "--openpose-json", tmp_path / "op"]
    interrupt("toppose-stream", args, lambda: list(tmp_path.glob(".op.*/*.json")), sig=signal.SIGKILL, timeout=30,
              stderr=subprocess.DEVNULL)
    assert not {"v.mp4", "p.jsonl", "op"} & set(snapshot(tmp_path))


I = "{ws}/imgs/0000001.png --device cpu"
INFER = [
    ("missing", "{ws}/gone.png --device cpu", "gone.png: missing or not an image"),
    ("text", "{ws}/text.png --device cpu", "text.png: missing or not an image"),
    ("colour-16-bit", "{ws}/colour16.png --device cpu", "colour16.png: unsupported frame"),
    ("one-bad-among-good", I + " {ws}/text.png --out {ws}/new", "text.png: missing or not an image"),
    ("existing-output", "{ws}/sub/a.png --device cpu --out {ws}", "a_poses.png: exists (add --force"),
    ("out-is-a-file", I + " --out {ws}/afile", "--out {ws}/afile: is a file"),
    ("same-stem-twice", "{ws}/sub/a.png {ws}/mixed/a.png --out {ws}/new", "would both write"),
    ("model-text", I + " --model {ws}/text.onnx", "text.onnx: not a loadable ONNX model"),
    ("device-unknown", "{ws}/imgs/0000001.png --device gpu", "--device must be one of"),
    ("no-images", "--device cpu", "Missing argument"),
]


@pytest.mark.parametrize("name,args,culprit", INFER, ids=[c[0] for c in INFER])
def test_toppose_infer(ws, name, args, culprit):
    check(infer_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


def test_infer_onto_a_full_disk_leaves_nothing(ws):
    with mounted("8k") as full:
        check(infer_app, [*I.format(ws=ws).split(), "--out", full], "no space left on device", full, ws)


def test_infer_draws_a_colour_image_with_alpha(ws, tmp_path):
    bgra = np.zeros((48, 64, 4), np.uint8)
    bgra[..., 3] = 255
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    args = [str(tmp_path / "rgba.png"), "--device", "cpu", "--out", str(tmp_path / "o")]
    res = runner.invoke(infer_app, args)  # colour through the bundled depth model: refused in one line
    assert res.exit_code == 1 and res.output.count("error:") == 1 and "rgba.png gives colour frames" in res.output
    assert not (tmp_path / "o").exists()
    res = runner.invoke(infer_app, args + ["--allow-modality-mismatch"])
    assert res.exit_code == 0, res.output
    assert cv2.imread(str(tmp_path / "o" / "rgba_poses.png"), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)



@pytest.mark.parametrize("extra,culprit", [((), "colour.png gives colour frames"),
                                           (("--allow-modality-mismatch", "--3d"), "--3d: ")])
def test_a_refused_stream_source_is_closed(ws, tmp_path, monkeypatch, extra, culprit):
    from toppose.runtime.sources import ImageSource

    cv2.imwrite(str(tmp_path / "colour.png"), np.zeros((48, 64, 3), np.uint8))
    closed = []
    monkeypatch.setattr(ImageSource, "close", lambda self: closed.append(self.label), raising=False)
    res = runner.invoke(stream_app, ["--images", str(tmp_path / "colour.png"), "--images", f"{ws}/imgs",
                                     "--device", "cpu", "--no-show", *extra])
    assert res.exit_code == 1 and res.output.count("error:") == 1 and culprit in res.output, res.output
    assert sorted(closed) == sorted([str(tmp_path / "colour.png"), f"{ws}/imgs"])

X = "{ws}/ok.pth -o {ws}/new.onnx --height 64 --width 96"
EXPORT = [
    ("weights-missing", "{ws}/gone.pth", "gone.pth: no such file"),
    ("weights-text", X.replace("ok.pth", "text.pth"), "text.pth: truncated or not a PyTorch weights file"),
    ("weights-nan", X.replace("ok.pth", "nan.pth"), "nan.pth: tensor refine.pafs.1.0.weight holds"),
    ("weights-inf", X.replace("ok.pth", "inf.pth"), "inf.pth: tensor backbone.0.0.weight"),
    ("weights-state-dict-list", X.replace("ok.pth", "sdlist.pth"), "'state_dict' is a list"),
    ("weights-hostile", X.replace("ok.pth", "evil.pth"), "evil.pth: refused to unpickle"),
    ("opset-5", X + " --opset 5", "--opset 5: must be 17 to"),
    ("opset-99", X + " --opset 99", "--opset 99"),
    ("batch-0", X + " --batch 0", "--batch must be at least 1, got 0"),
    ("size-not-multiple", X.replace("64", "100"), "input size 100x96 must be positive multiples of 8"),
    ("int8-without-calibration", X + " --int8", "--int8 needs --calibration"),
    ("calibration-without-int8", X + " --calibration {ws}/d", "--calibration is only used with --int8"),
    ("calibration-method", X + " --int8 --calibration {ws}/d --calibration-method best", "--calibration-method 'best'"),
    ("calibration-frames-0", X + " --int8 --calibration {ws}/d --calibration-frames 0", "--calibration-frames must be"),
    ("calibration-empty", X + " --int8 --calibration {ws}/empty_calib", "empty_calib: the dataset holds no images"),
    ("calibration-missing", X + " --int8 --calibration {ws}/nowhere", "nowhere/annotations.json: no such file"),
    ("output-existing", X.replace("new.onnx", "existing.onnx"), "existing.onnx: exists (add --force"),
    ("output-not-onnx", X.replace("new.onnx", "new.txt"), "--output {ws}/new.txt: expected a .onnx"),
    ("output-folder-missing", X.replace("new.onnx", "no/dir/m.onnx"), "output folder does not exist"),
    ("output-under-a-file", X.replace("new.onnx", "afile/m.onnx"), "afile is a file, not a folder"),
    ("arch-mismatch", X + " --arch openpose", "not openpose"),
    ("preprocess-unknown", X + " --preprocess zscore", "unknown preprocessing 'zscore'"),
]


@pytest.mark.parametrize("name,args,culprit", EXPORT, ids=[c[0] for c in EXPORT])
def test_toppose_export(ws, name, args, culprit):
    check(export_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


def test_export_onto_a_full_disk_leaves_nothing(ws):
    with mounted("64k") as full:
        args = X.replace("{ws}/new.onnx", str(full / "m.onnx")).format(ws=ws).split()
        check(export_app, [*args, "--fp16"], "no space left on device", full, ws)
