"""Frame sources: live cameras and streams, video files, image folders, ITOP replays and the demo scene
(``replay.py``).

Each source is an iterator of ``Captured`` frames. ``live`` sources may drop frames (only the
newest is processed); file sources deliver every frame. Every source declares its ``modality``
(``depth`` or ``rgb``) before the first frame, and depth sources hand the camera's intrinsics
along with each frame when they are known. RealSense cameras and recordings: ``realsense.py``.
"""

from __future__ import annotations

import glob
import logging
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from toppose.camera import Intrinsics
from toppose.errors import ToposeError
from toppose.model_spec import InputEncoding
from toppose.preprocess import read_frame

log = logging.getLogger("toppose.runtime")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class SourceError(ToposeError):
    """A source that cannot be opened; the message names it and the problem."""


class ModalityError(SourceError):
    """A source whose frames (colour or depth) are not what the model reads."""


@dataclass
class Captured:
    index: int
    timestamp: float       # seconds since the source started (recordings: since their first frame)
    frame: np.ndarray | None  # BGR uint8 (H, W, 3), grey uint8 (H, W), or depth (H, W): uint16 mm / float32 m;
    #                           None until ``decoded()`` when the source defers decoding (``decode``)
    capture_ms: float
    name: str = ""
    intrinsics: Intrinsics | None = None  # depth frames whose camera is known
    glass: float = 0.0     # perf_counter seconds when the frame was taken (paced: its due time); 0: when reading began
    decode: Callable[[], np.ndarray | None] | None = field(default=None, repr=False, compare=False)

    def decoded(self) -> "Captured":
        """This frame with its pixels, decoding a deferred one now (``capture_ms`` grows by the decoding);
        its ``frame`` stays None when the file turns out unreadable (warned)."""
        if self.frame is not None or self.decode is None:
            return self
        t = time.perf_counter()
        frame = self.decode()
        return replace(self, frame=frame, decode=None, capture_ms=self.capture_ms + 1000 * (time.perf_counter() - t))


class Source(ABC):
    live = False
    modality = "rgb"       # what the frames are: "rgb" (colour or grey 8-bit) or "depth"
    label = "source"       # how messages name it, e.g. "camera 0"

    @abstractmethod
    def __iter__(self) -> Iterator[Captured]:
        """Frames in order."""

    def close(self) -> None:
        """Release the device or file."""


class OpenCVSource(Source):
    """A camera index or a video path/URL. Live sources reconnect with backoff when they drop.

    Opening and reading time out (``timeout_ms``) so a camera that answers nothing never hangs.
    """

    def __init__(self, target: int | str, live: bool, max_retries: int = 5, backoff_s: float = 0.5,
                 timeout_ms: int = 5000) -> None:
        self.target, self.live = target, live
        self.max_retries, self.backoff_s, self.timeout_ms = max_retries, backoff_s, timeout_ms
        self.backend = camera_backend() if isinstance(target, int) else cv2.CAP_ANY
        self.label = f"camera {target}" if isinstance(target, int) else str(target)
        self.cap = self._open()

    def _open(self) -> cv2.VideoCapture:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        cap = cv2.VideoCapture(self.target, self.backend, params)
        if not cap.isOpened():
            cap.release()
            if isinstance(self.target, int):
                raise SourceError(f"camera {self.target}: cannot open with OpenCV's "
                                  f"{cv2.videoio_registry.getBackendName(self.backend)} backend (no such camera, "
                                  "or it is busy)")
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
            stamp = t - t0 if self.live else self._recorded_s(index)
            yield Captured(index, stamp, frame, 1000 * (time.perf_counter() - t), glass=t if self.live else 0.0)
            index += 1

    def _recorded_s(self, index: int) -> float:
        """A file frame's recorded time: its position, or index / the file's rate where the backend gives none."""
        ms, fps = self.cap.get(cv2.CAP_PROP_POS_MSEC), self.cap.get(cv2.CAP_PROP_FPS)
        return ms / 1000 if ms > 0 or index == 0 or fps <= 0 else index / fps

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
        self.label = pattern
        self.modality = image_modality(files[0])

    def __iter__(self) -> Iterator[Captured]:
        t0 = time.perf_counter()
        for i, f in enumerate(self.files):
            t = time.perf_counter()
            frame = read_image(f)
            if frame is not None:
                yield Captured(i, t - t0, frame, 1000 * (time.perf_counter() - t), f.name)

    def deferred(self) -> Iterator[Captured]:
        """The frames undecoded (``Captured.decoded()`` reads one): a paced folder, like a camera
        whose frames are only decoded when the network takes them, pays nothing for a dropped frame."""
        t0 = time.perf_counter()
        for i, f in enumerate(self.files):
            yield Captured(i, time.perf_counter() - t0, None, 0.0, f.name, decode=lambda f=f: read_image(f))


def read_image(path: Path) -> np.ndarray | None:
    """An image file as the sources deliver it (alpha dropped); None, warned, when unreadable."""
    frame = read_frame(path)
    if frame is None:
        log.warning("%s: unreadable image, skipped", path)
    return frame


