import cv2
import numpy as np
import pytest

from toppose.inference import Timings
from toppose.runtime.estimator import PoseEstimator
from toppose.runtime.pipeline import Pipeline, StreamStats
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import ImageSource
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

