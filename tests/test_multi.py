"""Several sources through one session: order per source, batching, a source dying mid-run."""

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from toppose.export.onnx_export import ExportOptions, export_onnx
from toppose.runtime.estimator import PoseEstimator
from toppose.inference import Timings
from toppose.runtime.multi import (BACKGROUND_NICE, Feed, Waiting, cores, dynamic_batch, gather, release,
                                  source_names, split_cores)
from toppose.runtime.pipeline import Pipeline
from toppose.runtime.session import PoseSession
from toppose.runtime.replay import ItopSource
from toppose.runtime.sources import Captured, ImageSource, Paced
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream, shared_network
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
    # counts the real calls; the first one waits until both folders have frames queued (a busy box)
    estimator.infer_batch = lambda x: (batches or time.sleep(0.5), batches.append(len(x)), real(x))[2]
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

    def counted(x):  # the first call waits until both folders are read (on a busy box one may lag)
        while not calls and not all(f.done for f in pipeline.feeds):
            time.sleep(0.01)
        calls.append(len(x))
        return real(x)
    estimator.infer_batch = counted
    with caplog.at_level(logging.INFO, "toppose.runtime"):
        pipeline = Pipeline([ImageSource(str(a)), ImageSource(str(b))], estimator)
        results = list(pipeline.run())
    assert "wait for its whole batch" in caplog.text and set(calls) == {1} and len(calls) == len(results) == 8
    turns = [r.source for r in results]
    # the first call takes whichever folder was ready first; from then on both have frames: strictly in turn
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


