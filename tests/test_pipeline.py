import logging
import os
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from toppose.inference import Timings
from toppose.runtime.estimator import PoseEstimator
from toppose.runtime.pipeline import Pipeline, StreamStats
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import ImageSource, Paced
from toppose.runtime.stream import bundled_model
from toppose.synth.player import ScenePlayer
from toppose.synth.writers import depth_to_mm


@pytest.fixture(scope="module")
def estimator():
    return PoseEstimator(PoseSession(bundled_model(), device="cpu"))


@pytest.fixture
def depth_folder(tmp_path):
    for i, (frame, _) in enumerate(ScenePlayer(3, 3).frames(5)):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), depth_to_mm(frame.depth))
    return tmp_path


def test_the_pipeline_gives_what_one_call_gives_in_order_with_every_stage_timed(estimator, depth_folder):
    results = list(Pipeline(ImageSource(str(depth_folder)), estimator, queue_size=2).run())
    assert [r.index for r in results] == list(range(5))
    for r in results:
        frame = cv2.imread(str(depth_folder / r.captured.name), cv2.IMREAD_UNCHANGED)
        alone, _ = estimator(frame)
        assert np.array_equal(r.poses.keypoints, alone.keypoints) and np.array_equal(r.poses.scores, alone.scores)
        assert isinstance(r.timings, Timings) and r.image.shape == (240, 320, 3)
        t = r.timings
        assert min(t.capture, t.preprocess, t.inference, t.decode) > 0 and t.output == t.latency == 0.0  # the consumer's


def test_stats_keep_a_window_of_each_stage():
    stats = StreamStats(window=3)
    for i in range(5):
        stats.add(Timings(capture=1, preprocess=2, inference=float(i), decode=4, output=5, latency=6))
    summary = stats.summary()
    assert stats.frames == 5 and list(stats.stages["inference"]) == [2.0, 3.0, 4.0]
    assert summary["inference_ms_p50"] == 3.0 and summary["latency_ms_p95"] == 6.0



def test_a_paced_source_keeps_only_its_newest_frame_for_a_slow_consumer(estimator, tmp_path):
    for i, (frame, _) in enumerate(ScenePlayer(3, 2).frames(12)):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), depth_to_mm(frame.depth))
    pipeline = Pipeline(Paced(ImageSource(str(tmp_path)), fps=40), estimator, queue_size=4)
    results = []
    for r in pipeline.run():
        results.append(r)
        time.sleep(0.15)  # six frame periods per result: the frames in between are stale
    indices = [r.index for r in results]
    assert indices == sorted(indices) and indices[-1] == 11  # in order, and the newest frame is never lost
    assert len(results) < 12 and len(results) + pipeline.stats.dropped == 12
    assert all(r.picked >= r.started for r in results)  # glass time is the frame's due time, before the network


def test_paced_folders_taking_turns_leave_dropped_frames_unread_and_skip_an_unreadable_one(estimator, tmp_path,
                                                                                           caplog, monkeypatch):
    folders = [tmp_path / "a", tmp_path / "b"]
    for root in folders:
        root.mkdir()
        for i, (frame, _) in enumerate(ScenePlayer(3, 2).frames(12)):
            cv2.imwrite(str(root / f"f{i:02d}.png"), depth_to_mm(frame.depth))
    (folders[0] / "f11.png").write_bytes(b"not a png")      # the last frame is damaged: it is always taken
    reads = []
    real = cv2.imread
    monkeypatch.setattr(cv2, "imread", lambda *a: (reads.append(a[0]), real(*a))[1])  # counts the real reads
    with caplog.at_level(logging.WARNING, "toppose.runtime"):
        pipeline = Pipeline([Paced(ImageSource(str(f)), fps=40) for f in folders], estimator, queue_size=4)
        results = []
        for r in pipeline.run():
            results.append(r)
            time.sleep(0.15)                                 # six frame periods per result
    assert "f11.png: unreadable image, skipped" in caplog.text
    assert 0 < len(results) < 23 and all(r.captured.frame is not None for r in results)
    # each result's frame and the damaged one were read, plus the two modality probes; of the dropped
    # frames only those of the feed next in turn (prepared ahead while the network worked)
    assert len(results) + 3 <= len(reads) < 24 + 2


