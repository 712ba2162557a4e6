"""Several sources through one session: order per source, batching, a source dying mid-run."""

import json
import logging
import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from toppose.export.onnx_export import ExportOptions, export_onnx
from toppose.runtime.estimator import PoseEstimator
from toppose.runtime.multi import BACKGROUND_NICE, dynamic_batch, source_names
from toppose.runtime.pipeline import Pipeline
from toppose.runtime.session import PoseSession
from toppose.runtime.replay import ItopSource
from toppose.runtime.sources import ImageSource
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream
from toppose.synth.player import ScenePlayer
from toppose.synth.writers import depth_to_mm, write_itop
from toppose.weights import load_weights


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory):
    """The bundled checkpoint exported with a dynamic batch (fp32)."""
    loaded = load_weights(Path(__file__).parents[1] / "models" / "toppose-lite.pth")
    path = tmp_path_factory.mktemp("dyn") / "lite-dynamic-batch.onnx"
    export_onnx(loaded.model, loaded.spec, {}, path, ExportOptions(dynamic_batch=True))
    return path


def folder(root, seed, n):
    root.mkdir()
    for i, (frame, _) in enumerate(ScenePlayer(seed, 3).frames(n)):
        cv2.imwrite(str(root / f"{i:03d}.png"), depth_to_mm(frame.depth))
    return root


def test_several_sources_batch_each_frame_keeps_its_own_poses_and_order(dynamic_model, tmp_path):
    a, b = folder(tmp_path / "a", 3, 5), folder(tmp_path / "b", 9, 3)
    estimator = PoseEstimator(PoseSession(dynamic_model, "cpu"))
    batches = []
    real = estimator.infer_batch
    estimator.infer_batch = lambda x: (batches.append(len(x)), real(x))[1]  # counts the real calls
    assert dynamic_batch(estimator)
    results = list(Pipeline([ImageSource(str(a)), ImageSource(str(b))], estimator, batch=True).run())
    by_source = {n: [r for r in results if r.source == n] for n in source_names([ImageSource(str(a)),
                                                                                 ImageSource(str(b))])}
    assert [[r.index for r in rs] for rs in by_source.values()] == [list(range(5)), list(range(3))]
    assert max(batches) == 2 and sum(batches) == 8  # frames of both sources went through one call
    for (name, rs), root in zip(by_source.items(), (a, b)):
        for r in rs:
            alone, _ = estimator(cv2.imread(str(root / r.captured.name), cv2.IMREAD_UNCHANGED))
            assert len(alone) == len(r.poses) > 0
            assert np.allclose(r.poses.keypoints, alone.keypoints, atol=0.05)


def test_on_cpu_the_sources_take_turns_one_frame_per_call(dynamic_model, tmp_path, caplog):
    a, b = folder(tmp_path / "a", 3, 4), folder(tmp_path / "b", 9, 4)
    estimator = PoseEstimator(PoseSession(dynamic_model, "cpu"))
    calls = []
    real = estimator.infer_batch
    estimator.infer_batch = lambda x: (calls.append(len(x)), real(x))[1]
    with caplog.at_level(logging.INFO, "toppose.runtime"):
        pipeline = Pipeline([ImageSource(str(a)), ImageSource(str(b))], estimator)
        results = list(pipeline.run())
    assert "does not pay on CPU" in caplog.text and set(calls) == {1} and len(calls) == len(results) == 8
    turns = [r.source for r in results]
    # the first call takes whichever folder is ready first; from then on both queue frames: strictly in turn
    assert sorted(turns) == sorted(pipeline.names * 4) and all(x != y for x, y in zip(turns[1:], turns[2:]))


def test_a_fixed_batch_model_runs_one_call_per_source(tmp_path, caplog):
    a, b = folder(tmp_path / "a", 3, 3), folder(tmp_path / "b", 9, 2)
    estimator = PoseEstimator(PoseSession(bundled_model(), "cpu"))
    batches = []
    real = estimator.infer_batch
    estimator.infer_batch = lambda x: (batches.append(len(x)), real(x))[1]
    with caplog.at_level(logging.INFO, "toppose.runtime"):
        results = list(Pipeline([ImageSource(str(a)), ImageSource(str(b))], estimator).run())
    assert "fixed batch size" in caplog.text and set(batches) == {1} and len(results) == 5


def test_one_source_dying_mid_run_leaves_the_others_running(tmp_path, caplog):
    images = folder(tmp_path / "images", 3, 6)
    _, depth = write_itop(tmp_path / "itop", "top", 8, seed=1)
    itop = ItopSource(str(depth))
    os.truncate(depth, os.path.getsize(depth) // 2)  # the file is damaged under the open source
    with caplog.at_level(logging.ERROR, "toppose.runtime"):
        stats = run_stream([itop, ImageSource(str(images))],
                           PoseSession(bundled_model(), "cpu"), StreamConfig(jsonl=tmp_path / "p.jsonl"))
    lines = [json.loads(s) for s in (tmp_path / "p.jsonl").read_text().splitlines()]
    names = list(stats.sources)
    per = {n: [ln["index"] for ln in lines if ln["source"] == n] for n in names}
    assert per[names[1]] == list(range(6))                    # the healthy folder: every frame
    assert 0 < len(per[names[0]]) < 8 and per[names[0]] == sorted(per[names[0]])
    assert names[0] in caplog.text and "other sources go on" in caplog.text
    assert stats.summary()["sources"][names[1]]["frames"] == 6


def test_the_run_fails_only_when_every_source_fails(tmp_path):
    _, depth = write_itop(tmp_path / "itop", "top", 8, seed=1)
    itop = ItopSource(str(depth))
    os.truncate(depth, os.path.getsize(depth) // 2)
    with pytest.raises(OSError):
        run_stream(itop, PoseSession(bundled_model(), "cpu"), StreamConfig())


def test_source_names_are_file_safe_and_unique(tmp_path):
    a = folder(tmp_path / "a b", 3, 1)
    first, second = source_names([ImageSource(str(a)), ImageSource(str(a))])
    assert first.endswith("a_b") and "/" not in first and second == first + "-2"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_capture_threads_yield_to_inference_and_the_callers_thread_keeps_its_priority(tmp_path):
    images = folder(tmp_path / "images", 3, 3)

    class Watched(ImageSource):
        """Records the nice value of the thread that reads its frames."""
        def __iter__(self):
            self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            yield from super().__iter__()

    source, before = Watched(str(images)), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    results = list(Pipeline(source, PoseEstimator(PoseSession(bundled_model(), "cpu"))).run())
    assert len(results) == 3 and source.nice == max(before, BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
