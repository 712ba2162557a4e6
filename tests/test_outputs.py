import json

import cv2
import numpy as np

from toppose.inference import Timings
from toppose.codec.poses import Poses
from toppose.runtime.outputs import JsonlWriter
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import ImageSource
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream
from toppose.synth.player import ScenePlayer
from toppose.synth.writers import depth_to_mm

STAGES = ["capture", "preprocess", "inference", "decode", "output", "latency"]


def test_a_jsonl_line_holds_people_and_every_stage(tmp_path):
    writer = JsonlWriter(tmp_path / "p.jsonl")
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, 1] = (10.123, 20.456, 0.9)
    writer.write(3, 0.25, Poses(kp, np.array([5.0], np.float32), np.array([1], np.int32)),
                 Timings(1.111, 2, 3, 4, 5, 16.666))
    writer.close()
    line = json.loads((tmp_path / "p.jsonl").read_text())
    assert line["index"] == 3 and line["people"][0]["keypoints"][1] == [10.12, 20.46, 0.9]
    assert line["latency_ms"] == {"capture": 1.11, "preprocess": 2, "inference": 3, "decode": 4, "output": 5,
                                  "latency": 16.67}


def test_stream_latency_is_measured_to_after_the_frames_outputs(tmp_path):
    for i, (frame, _) in enumerate(ScenePlayer(3, 2).frames(4)):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), depth_to_mm(frame.depth))
    cfg = StreamConfig(jsonl=tmp_path / "out" / "p.jsonl", openpose_json=tmp_path / "out" / "op",
                       save=tmp_path / "out" / "v.mp4")
    stats = run_stream(ImageSource(str(tmp_path)), PoseSession(bundled_model(), "cpu"), cfg)
    lines = [json.loads(s) for s in (tmp_path / "out" / "p.jsonl").read_text().splitlines()]
    assert len(lines) == stats.frames == 4
    for line in lines:
        t = line["latency_ms"]
        assert list(t) == STAGES and t["output"] > 0  # the OpenPose JSON and the video frame were written first
        assert t["latency"] >= t["capture"] + t["preprocess"] + t["inference"] + t["decode"] + t["output"] - 0.05
    summary = stats.summary()
    assert summary["output_ms_p50"] > 0 and summary["latency_ms_p50"] >= summary["inference_ms_p50"]