def test_a_file_source_at_full_speed_queues_every_frame_and_says_so(estimator, depth_folder):
    pipeline = Pipeline(ImageSource(str(depth_folder)), estimator, queue_size=2)
    results = []
    for r in pipeline.run():
        results.append(r)
        time.sleep(0.05)
    assert [r.index for r in results] == list(range(5)) and pipeline.stats.dropped == 0 and pipeline.queued


class SlowNetwork(PoseEstimator):
    """The bundled model, 40 ms per call; records which thread prepared each frame."""

    def __init__(self, session) -> None:
        super().__init__(session)
        self.prepared_on: list[str] = []

    def preprocess(self, frame, timings=None):
        self.prepared_on.append(threading.current_thread().name)
        return super().preprocess(frame, timings)

    def infer(self, x, timings=None):
        time.sleep(0.04)
        return super().infer(x, timings)


def scene_folders(tmp_path, names: str) -> list:
    """One folder of 20 depth PNGs of the same two-person scene per name."""
    folders = [tmp_path / name for name in names]
    for root in folders:
        root.mkdir()
        for i, (frame, _) in enumerate(ScenePlayer(5, 2).frames(20)):
            cv2.imwrite(str(root / f"f{i:02d}.png"), depth_to_mm(frame.depth))
    return folders


class SlowerNetwork(SlowNetwork):
    """100 ms per call: several frames of each paced source arrive during one."""

    def infer(self, x, timings=None):
        time.sleep(0.06)
        return super().infer(x, timings)


def test_taking_turns_the_next_feed_is_readied_late_in_the_call_so_few_preparations_are_lost(tmp_path):
    folders = scene_folders(tmp_path, "ab")
    network = SlowerNetwork(PoseSession(bundled_model(), device="cpu"))
    results = list(Pipeline([Paced(ImageSource(str(f)), fps=30) for f in folders], network).run())
    # readied for the whole call, the next feed prepared about 3.4 frames per frame served (measured)
    assert len(results) >= 5 and len(network.prepared_on) <= 2.5 * len(results)
    assert network.prepared_on.count("inference") <= 1


def test_taking_turns_the_frame_next_in_turn_is_prepared_while_the_network_works(tmp_path):
    folders = scene_folders(tmp_path, "abc")
    network = SlowNetwork(PoseSession(bundled_model(), device="cpu"))
    pipeline = Pipeline([Paced(ImageSource(str(f)), fps=8) for f in folders], network)
    results = list(pipeline.run())
    assert len(results) >= 12 and sorted({r.source for r in results}) == sorted(pipeline.names)
    # a frame held by a feed before its turn came is prepared ahead (or by its feed), never on the
    # network's thread (one race is allowed: a frame offered between the look ahead and the pick)
    assert network.prepared_on.count("inference") <= 1
    assert "prepare ahead" in network.prepared_on


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_live_source_alone_hands_its_frames_over_at_its_own_priority_and_the_call_prepares_them(tmp_path):
    """Prepared on a capture thread at the lowest priority, a paced source's frames waited for a busy
    box's spare time; handed over, they are prepared by the network's thread when it takes them."""
    (root,) = scene_folders(tmp_path, "a")

    class Watched(Paced):
        def __iter__(self):
            self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            yield from super().__iter__()

    network = SlowNetwork(PoseSession(bundled_model(), device="cpu"))
    source, before = Watched(ImageSource(str(root)), fps=20), os.getpriority(os.PRIO_PROCESS, 0)
    results = list(Pipeline(source, network).run())
    assert len(results) >= 10 and source.nice == before
    assert set(network.prepared_on) == {"inference"} and len(network.prepared_on) == len(results)
