"""Frame sources: live cameras and streams, video files, image folders, ITOP replays, the demo scene.

Each source is an iterator of ``Captured`` frames. ``live`` sources may drop frames (only the
newest is processed); file sources deliver every frame.
"""

from __future__ import annotations

import glob
from abc import ABC, abstractmethod
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from toppose.errors import ToposeError

log = logging.getLogger("toppose.runtime")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class SourceError(ToposeError):
    """A source that cannot be opened; the message names it and the problem."""


@dataclass
class Captured:
    index: int
    timestamp: float       # seconds since the source started
    frame: np.ndarray      # BGR uint8, or depth: uint16 mm / float32 m
    capture_ms: float
    name: str = ""
    truth: np.ndarray | None = None  # ground truth (P, 18, 3) for rendered frames


class Source(ABC):
    live = False

    @abstractmethod
    def __iter__(self) -> Iterator[Captured]:
        """Frames in order."""

    def close(self) -> None:
        """Release the device or file."""


class OpenCVSource(Source):
    """A camera index or a video path/URL. Live sources reconnect with backoff when they drop."""

    def __init__(self, target: int | str, live: bool, max_retries: int = 5, backoff_s: float = 0.5) -> None:
        self.target, self.live = target, live
        self.max_retries, self.backoff_s = max_retries, backoff_s
        self.cap = self._open()

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            raise SourceError(f"{self.target}: cannot open (no such camera, file or stream)")
        return cap

    def __iter__(self) -> Iterator[Captured]:
        t0, index, failures = time.perf_counter(), 0, 0
        while True:
            t = time.perf_counter()
            ok, frame = self.cap.read()
            if not ok:
                if not self.live:
                    return
                failures += 1
                if failures > self.max_retries:
                    log.error("%s: gave up after %d reconnection attempts", self.target, self.max_retries)
                    return
                wait = self.backoff_s * 2 ** (failures - 1)
                log.warning("%s: frame grab failed; reopening in %.1f s (attempt %d/%d)", self.target, wait,
                            failures, self.max_retries)
                time.sleep(wait)
                self.cap.release()
                try:
                    self.cap = self._open()
                except SourceError:
                    continue
                continue
            failures = 0
            yield Captured(index, t - t0, frame, 1000 * (time.perf_counter() - t))
            index += 1

    def close(self) -> None:
        self.cap.release()


class ImageSource(Source):
    """A folder or glob of images; 16-bit PNGs are depth in millimetres."""

    def __init__(self, pattern: str) -> None:
        p = Path(pattern)
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if p.is_dir() else \
            sorted(Path(f) for f in glob.glob(pattern))
        if not files:
            raise SourceError(f"{pattern}: no images found")
        self.files = files

    def __iter__(self) -> Iterator[Captured]:
        t0 = time.perf_counter()
        for i, f in enumerate(self.files):
            t = time.perf_counter()
            frame = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if frame is None:
                log.warning("%s: unreadable image, skipped", f)
                continue
            if frame.ndim == 3 and frame.shape[2] == 4:
                frame = frame[:, :, :3]
            yield Captured(i, t - t0, frame, 1000 * (time.perf_counter() - t), f.name)


class ItopSource(Source):
    """Replay an ITOP ``*_depth_map.h5`` (float16 metres) frame by frame."""

    def __init__(self, path: str) -> None:
        import h5py

        self.path = Path(path)
        try:
            self.file = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError):
            raise SourceError(f"{path}: not a readable HDF5 file") from None
        if "data" not in self.file:
            self.file.close()
            raise SourceError(f"{path}: no 'data' dataset (not an ITOP depth_map file)")
        self.ids = self.file["id"][:] if "id" in self.file else None

    def __iter__(self) -> Iterator[Captured]:
        t0 = time.perf_counter()
        for i in range(self.file["data"].shape[0]):
            t = time.perf_counter()
            frame = self.file["data"][i].astype(np.float32)
            name = str(i) if self.ids is None else \
                self.ids[i].decode(errors="replace") if isinstance(self.ids[i], bytes) else str(self.ids[i])
            yield Captured(i, t - t0, frame, 1000 * (time.perf_counter() - t), name)

    def close(self) -> None:
        self.file.close()


class DemoSource(Source):
    """The synthetic ceiling scene (depth), with ground truth, as a camera would deliver it."""

    def __init__(self, seed: int = 0, people: int = 3, fps: float = 15.0) -> None:
        from toppose.synth.player import ScenePlayer

        self.player = ScenePlayer(seed, people, fps=fps)
        self.fps = fps

    def __iter__(self) -> Iterator[Captured]:
        frames = self.player.frames()
        i = 0
        while True:
            t = time.perf_counter()
            frame, truth = next(frames)  # rendering is this source's capture time
            yield Captured(i, i / self.fps, frame.depth, 1000 * (time.perf_counter() - t), truth=truth)
            i += 1


def open_source(camera: int | None = None, video: str | None = None, images: str | None = None,
                itop: str | None = None, demo: bool = False, seed: int = 0) -> Source:
    chosen = [x for x in (camera, video, images, itop) if x is not None] + ([True] if demo else [])
    if len(chosen) != 1:
        raise SourceError("choose exactly one source: --camera, --video, --images, --itop or --demo")
    if camera is not None:
        return OpenCVSource(camera, live=True)
    if video is not None:
        live = video.split("://")[0].lower() in ("rtsp", "rtmp", "http", "https", "udp", "tcp")
        if not live and not Path(video).is_file():
            raise SourceError(f"{video}: no such file")
        return OpenCVSource(video, live=live)
    if images is not None:
        return ImageSource(images)
    if itop is not None:
        return ItopSource(itop)
    return DemoSource(seed)
