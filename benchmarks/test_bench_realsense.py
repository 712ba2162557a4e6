"""A RealSense recording of rendered scenes through the bundled model: playback FPS against bare inference."""

import pytest

from benchmarks.conftest import bare_fps, record
from toppose.preprocess import prepare, to_input_image
from toppose.runtime.realsense import RealSenseFileSource, write_recording
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import Intrinsics
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream
from toppose.synth.player import ScenePlayer
from toppose.synth.render import INTRINSICS
from toppose.synth.writers import depth_to_mm

FRAMES, FPS = 150, 15.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    frames = [depth_to_mm(f.depth) for f, _ in ScenePlayer(11, 3, fps=FPS).frames(FRAMES)]
    path = tmp_path_factory.mktemp("rs") / "scenes.db3"
    write_recording(path, frames, Intrinsics.from_dict(INTRINSICS), FPS)
    return path, frames


def test_realsense_recording_fps(results, recording, tmp_path):
    path, frames = recording
    session = PoseSession(bundled_model(), "cpu")
    inputs = [prepare(to_input_image(f, session.spec.encoding), session.spec, session.input_hw)[0][None]
              for f in frames]
    bare = bare_fps(session, inputs)
    stats = run_stream(RealSenseFileSource(str(path)), session, StreamConfig(jsonl=tmp_path / "p.jsonl"))
    record(results, "realsense", "recording_frames", stats.frames)
    record(results, "realsense", "recording_MB", round(path.stat().st_size / 2**20, 1))
    record(results, "realsense", "int8_bare_inference_fps", round(bare, 1))
    record(results, "realsense", "int8_recording_pipeline_fps", round(stats.fps, 1))
    record(results, "realsense", "pipeline_over_bare", round(stats.fps / bare, 3))
    assert stats.frames == FRAMES
