import numpy as np
import pytest

from toppose.evaluation import coco_stats
from toppose.runtime.estimator import PoseEstimator
from toppose.runtime.session import PoseSession
from toppose.runtime.stream import bundled_model
from toppose.synth.flat import as_dataset
from toppose.synth.player import ScenePlayer


@pytest.fixture(scope="module")
def estimator():
    return PoseEstimator(PoseSession(bundled_model(), device="cpu"))


def test_the_bundled_model_finds_rendered_people(estimator):
    truth, preds = [], {}
    for i, (frame, gt) in enumerate(ScenePlayer(5, 2).frames(6)):
        poses, timings = estimator(frame.depth)
        assert poses.keypoints.shape[1:] == (18, 3) and timings.inference > 0 and timings.decode > 0
        truth.append(gt)
        preds[i + 1] = poses
    assert coco_stats(as_dataset(truth, (240, 320)), preds)["AP50"] > 0.2  # measured 0.42; an untrained model scores 0


def test_the_estimator_decodes_with_the_settings_stored_in_the_model(estimator, with_metadata):
    frame, gt = next(ScenePlayer(5, 2).frames(1))
    assert len(estimator(frame.depth)[0]) > 0
    strict = PoseEstimator(PoseSession(with_metadata(lambda d: d["decoder"].update(min_parts=19)), "cpu"))
    assert strict.decoder.config.min_parts == 19 and len(strict(frame.depth)[0]) == 0  # nobody has 19 of 18 parts


def test_frames_of_another_size_are_scaled_into_the_fixed_input_and_back(estimator):
    frame, _ = next(ScenePlayer(5, 2).frames(1))
    small, _ = estimator(frame.depth)
    big = frame.depth.repeat(2, axis=0).repeat(2, axis=1)  # 480 x 640: the model's 240 x 320 input at scale 0.5
    large, _ = estimator(big)
    assert len(large) == len(small) > 0
    order_s, order_l = np.argsort(small.scores), np.argsort(large.scores)
    found = (small.keypoints[order_s, :, 2] > 0) & (large.keypoints[order_l, :, 2] > 0)
    diff = large.keypoints[order_l, :, :2] / 2 - small.keypoints[order_s, :, :2]
    assert found.any() and np.abs(diff[found]).max() < 2.0
