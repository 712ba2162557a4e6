"""Per-frame outputs: JSON lines, CMU OpenPose JSON files, an overlay video.

Each is written under a temporary name beside its final one and renamed by ``close(keep=True)``
once complete (a killed stream leaves nothing under the final name; a failed one, nothing at
all). Write errors, such as a full disk, raise ``OSError`` naming the final path; the video is
read back before it is kept, so a short or unplayable file is an error, never a success.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

from toppose.codec.poses import Poses
from toppose.errors import OutputError
from toppose.inference import Timings
from toppose.io import write_json


def frame_record(index: int, timestamp: float, poses: Poses, timings: Timings, analytics=None,
                 source: str | None = None, space=None) -> dict:
    """One frame as JSON: index, timestamp, source (with several), people (18 x [x, y, score], score,
    parts and, when tracking, id (null until confirmed)), latency; with zones, occupancy and events;
    with ``space`` (``--3d``): per person keypoints_3d (metres, camera frame, null where unknown),
    height above the floor (head, pelvis) and lying, and the frame's ``floor`` plane."""
    keypoints = np.round(poses.keypoints.astype(np.float64), 2).tolist()  # one conversion, not one per person
    people = [{"keypoints": k, "score": round(s, 4), "parts": n}
              for k, s, n in zip(keypoints, poses.scores.tolist(), poses.parts.tolist())]
    line = {"index": index, "timestamp": round(timestamp, 4), "people": people,
            **({"source": source} if source else {}),
            "latency_ms": {k: round(v, 2) for k, v in timings.as_dict().items()}}
    if space is not None:
        for person, extra in zip(people, space.person_records()):
            person.update(extra)
        line["floor"] = space.floor_record()
    if analytics is not None and analytics.ids is not None:
        for person, pid in zip(people, analytics.ids.tolist()):
            person["id"] = pid if pid >= 0 else None
        if analytics.occupancy or analytics.events:
            line["occupancy"], line["events"] = analytics.occupancy, analytics.events
    return line


def _temp_beside(path: Path, folder: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _publish(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` to ``path`` (replacing what --force allowed to replace)."""
    if path.is_dir():
        shutil.rmtree(path)
    os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _discard(tmp: Path) -> None:
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


class JsonlWriter:
    """One line per frame (``frame_record``): index, timestamp, people (J x [x, y, score], a score,
    parts, and ids when tracking) and ``latency_ms``: ms per stage and ``latency``, capture start
    to the frame's outputs written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = _temp_beside(path)
        self.file = open(self.tmp, "w")

    def write(self, index: int, timestamp: float, poses: Poses, timings: Timings, analytics=None,
              source: str | None = None) -> None:
        self.write_line(frame_record(index, timestamp, poses, timings, analytics, source))

    def write_line(self, line: dict) -> None:
        try:
            self.file.write(json.dumps(line) + "\n")
            self.file.flush()  # a killed run still leaves complete lines (in the temporary file)
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(self.path)) from None

    def close(self, keep: bool = True) -> None:
        try:
            self.file.close()
        except OSError as e:
            keep = False
            raise OSError(e.errno, e.strerror, str(self.path)) from None
        finally:
            _publish(self.tmp, self.path) if keep else _discard(self.tmp)


class OpenPoseJsonWriter:
    """``DIR/<name>_keypoints.json`` per frame, CMU OpenPose's layout; DIR appears whole at close."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tmp = _temp_beside(folder, folder=True)

    def write(self, index: int, name: str, poses: Poses) -> None:
        stem = Path(name).stem if name else f"{index:012d}"
        try:
            write_json(self.tmp / f"{stem}_keypoints.json", poses.openpose_json())
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(self.folder / f"{stem}_keypoints.json")) from None

    def close(self, keep: bool = True) -> None:
        _publish(self.tmp, self.folder) if keep else _discard(self.tmp)


class VideoOut:
    """An mp4 of overlay frames, all of one size; ``close`` checks every frame is in the file."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None
        self.tmp: Path | None = None
        self.size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, image: np.ndarray, name: str = "") -> None:
        h, w = image.shape[:2]
        if self.writer is None:
            self.tmp, self.size = _temp_beside(self.path), (w, h)
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise OutputError(f"--save {self.path}: OpenCV cannot write this video format (use .mp4)")
        elif (w, h) != self.size:
            raise OutputError(f"--save {self.path}: frame {self.frames + 1}{f' ({name})' if name else ''} is {w}x{h} "
                              f"but the video is {self.size[0]}x{self.size[1]}; a video needs frames of one size")
        self.writer.write(image)
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        if self.writer is None:
            return
        self.writer.release()
        try:
            if keep:
                written = _frames_in(self.tmp)
                if written != self.frames:
                    raise OutputError(f"--save {self.path}: the video holds {written} of {self.frames} frames "
                                      "(disk full or unwritable?)")
                _publish(self.tmp, self.path)
        finally:
            _discard(self.tmp)


def _frames_in(path: Path) -> int:
    """Frames a video file really holds, read back as a player would."""
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