def image_modality(path: Path) -> str:
    """"depth" for a 16-bit single-channel image (millimetres), else "rgb" (colour or grey 8-bit)."""
    frame = read_frame(path)
    return "rgb" if frame is None else frame_modality(frame)


def frame_modality(frame: np.ndarray) -> str:
    """"depth" for an (H, W) uint16 image (millimetres), else "rgb" (colour or grey 8-bit)."""
    return "depth" if frame.ndim == 2 and frame.dtype == np.uint16 else "rgb"


class Paced(Source):
    """A file source released like a camera: each frame at its recorded time (``fps``: at index / fps).

    Live: the pipeline keeps only the newest frame. A frame already a period late when read is
    skipped (``skipped`` counts them), as a camera would not have waited for it.
    """

    live = True

    def __init__(self, source: Source, fps: float | None = None) -> None:
        if fps is not None and fps <= 0:
            raise SourceError(f"--fps {fps}: must be positive")
        self.source, self.fps, self.skipped = source, fps, 0
        self.modality, self.label = source.modality, source.label
        self.intrinsics = getattr(source, "intrinsics", None)

    def __iter__(self) -> Iterator[Captured]:
        t0, previous = None, 0.0
        deferred = getattr(self.source, "deferred", None)  # decoded only if the network takes the frame
        for c in deferred() if deferred else self.source:
            offset = c.index / self.fps if self.fps else c.timestamp
            t0 = time.perf_counter() - offset if t0 is None else t0
            due, period = t0 + offset, offset - previous
            previous = offset
            if period > 0 and time.perf_counter() > due + period:
                self.skipped += 1
                continue
            time.sleep(max(0.0, due - time.perf_counter()))
            yield replace(c, timestamp=offset, glass=due)

    def close(self) -> None:
        self.source.close()


def camera_backend() -> int:
    """OpenCV's capture backend for camera indices on this platform."""
    return {"linux": cv2.CAP_V4L2, "win32": cv2.CAP_MSMF, "darwin": cv2.CAP_AVFOUNDATION}.get(sys.platform, cv2.CAP_ANY)


def open_source(camera: int | None = None, video: str | None = None, images: str | None = None,
                itop: str | None = None, demo: bool = False, seed: int = 0, realsense: bool = False,
                serial: str | None = None, realsense_file: str | None = None, realtime: bool = False,
                depth_model: bool = False, fps: float | None = None) -> Source:
    """The one source chosen. ``--camera N`` with a depth model opens the N-th RealSense when one is connected.

    ``realtime`` / ``fps``: a file source is released like a camera (``Paced``)."""
    chosen = [x for x in (camera, video, images, itop, realsense_file) if x is not None] + \
        [True for flag in (demo, realsense) if flag]
    if len(chosen) != 1:
        raise SourceError("choose exactly one source: --camera, --video, --images, --itop, --realsense, "
                          "--realsense-file or --demo")
    source = _open(camera, video, images, itop, demo, seed, realsense, serial, realsense_file, depth_model)
    if not (realtime or fps):
        return source
    if source.live:
        source.close()
        raise SourceError(f"{source.label}: live already; --realtime and --fps pace file sources")
    if fps is None and isinstance(source, ImageSource):
        raise SourceError(f"{images}: an image folder has no recorded rate; pace it with --fps N")
    return Paced(source, fps)


def _open(camera, video, images, itop, demo, seed, realsense, serial, realsense_file, depth_model) -> Source:
    if serial is not None and not realsense:
        raise SourceError("--serial picks a live RealSense: use it with --realsense")
    if realsense or realsense_file is not None:
        from toppose.runtime.realsense import RealSenseFileSource, RealSenseSource
        return RealSenseSource(serial=serial) if realsense else RealSenseFileSource(realsense_file)
    if camera is not None:
        if depth_model:
            from toppose.runtime.realsense import realsense_for_camera
            found = realsense_for_camera(camera)
            if found is not None:
                return found
        return OpenCVSource(camera, live=True)
    if video is not None:
        live = video.split("://")[0].lower() in ("rtsp", "rtmp", "http", "https", "udp", "tcp")
        if not live and not Path(video).is_file():
            raise SourceError(f"{video}: no such file")
        return OpenCVSource(video, live=live)
    if images is not None:
        return ImageSource(images)
    from toppose.runtime.replay import DemoSource, ItopSource
    return ItopSource(itop) if itop is not None else DemoSource(seed)


def check_modality(label: str, modality: str, encoding: InputEncoding, model_name: str) -> None:
    """Raise ModalityError when the source ``label`` gives frames (``modality``) of another kind
    than the model reads."""
    if modality == encoding.kind:
        return
    if encoding.kind == "depth":
        raise ModalityError(f"{label} gives colour frames but {model_name} reads depth "
                            f"({encoding.describe()}): for a colour camera export an RGB model (e.g. "
                            "toppose-export pose_model_scratch.pth) and pass --model; for depth use --realsense; "
                            "--allow-modality-mismatch runs it anyway")
    raise ModalityError(f"{label} gives depth frames but {model_name} reads colour (rgb): pass a depth model "
                        "with --model (the bundled model reads depth); --allow-modality-mismatch runs it anyway, "
                        "depth drawn as grey images")
