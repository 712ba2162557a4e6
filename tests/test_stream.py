"""``toppose-stream`` with several sources and paced sources: outputs per source, summary per source."""

import gc
import json
from dataclasses import replace
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from toppose.runtime.cli import stream_app
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import ImageSource
from toppose.runtime.stream import StreamConfig, bundled_model, decoder_settings, run_stream
from toppose.synth.player import ScenePlayer
from toppose.synth.writers import depth_to_mm

runner = CliRunner()


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    for name, seed, n in (("left", 3, 4), ("right", 5, 3)):
        (root / name).mkdir()
        for i, (frame, _) in enumerate(ScenePlayer(seed, 2).frames(n)):
            cv2.imwrite(str(root / name / f"{i}.png"), depth_to_mm(frame.depth))
    return root


def test_several_sources_write_per_source_outputs_and_summaries(two_folders, tmp_path):
    left, right = str(two_folders / "left"), str(two_folders / "right")
    res = runner.invoke(stream_app, ["--images", left, "--images", right, "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "p.jsonl"), "--save", str(tmp_path / "videos"),
                                     "--openpose-json", str(tmp_path / "op")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(s) for s in (tmp_path / "p.jsonl").read_text().splitlines()]
    names = sorted({ln["source"] for ln in lines})
    assert len(names) == 2 and names[0].endswith("left") and names[1].endswith("right")
    assert [ln["index"] for ln in lines if ln["source"] == names[0]] == [0, 1, 2, 3]
    assert [ln["index"] for ln in lines if ln["source"] == names[1]] == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == [f"{n}.mp4" for n in names]
    assert len(list((tmp_path / "op" / names[0]).iterdir())) == 4
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert {n: s["frames"] for n, s in summary["sources"].items()} == dict(zip(names, (4, 3)))
    assert all("fps" in s and "dropped" in s for s in summary["sources"].values())
    assert summary["latency_kind"].startswith("includes queueing")  # folders at full speed queue


def test_a_paced_folder_reports_glass_to_pose_latency(two_folders, tmp_path):
    res = runner.invoke(stream_app, ["--images", str(two_folders / "left"), "--fps", "20", "--device", "cpu",
                                     "--no-show", "--json", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["latency_kind"] == "glass-to-pose" and summary["latency_ms_p50"] > 0
    lines = [json.loads(s) for s in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [ln["timestamp"] for ln in lines] == [round(0.05 * ln["index"], 4) for ln in lines]
    assert all(ln["latency_ms"]["latency"] >= ln["latency_ms"]["inference"] for ln in lines)


def test_pacing_an_image_folder_needs_a_rate(two_folders):
    res = runner.invoke(stream_app, ["--images", str(two_folders / "left"), "--realtime", "--device", "cpu",
                                     "--no-show"])
    assert res.exit_code == 1 and "no recorded rate; pace it with --fps N" in res.output
    assert "Traceback" not in res.output


class _FreezeWatcher(ImageSource):
    """An image folder that notes, per frame read, how many objects the garbage collector leaves out."""

    def __iter__(self):
        for captured in super().__iter__():
            self.frozen.append(gc.get_freeze_count())
            yield captured


def test_objects_alive_at_the_start_stay_out_of_the_collectors_passes_while_streaming(two_folders, tmp_path):
    source = _FreezeWatcher(str(two_folders / "left"))
    source.frozen = []
    stats = run_stream(source, PoseSession(bundled_model(), "cpu"), StreamConfig(jsonl=tmp_path / "p.jsonl"))
    assert stats.frames == len(source.frozen) > 0
    assert min(source.frozen) > 1000          # the session, modules and compiled code: never rescanned
    assert gc.get_freeze_count() == 0         # and the collector as it was afterwards


def test_tracking_streams_decode_without_the_decoders_piece_merging_others_with_the_models_settings():
    session = PoseSession(bundled_model(), "cpu")
    assert session.decoder_config.merge
    assert decoder_settings(session, StreamConfig()) == session.decoder_config
    for cfg in (StreamConfig(track=True), StreamConfig(zones=Path("zones.json"))):
        settings = decoder_settings(session, cfg)
        assert settings.merge is False and replace(settings, merge=True) == session.decoder_config
