"""End-to-end streaming FPS against bare inference FPS; the demo's FPS; rendering speed."""

import cv2
import numpy as np
import pytest

from benchmarks.conftest import bare_fps, median_ms, record
from toppose.runtime.sources import DemoSource, ImageSource
from toppose.runtime.session import PoseSession
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream
from toppose.synth.player import ScenePlayer
from toppose.synth.scenes import random_scene
from toppose.synth.writers import depth_to_mm

FRAMES = 80


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    for i, (frame, _) in enumerate(ScenePlayer(7, 3).frames(FRAMES)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), depth_to_mm(frame.depth))
    return folder


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_stream_fps_vs_bare_inference(results, timing, exported, clip, tmp_path, precision):
    path = exported[precision] if precision == "fp32" else bundled_model()
    session = PoseSession(path, "cpu")
    frames = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(clip.iterdir())]
    from toppose.preprocess import prepare
    inputs = [prepare(f, session.spec, session.input_hw)[0][None] for f in frames]
    bare = bare_fps(session, inputs)
    stats = run_stream(ImageSource(str(clip)), session, StreamConfig(jsonl=tmp_path / "p.jsonl"))
    record(results, "stream_fps", f"{precision}_bare_inference", round(bare, 1))
    record(results, "stream_fps", f"{precision}_pipeline", round(stats.fps, 1))
    record(results, "stream_fps", f"{precision}_pipeline_over_bare", round(stats.fps / bare, 3))
    record(results, "stream_latency_ms", f"{precision}_p50_p95",
           [stats.summary().get("latency_ms_p50"), stats.summary().get("latency_ms_p95")])
    assert stats.frames == FRAMES
    assert not timing or stats.fps >= 0.9 * bare


def test_demo_fps(results, tmp_path):
    session = PoseSession(bundled_model(), "cpu")
    stats = run_stream(DemoSource(seed=0), session, StreamConfig(frames=150, jsonl=tmp_path / "d.jsonl",
                                                                 save=tmp_path / "d.mp4"))
    record(results, "stream_fps", "demo_int8_with_rendering_and_video", round(stats.fps, 1))


def test_render_speed(results, timing):
    rng = np.random.default_rng(0)
    random_scene(rng, "top", (1, 4))
    ms = median_ms(lambda: random_scene(rng, "top", (1, 4)), 60, timing=timing)
    record(results, "render", "top_1to4_people_fps", round(1000 / ms, 1))
    assert not timing or 1000 / ms >= 50
