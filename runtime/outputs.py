"""Per-frame outputs: JSON lines, CMU OpenPose JSON files, an overlay video. Flushed as they go."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from toppose.codec.poses import Poses
from toppose.inference import Timings
from toppose.io import write_json


def frame_record(index: int, timestamp: float, poses: Poses, timings: Timings, analytics=None,
                 source: str | None = None) -> dict:
    """One frame as JSON: index, timestamp, source (with several), people (18 x [x, y, score], score,
    parts and, when tracking, id (null until confirmed)), latency; with zones, occupancy and events."""
    people = [{"keypoints": np.round(poses.keypoints[p].astype(np.float64), 2).tolist(), "score": round(float(poses.scores[p]), 4),
               "parts": int(poses.parts[p])} for p in range(len(poses))]
    line = {"index": index, "timestamp": round(timestamp, 4), "people": people,
            **({"source": source} if source else {}),
            "latency_ms": {k: round(v, 2) for k, v in timings.as_dict().items()}}
    if analytics is not None and analytics.ids is not None:
        for person, pid in zip(people, analytics.ids.tolist()):
            person["id"] = pid if pid >= 0 else None
        if analytics.occupancy or analytics.events:
            line["occupancy"], line["events"] = analytics.occupancy, analytics.events
    return line


class JsonlWriter:
    """One line per frame (``frame_record``): index, timestamp, people (J x [x, y, score], a score,
    parts, and ids when tracking) and ``latency_ms``: ms per stage and ``latency``, capture start
    to the frame's outputs written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "w")

    def write(self, index: int, timestamp: float, poses: Poses, timings: Timings, analytics=None,
              source: str | None = None) -> None:
        self.write_line(frame_record(index, timestamp, poses, timings, analytics, source))

    def write_line(self, line: dict) -> None:
        self.file.write(json.dumps(line) + "\n")
        self.file.flush()  # a killed run still leaves complete lines

    def close(self) -> None:
        self.file.close()


class OpenPoseJsonWriter:
    """``DIR/<name>_keypoints.json`` per frame, CMU OpenPose's layout."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, index: int, name: str, poses: Poses) -> None:
        stem = Path(name).stem if name else f"{index:012d}"
        write_json(self.folder / f"{stem}_keypoints.json", poses.openpose_json())

    def close(self) -> None:
        pass


class VideoOut:
    """An mp4 of overlay frames; ``close`` finalises the file so it stays playable after Ctrl-C."""

    def __init__(self, path: Path, fps: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fps, self.writer = path, fps, None

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            h, w = image.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise OSError(f"{self.path}: cannot open a video writer")
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