def test_split_cores_gives_each_source_a_call_while_threads_last():
    assert split_cores(4, threads=2) == (2, 1)    # a 2-core box: two one-thread calls
    assert split_cores(4, threads=16) == (4, 4)
    assert split_cores(3, threads=8) == (3, 2)
    assert split_cores(2, threads=1) == (1, 1)    # one thread: one call at a time
    assert split_cores(1, threads=8) == (1, 8)
    assert split_cores(5, threads=0) == (min(5, cores()), max(1, cores() // min(5, cores())))


def waiting(name: str) -> Waiting:
    return Waiting(Captured(0, 0.0, None, 0.0, name), 0.0, Timings())


def taken(ready) -> list[tuple[str, int]]:
    return [(w.captured.name, w.seq) for _, w in ready]


def test_gather_skips_a_source_whose_frame_is_in_a_call_until_it_is_released():
    cond, stop = threading.Condition(), threading.Event()
    a, b = (Feed(ImageSource.__new__(ImageSource), n, lambda w: w, cond, stop, 4) for n in "ab")
    a.frames.extend([waiting("a0"), waiting("a1")])
    b.frames.append(waiting("b0"))
    first = gather([a, b], cond, stop, limit=1, first=0)
    second = gather([a, b], cond, stop, limit=1, first=0)   # a's turn again, but its frame is in a call
    assert taken(first) == [("a0", 0)] and taken(second) == [("b0", 0)]
    release(first, cond)
    assert taken(gather([a, b], cond, stop, limit=1, first=0)) == [("a1", 1)]


def test_gather_gives_a_feed_with_room_for_two_frames_its_next_frame_while_one_is_in_a_call():
    cond, stop = threading.Condition(), threading.Event()
    feed = Feed(ImageSource.__new__(ImageSource), "a", lambda w: w, cond, stop, 4)
    feed.room = 2
    feed.frames.extend([waiting(f"a{i}") for i in range(3)])
    first, second = (gather([feed], cond, stop, limit=1) for _ in range(2))
    assert taken(first) + taken(second) == [("a0", 0), ("a1", 1)] and feed.inflight == 2
    assert not gather_within([feed], cond, 0.3)    # both places taken: a2 waits
    release(second, cond)
    assert taken(gather([feed], cond, stop, limit=1)) == [("a2", 2)]


def gather_within(feeds, cond, seconds: float):
    """What ``gather`` gives within ``seconds`` (then it is stopped): [] when nothing."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        return gather(feeds, cond, stop, limit=1) or []
    finally:
        timer.cancel()


class Concurrent(PoseEstimator):
    """The bundled model, 30 ms per call (sleeping, as a call on another core would); records how
    many calls run at once and which threads prepared frames. ``fail_at``: that call raises."""

    def __init__(self, session, fail_at: int = 0) -> None:
        super().__init__(session)
        self.lock, self.running, self.most, self.calls, self.fail_at = threading.Lock(), 0, 0, 0, fail_at
        self.prepared_on: set[str] = set()

    def preprocess(self, frame, timings=None):
        self.prepared_on.add(threading.current_thread().name)
        return super().preprocess(frame, timings)

    def infer(self, x, timings=None):
        with self.lock:
            self.running, self.calls = self.running + 1, self.calls + 1
            self.most, call = max(self.most, self.running), self.calls
        try:
            if call == self.fail_at:
                raise RuntimeError("the network failed")
            time.sleep(0.03)
            return super().infer(x, timings)
        finally:
            with self.lock:
                self.running -= 1


def test_calls_at_once_keep_each_sources_frames_in_order_and_prepare_on_the_calls_threads(tmp_path):
    folders = [folder(tmp_path / n, seed, 8) for n, seed in zip("abcd", (3, 5, 7, 9))]
    network = Concurrent(PoseSession(bundled_model(), "cpu"))
    pipeline = Pipeline([Paced(ImageSource(str(f)), fps=40) for f in folders], network, calls=2)
    results = list(pipeline.run())
    per = {n: [r.index for r in results if r.source == n] for n in pipeline.names}
    assert network.most == 2 and pipeline.ahead is None
    assert all(v and v == sorted(v) for v in per.values())             # every source served, in order
    assert network.prepared_on <= {"inference", "inference 1"} and len(network.prepared_on) == 2
    assert len(results) + pipeline.stats.dropped == 32                 # every frame served or counted


def test_a_failing_call_ends_every_call_and_the_stream_raises_it(tmp_path):
    folders = [folder(tmp_path / n, 3, 30) for n in "ab"]
    network = Concurrent(PoseSession(bundled_model(), "cpu"), fail_at=3)
    pipeline = Pipeline([ImageSource(str(f)) for f in folders], network, calls=2)
    with pytest.raises(RuntimeError, match="the network failed"):
        list(pipeline.run())
    assert network.calls < 10 and not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("inference"))


def test_several_sources_on_cpu_run_a_session_whose_threads_are_split_among_calls(tmp_path):
    session = PoseSession(bundled_model(), "cpu", threads=2)
    sources = [ImageSource(str(folder(tmp_path / n, 3, 1))) for n in "abcd"]
    network, calls = shared_network(session, sources, batch=None)
    assert (calls, network.threads, network.path) == (2, 1, session.path)
    assert shared_network(session, sources, batch=True) == (session, 1)       # batching asked for: one call
    assert shared_network(session, Paced(sources[0], fps=30), batch=None) == (session, 1)  # one frame at a time
    assert shared_network(session, sources[:2], batch=None)[0].threads == 1
    network, calls = shared_network(session, sources[0], batch=None)        # a file at full speed: frames for both
    assert (calls, network.threads) == (2, 1)


def test_a_file_at_full_speed_runs_in_calls_at_once_and_its_results_stay_in_order(tmp_path, caplog):
    root = folder(tmp_path / "a", 3, 12)
    (root / "005.png").write_bytes(b"not a png")                      # unreadable: skipped, the rest in order
    network = Concurrent(PoseSession(bundled_model(), "cpu"))
    with caplog.at_level(logging.INFO, "toppose.runtime"):
        pipeline = Pipeline(ImageSource(str(root)), network, calls=2)
        results = list(pipeline.run())
    assert "at full speed: 2 network calls at once" in caplog.text
    assert network.most == 2                                           # two of its frames in calls at once
    assert [r.index for r in results] == [i for i in range(12) if i != 5]
    assert [r.captured.name for r in results] == [f"{i:03d}.png" for i in range(12) if i != 5]
    for r in results[:3]:
        alone, _ = PoseEstimator(PoseSession(bundled_model(), "cpu"))(cv2.imread(str(root / r.captured.name),
                                                                                cv2.IMREAD_UNCHANGED))
        assert np.allclose(r.poses.keypoints, alone.keypoints, atol=0.05)


class FirstCallSlow(Concurrent):
    """The first call takes 200 ms, the others 10 ms: later frames finish first and wait their turn."""

    def infer(self, x, timings=None):
        with self.lock:
            self.calls += 1
            call = self.calls
        time.sleep(0.2 if call == 1 else 0.01)
        return PoseEstimator.infer(self, x, timings)


def test_results_waiting_their_turn_are_not_given_after_the_stream_is_stopped(tmp_path):
    network = FirstCallSlow(PoseSession(bundled_model(), "cpu"))
    pipeline = Pipeline(ImageSource(str(folder(tmp_path / "a", 3, 6))), network, calls=2)
    got = []
    for r in pipeline.run():   # as --frames 1 does: stop after the first result
        got.append(r.index)
        pipeline.stop.set()
    assert got == [0]
