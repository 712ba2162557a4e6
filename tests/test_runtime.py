import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.data.format import load_dataset
from toppose.evaluation import coco_stats
from toppose.runtime import sources as sources_mod
from toppose.runtime.cli import infer_app, stream_app
from toppose.runtime.session import PoseSession, provider_plan
from toppose.runtime.stream import bundled_model
from toppose.synth.player import ScenePlayer, write_video
from toppose.synth.writers import depth_to_mm, write_itop, write_training
from toppose.synth.flat import as_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def session():
    return PoseSession(bundled_model(), device="cpu")


def test_the_edge_path_never_imports_torch(fresh_python):
    fresh_python("import numpy as np; import toppose.runtime.cli, toppose.runtime.stream; "
                 "from toppose.runtime.session import PoseSession; from toppose.runtime.estimator import PoseEstimator; "
                 "from toppose.runtime.stream import bundled_model; "
                 "est = PoseEstimator(PoseSession(bundled_model(), 'cpu')); est(np.full((240, 320), 2500, np.uint16))",
                 absent=("torch",))


def test_provider_fallback_is_logged(caplog):
    assert provider_plan("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"], True, None, False) == [("CPUExecutionProvider", {})]
    plan = provider_plan("tensorrt", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], False, "/c", True)
    assert [p for p, _ in plan] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert plan[0][1]["trt_engine_cache_path"] == "/c" and plan[1][1]["cudnn_conv_algo_search"] == "HEURISTIC"
    with caplog.at_level(logging.INFO, logger="toppose.runtime"):
        s = PoseSession(bundled_model(), device="cuda")
    if s.device == "CPUExecutionProvider":  # no GPU here: the fallback must be said, not silent
        assert any("running on CPUExecutionProvider" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert any(f"on {s.device}" in r.getMessage() for r in caplog.records)


def test_a_rendered_video_streams_end_to_end(tmp_path, session):
    truth = write_video(str(tmp_path / "clip.mp4"), 24, seed=2, people=2, encoding=session.spec.encoding)
    res = runner.invoke(stream_app, ["--video", str(tmp_path / "clip.mp4"), "--device", "cpu", "--no-show",
                                     "--allow-modality-mismatch",  # colour-encoded depth, as the seed ran it
                                     "--json", str(tmp_path / "poses.jsonl"), "--save", str(tmp_path / "out.mp4")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(l) for l in (tmp_path / "poses.jsonl").read_text().splitlines()]
    assert [l["index"] for l in lines] == list(range(24))  # a file source delivers every frame
    preds = {i + 1: Poses(np.array([p["keypoints"] for p in l["people"]], np.float32).reshape(-1, 18, 3),
                          np.array([p["score"] for p in l["people"]], np.float32),
                          np.array([p["parts"] for p in l["people"]], np.int32)) for i, l in enumerate(lines)}
    dataset = as_dataset(list(truth), (240, 320))
    assert coco_stats(dataset, preds)["AP50"] > 0.2  # measured 0.27 through mp4 compression; an untrained model scores 0
    assert cv2.VideoCapture(str(tmp_path / "out.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 24


def test_images_and_itop_sources(tmp_path):
    frames = [f for f, _ in ScenePlayer(3, 2).frames(3)]
    (tmp_path / "imgs").mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / "imgs" / f"f{i}.png"), depth_to_mm(f.depth))
    res = runner.invoke(stream_app, ["--images", str(tmp_path / "imgs"), "--device", "cpu", "--no-show",
                                     "--openpose-json", str(tmp_path / "op")])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "op").iterdir())
    assert files == ["f0_keypoints.json", "f1_keypoints.json", "f2_keypoints.json"]
    assert "people" in json.loads((tmp_path / "op" / files[0]).read_text())
    _, depth = write_itop(tmp_path / "itop", "top", 4, seed=1)
    res = runner.invoke(stream_app, ["--itop", str(depth), "--device", "cpu", "--no-show", "--json", str(tmp_path / "i.jsonl")])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "i.jsonl").read_text().splitlines()) == 4


