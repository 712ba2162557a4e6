"""RealSense recordings written by pyrealsense2's own software device and recorder, played back for real."""

import json
import time

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.evaluation import coco_stats
from toppose.runtime.cli import stream_app
from toppose.runtime.realsense import RealSenseFileSource, realsense_devices, write_recording
from toppose.runtime.sources import Intrinsics
from toppose.synth.flat import as_dataset
from toppose.synth.player import ScenePlayer
from toppose.synth.render import INTRINSICS
from toppose.synth.writers import depth_to_mm

runner = CliRunner()
FRAMES, FPS = 24, 15.0


@pytest.fixture(scope="module")
def scenes():
    """Rendered ceiling scenes: (N, 240, 320) uint16 mm and the truth (N, P, 18, 3)."""
    rendered = list(ScenePlayer(4, 2, fps=FPS).frames(FRAMES))
    return np.stack([depth_to_mm(f.depth) for f, _ in rendered]), np.stack([gt for _, gt in rendered])


@pytest.fixture(scope="module")
def recording(scenes, tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "scene.db3"
    assert write_recording(path, scenes[0], Intrinsics.from_dict(INTRINSICS), FPS) == FRAMES
    return path


def test_playback_gives_every_frame_in_millimetres_with_the_sensor_intrinsics(recording, scenes):
    source = RealSenseFileSource(str(recording))
    got = list(source)
    source.close()
    assert len(got) == FRAMES and all(np.array_equal(c.frame, mm) for c, mm in zip(got, scenes[0]))
    intr = got[-1].intrinsics
    assert (intr.width, intr.height, intr.cx, intr.cy) == (320, 240, 160.0, 120.0)
    assert intr.fx == pytest.approx(INTRINSICS["fx"], rel=1e-6) and intr.fy == pytest.approx(INTRINSICS["fy"], rel=1e-6)
    assert [c.timestamp for c in got[:3]] == pytest.approx([0.0, 1 / FPS, 2 / FPS], abs=1e-6)


def test_the_recorded_depth_scale_is_applied(scenes, tmp_path):
    write_recording(tmp_path / "fine.db3", scenes[0][:3], Intrinsics.from_dict(INTRINSICS), FPS, depth_scale=1e-4)
    source = RealSenseFileSource(str(tmp_path / "fine.db3"))
    assert source.depth_scale == pytest.approx(1e-4)  # stored in units of 0.1 mm, as some RealSense models do
    got = [c.frame for c in source]
    assert len(got) == 3 and all(np.array_equal(g, mm) for g, mm in zip(got, scenes[0]))


def test_a_recording_streams_to_the_right_poses(recording, scenes, tmp_path):
    res = runner.invoke(stream_app, ["--realsense-file", str(recording), "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(FRAMES))
    preds = {i + 1: Poses(np.array([p["keypoints"] for p in line["people"]], np.float32).reshape(-1, 18, 3),
                          np.array([p["score"] for p in line["people"]], np.float32),
                          np.array([p["parts"] for p in line["people"]], np.int32)) for i, line in enumerate(lines)}
    assert coco_stats(as_dataset(list(scenes[1]), (240, 320)), preds)["AP50"] > 0.4  # measured 0.58; untrained 0
    (tmp_path / "png").mkdir()
    for i, mm in enumerate(scenes[0]):
        cv2.imwrite(str(tmp_path / "png" / f"{i:03d}.png"), mm)
    res = runner.invoke(stream_app, ["--images", str(tmp_path / "png"), "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "png.jsonl")])
    assert res.exit_code == 0, res.output
    from_png = [json.loads(line)["people"] for line in (tmp_path / "png.jsonl").read_text().splitlines()]
    assert from_png == [line["people"] for line in lines]  # the same depth in, the same poses out


def test_realtime_releases_no_frame_before_its_recorded_time(recording):
    source = RealSenseFileSource(str(recording), realtime=True)
    start, late = time.perf_counter(), []
    for c in source:
        late.append(time.perf_counter() - start - c.timestamp)
    source.close()
    assert len(late) == FRAMES and min(late) >= -0.002  # paced: never ahead of the recording's clock


@pytest.mark.parametrize("name, content, message", [
    ("junk.bag", b"not a bag", "not a readable RealSense recording"),
    ("junk.db3", b"not sqlite", "not a readable RealSense recording"),
    ("clip.mp4", b"", "not a RealSense recording (expected .bag or .db3)"),
    ("missing.db3", None, "no such file")])
def test_bad_recordings_are_one_line(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    res = runner.invoke(stream_app, ["--realsense-file", str(tmp_path / name), "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 1 and f"{name}: {message}" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "p.jsonl").exists()


def test_live_realsense_names_what_is_missing(tmp_path):
    if realsense_devices():
        pytest.skip("a RealSense camera is connected")
    res = runner.invoke(stream_app, ["--realsense", "--device", "cpu", "--no-show"])
    assert res.exit_code == 1 and "--realsense: no RealSense camera connected" in res.output
