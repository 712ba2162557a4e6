"""What each source declares (modality, intrinsics) and the modality check at the start of a stream."""

import json
import time

import cv2
import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from toppose.model_spec import METADATA_KEY
from toppose.runtime.cli import stream_app
from toppose.runtime.replay import DemoSource, ItopSource
from toppose.runtime.sources import ImageSource, Intrinsics, Paced, SourceError, open_source
from toppose.runtime.stream import bundled_model
from toppose.synth.player import ScenePlayer
from toppose.synth.render import INTRINSICS
from toppose.synth.writers import depth_to_mm, write_itop

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Three frames each as 16-bit depth PNGs, colour JPEGs and grey 8-bit PNGs."""
    root = tmp_path_factory.mktemp("frames")
    for kind in ("depth", "colour", "grey"):
        (root / kind).mkdir()
    for i, (f, _) in enumerate(ScenePlayer(3, 2).frames(3)):
        cv2.imwrite(str(root / "depth" / f"{i}.png"), depth_to_mm(f.depth))
        cv2.imwrite(str(root / "colour" / f"{i}.jpg"), np.full((240, 320, 3), (40, 90, 160), np.uint8))
        cv2.imwrite(str(root / "grey" / f"{i}.png"), np.full((240, 320), 90, np.uint8))
    return root


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    """The bundled network with its metadata saying it reads colour: a real file of an RGB model."""
    proto = onnx.load(str(bundled_model()))
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            meta = json.loads(prop.value)
            meta["spec"]["encoding"]["kind"] = "rgb"
            prop.value = json.dumps(meta)
    path = tmp_path_factory.mktemp("rgb") / "rgb.onnx"
    onnx.save(proto, str(path))
    return path


def test_sources_declare_modality_and_depth_sources_carry_intrinsics(folders, tmp_path):
    assert ImageSource(str(folders / "depth")).modality == "depth"
    assert ImageSource(str(folders / "colour")).modality == "rgb"
    assert ImageSource(str(folders / "grey")).modality == "rgb"  # grey 8-bit is a colour image, not depth
    itop_intrinsics = Intrinsics.from_dict(INTRINSICS)
    _, depth = write_itop(tmp_path / "itop", "top", 2, seed=1)
    source = ItopSource(str(depth))
    assert source.modality == "depth" and [c.intrinsics for c in source] == [itop_intrinsics] * 2
    source.close()
    demo = iter(DemoSource(seed=1, people=1))
    assert next(demo).intrinsics == itop_intrinsics and DemoSource.modality == "depth"
    assert all(c.intrinsics is None for c in ImageSource(str(folders / "depth")))  # a PNG folder does not know


@pytest.mark.parametrize("kind", ["colour", "grey"])
def test_a_colour_source_for_a_depth_model_refuses_to_start(folders, tmp_path, kind):
    args = ["--images", str(folders / kind), "--device", "cpu", "--no-show", "--json", str(tmp_path / "p.jsonl")]
    res = runner.invoke(stream_app, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    line = [l for l in res.output.splitlines() if l.startswith("error:")]
    assert len(line) == 1 and "gives colour frames" in line[0] and "reads depth" in line[0]
    assert "toppose-export pose_model_scratch.pth" in line[0] and "--model" in line[0]
    assert not (tmp_path / "p.jsonl").exists()
    res = runner.invoke(stream_app, args + ["--allow-modality-mismatch"])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 3


def test_a_depth_source_for_a_colour_model_refuses_to_start(folders, rgb_model, tmp_path):
    args = ["--images", str(folders / "depth"), "--model", str(rgb_model), "--device", "cpu", "--no-show"]
    res = runner.invoke(stream_app, args)
    line = [l for l in res.output.splitlines() if l.startswith("error:")]
    assert res.exit_code == 1 and len(line) == 1
    assert "gives depth frames" in line[0] and "rgb.onnx reads colour" in line[0] and "depth model" in line[0]
    assert runner.invoke(stream_app, args + ["--allow-modality-mismatch"]).exit_code == 0
    assert runner.invoke(stream_app, ["--images", str(folders / "colour"), "--model", str(rgb_model),
                                      "--device", "cpu", "--no-show"]).exit_code == 0


def test_a_camera_that_cannot_open_names_its_index_and_backend():
    res = runner.invoke(stream_app, ["--camera", "63", "--device", "cpu", "--no-show"])
    backend = {"linux": "V4L2", "win32": "MSMF", "darwin": "AVFOUNDATION"}.get(__import__("sys").platform, "")
    assert res.exit_code == 1 and f"camera 63: cannot open with OpenCV's {backend} backend" in res.output


def test_a_paced_folder_releases_no_frame_before_its_time(folders):
    source = Paced(ImageSource(str(folders / "depth")), fps=20)
    assert source.live and source.modality == "depth"
    t0, seen = time.perf_counter(), []
    for c in source:
        assert time.perf_counter() >= c.glass  # never early
        seen.append(c)
    assert [c.timestamp for c in seen] == [0.0, 0.05, 0.1]
    assert [round(c.glass - seen[0].glass, 6) for c in seen] == [0.0, 0.05, 0.1]
    assert time.perf_counter() - t0 >= 0.1 and source.skipped == 0


def test_a_paced_source_like_a_camera_does_not_wait_for_a_busy_reader(tmp_path):
    for i in range(12):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((24, 32), 1000 + i, np.uint16))
    source = Paced(ImageSource(str(tmp_path)), fps=50)
    got = []
    for c in source:
        got.append(c.index)
        time.sleep(0.07)  # 3.5 frame periods busy: the frames due meanwhile are skipped
    assert got == sorted(got) and len(got) + source.skipped == 12 and source.skipped > 0


def test_a_paced_folder_decodes_a_frame_only_when_asked_with_the_eager_readings_pixels(folders):
    eager = list(ImageSource(str(folders / "depth")))
    deferred = list(Paced(ImageSource(str(folders / "depth")), fps=100))
    assert all(c.frame is None for c in deferred)            # nothing read while pacing
    decoded = [c.decoded() for c in deferred]
    assert [c.name for c in decoded] == [c.name for c in eager]
    assert all(np.array_equal(d.frame, e.frame) and d.capture_ms > 0 for d, e in zip(decoded, eager))
    assert decoded[0].decoded() is decoded[0] and eager[0].decoded() is eager[0]


def test_pacing_options_are_checked_in_one_line(folders):
    with pytest.raises(SourceError, match="no recorded rate; pace it with --fps N"):
        open_source(images=str(folders / "depth"), realtime=True)
    with pytest.raises(SourceError, match="--fps -1"):
        open_source(images=str(folders / "depth"), fps=-1)
    assert isinstance(open_source(images=str(folders / "depth"), fps=30), Paced)
    assert isinstance(open_source(demo=True, realtime=True), Paced)


def test_a_paced_video_file_plays_at_its_recorded_rate(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    source = open_source(video=str(path), realtime=True)
    got = list(source)
    assert [c.index for c in got] == list(range(5))
    assert np.allclose([c.timestamp for c in got], [i / 25 for i in range(5)], atol=1e-3)
    assert np.allclose(np.diff([c.glass for c in got]), 1 / 25, atol=1e-3)  # released one recorded period apart