def test_a_live_source_that_drops_is_reopened(tmp_path, caplog):
    """A real video through OpenCV's own VideoCapture, read as a live source: it ends (the stream
    drops), is reopened, and once it is gone for good the source gives up after its retries."""
    path = tmp_path / "live.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(2):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    src = sources_mod.OpenCVSource(str(path), live=True, max_retries=1, backoff_s=0.01)
    got = []
    with caplog.at_level(logging.WARNING, logger="toppose.runtime"):
        for captured in src:
            got.append(captured.index)
            if len(got) == 4:
                path.unlink()  # the camera is gone: reopening fails from here on
    assert got == [0, 1, 2, 3]  # 2 frames, drop, reopen, 2 frames, drop, reopen fails, gives up
    messages = [r.getMessage() for r in caplog.records]
    assert any("reopening" in m for m in messages) and any("gave up" in m for m in messages)


def test_sigint_leaves_a_playable_video_and_complete_jsonl(tmp_path):
    cmd = [sys.executable, "-m", "toppose.runtime.cli_main", "--demo", "--frames", "100000", "--device", "cpu",
           "--no-show", "--save", str(tmp_path / "v.mp4"), "--json", str(tmp_path / "p.jsonl")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # the JSON lines grow under a temporary name until the stream ends
        partial = list(tmp_path.glob(".p.jsonl.*"))
        if partial and len(partial[0].read_text().splitlines()) >= 5:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-1500:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl", "v.mp4"]
    summary = json.loads(out.strip().splitlines()[-1])  # the stream's own count of the frames it finished
    assert 0 < summary["frames"] < 100000  # stopped by the signal, not by running out of frames
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert [json.loads(l)["index"] for l in lines] == list(range(summary["frames"]))  # every frame, each line whole
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    ok, frame = cap.read()
    assert ok and frame.shape == (240, 320, 3) and cap.get(cv2.CAP_PROP_FRAME_COUNT) == summary["frames"]


def test_bad_models_fail_cleanly(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage" * 10)
    res = runner.invoke(stream_app, ["--demo", "--model", str(tmp_path / "bad.onnx")])
    assert res.exit_code == 1 and "bad.onnx: not a loadable ONNX model" in res.output
    res = runner.invoke(stream_app, ["--video", str(tmp_path / "missing.mp4")])
    assert res.exit_code == 1 and "missing.mp4: no such file" in res.output


def _openpose_json_poses(path) -> Poses:
    people = json.loads(path.read_text())["people"]
    kp = np.array([p["pose_keypoints_2d"] for p in people], np.float32).reshape(-1, 18, 3)
    return Poses(kp, np.ones(len(kp), np.float32), (kp[..., 2] > 0).sum(1).astype(np.int32))


def test_infer_images_with_tta(tmp_path):
    write_training(tmp_path / "set", "top", 4, seed=2, people=(1, 3), fully_in_view=True)
    truth = load_dataset(tmp_path / "set")
    images = [str(tmp_path / "set" / im["file_name"]) for im in truth["images"]]
    found = {}
    for mode in ("plain", "tta"):
        res = runner.invoke(infer_app, [*images, "--out", str(tmp_path / mode), "--device", "cpu"]
                            + (["--tta"] if mode == "tta" else []))
        assert res.exit_code == 0, res.output
        stems = [Path(p).stem for p in images]
        assert all((tmp_path / mode / f"{s}_poses.png").is_file() for s in stems)
        found[mode] = {im["id"]: _openpose_json_poses(tmp_path / mode / f"{s}_keypoints.json")
                       for im, s in zip(truth["images"], stems)}
    ap = {mode: coco_stats(truth, found[mode]) for mode in found}
    # TTA averages other maps than one plain pass: the poses move, and they still find the people
    assert any(not np.array_equal(found["tta"][i].keypoints, found["plain"][i].keypoints) for i in found["tta"])
    assert ap["tta"]["AP50"] >= 0.7 and ap["tta"]["AP"] >= ap["plain"]["AP"] - 0.15


def test_a_colour_source_for_a_depth_model_warns_once(tmp_path, session, caplog):
    from toppose.runtime.sources import ImageSource
    from toppose.runtime.stream import StreamConfig, run_stream
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"c{i}.jpg"), np.full((240, 320, 3), 90, np.uint8))
    with caplog.at_level(logging.WARNING, logger="toppose.runtime"):
        stats = run_stream(ImageSource(str(tmp_path)), session, StreamConfig())
    warnings = [r.getMessage() for r in caplog.records if "expects depth frames" in r.getMessage()]
    assert stats.frames == 3 and len(warnings) == 1 and "colour frames" in warnings[0]
