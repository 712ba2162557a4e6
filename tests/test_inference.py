"""The one frame -> poses path, driven by the codec's encoder as the network (exact maps of known people)."""

import numpy as np
import pytest

from toppose.codec.config import DecoderConfig
from toppose.codec.encoder import encode
from toppose.inference import PosePredictor, Timings
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.synth.flat import random_people

SPEC = ModelSpec(arch="lite", encoding=InputEncoding(kind="depth"))


def oracle(people_in_input: np.ndarray):
    """An infer callable whose maps are the encoder's targets for ``people_in_input`` (network pixels)."""
    calls = []

    def infer(x: np.ndarray):
        calls.append(x.shape)
        paf, heat, _ = encode(people_in_input, x.shape[2:], SPEC.skeleton, SPEC.stride)
        return paf[None], heat[None]
    return infer, calls


def matched_error(poses, people: np.ndarray) -> float:
    """Largest keypoint distance between found people and the truth, each matched to its nearest."""
    assert len(poses) == len(people)
    worst = 0.0
    for person in people:
        vis = person[:, 2] > 0
        d = [np.abs(p[vis, :2] - person[vis, :2]).max() for p in poses.keypoints]
        worst = max(worst, min(d))
    return worst


@pytest.mark.parametrize("input_hw, frame_hw", [(None, (240, 320)), ((240, 320), (480, 640)), (None, (236, 318))])
def test_poses_come_back_in_the_frames_pixels(input_hw, frame_hw):
    people = random_people(np.random.default_rng(1), 3, frame_hw, size=(80.0, 140.0))
    scale = 1.0 if input_hw is None else min(input_hw[0] / frame_hw[0], input_hw[1] / frame_hw[1])
    scaled = people.copy()
    scaled[..., :2] *= scale
    infer, calls = oracle(scaled)
    predictor = PosePredictor(infer, SPEC, input_hw=input_hw)
    poses, timings = predictor(np.full(frame_hw, 2500, np.uint16))
    expected_input = input_hw or tuple(-(-s // 8) * 8 for s in frame_hw)  # padded to the stride
    assert calls[-1] == (1, 3, *expected_input)
    assert matched_error(poses, people) <= 3.0 / scale
    assert timings.preprocess > 0 and timings.inference > 0 and timings.decode > 0
    assert timings.capture == timings.output == timings.latency == 0.0  # the stream's stages


def test_the_decoder_settings_are_the_ones_given():
    people = random_people(np.random.default_rng(2), 2, (240, 320))
    infer, _ = oracle(people)
    frame = np.full((240, 320), 2500, np.uint16)
    assert len(PosePredictor(infer, SPEC)(frame)[0]) == 2
    assert len(PosePredictor(infer, SPEC, DecoderConfig(min_parts=15))(frame)[0]) == 0  # people have 14 parts


def test_tta_averages_three_scales_and_their_mirrors_into_the_same_people():
    people = random_people(np.random.default_rng(3), 2, (240, 320), size=(90.0, 130.0))
    frame = np.tile(np.linspace(1.0, 4.0, 320, dtype=np.float32), (240, 1))  # nearer (brighter) on the left
    calls = []

    def infer(x):  # what a network sees in each TTA input: the people scaled, and mirrored with left/right swapped
        cw = x.shape[3]  # 320 x 0.75 / 1 / 1.25 are multiples of the stride: no padding
        mirrored = x[0, 0, 120, 0] < x[0, 0, 120, cw - 1]
        seen = people.copy()
        seen[..., :2] *= cw / 320
        if mirrored:
            seen[..., 0] = cw - 1 - seen[..., 0]
            seen = seen[:, list(SPEC.skeleton.flip)]
        calls.append((x.shape[2:], bool(mirrored)))
        paf, heat, _ = encode(seen, x.shape[2:], SPEC.skeleton, SPEC.stride)
        return paf[None], heat[None]
    poses, timings = PosePredictor(infer, SPEC)(frame, tta=True)
    assert sorted(calls) == sorted([((h, w), m) for h, w in ((184, 240), (240, 320), (304, 400)) for m in (False, True)])
    assert matched_error(poses, people) <= 4.0 and timings.inference > 0 and timings.preprocess == 0.0


def test_the_stage_methods_are_the_call_split_into_threads():
    people = random_people(np.random.default_rng(4), 2, (240, 320))
    infer, _ = oracle(people)
    predictor = PosePredictor(infer, SPEC)
    frame = np.full((240, 320), 2500, np.uint16)
    whole, _ = predictor(frame)
    t = Timings()
    prepared = predictor.preprocess(frame, t)
    paf, heat = predictor.infer(prepared.x, t)
    parts = predictor.decode(paf, heat, prepared.box.scale, t)
    assert prepared.image.shape == (240, 320, 3) and prepared.x.shape == (3, 240, 320)
    assert np.array_equal(whole.keypoints, parts.keypoints) and np.array_equal(whole.scores, parts.scores)


def test_timings_measure_a_block_and_list_every_stage():
    t = Timings(capture=1.5)
    with t.measure("decode"):
        sum(range(10000))
    assert t.decode > 0 and list(t.as_dict()) == ["capture", "preprocess", "inference", "decode", "output", "latency"]
    with pytest.raises(RuntimeError), t.measure("output"):
        raise RuntimeError("still timed")
    assert t.output > 0
