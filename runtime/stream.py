"""The streaming job behind ``toppose-stream``: pipeline, overlays, outputs, summary."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from toppose.runtime.draw import draw_poses, draw_status
from toppose.runtime.estimator import PoseEstimator
from toppose.runtime.outputs import JsonlWriter, OpenPoseJsonWriter, VideoOut
from toppose.runtime.pipeline import Pipeline, StreamStats
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import Source

log = logging.getLogger("toppose.runtime")


def bundled_model() -> Path:
    return Path(str(resources.files("toppose.runtime") / "models" / "toppose-lite.onnx"))


def display_available() -> bool:
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class StreamConfig:
    save: Path | None = None
    jsonl: Path | None = None
    openpose_json: Path | None = None
    show: bool = False
    frames: int | None = None
    duration_s: float | None = None
    fps_out: float = 15.0


class Outputs:
    """The per-frame sinks of a stream: JSON lines, OpenPose JSON, overlay video, window."""

    def __init__(self, cfg: StreamConfig, session: PoseSession, stop) -> None:
        self.cfg, self.session, self.stop = cfg, session, stop
        self.jsonl = JsonlWriter(cfg.jsonl) if cfg.jsonl else None
        self.openpose = OpenPoseJsonWriter(cfg.openpose_json) if cfg.openpose_json else None
        self.video = VideoOut(cfg.save, cfg.fps_out) if cfg.save else None

    def write(self, result, fps: float) -> None:
        """All sinks; the JSON line goes last, so its ``output`` and ``latency`` cover every other
        output of the frame (all but that one line's own write)."""
        c, t = result.captured, result.timings
        with t.measure("output"):
            self._write_frame(result, fps)
        t.latency = 1000 * (time.perf_counter() - result.started)
        if self.jsonl:
            self.jsonl.write(result.index, c.timestamp, result.poses, t)

    def _write_frame(self, result, fps: float) -> None:
        if self.openpose:
            self.openpose.write(result.index, result.captured.name, result.poses)
        if self.video or self.cfg.show:
            overlay = draw_poses(result.image.copy(), result.poses, self.session.spec.skeleton)
            draw_status(overlay, f"{fps:5.1f} FPS  {len(result.poses)} people  {self.session.device}")
            if self.video:
                self.video.write(overlay, result.captured.name)
            if self.cfg.show:
                import cv2
                cv2.imshow("toppose", overlay)
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    self.stop.set()

    def close(self, keep: bool = True) -> None:
        """Finish every sink (``keep``) or discard them all; the first sink error is raised."""
        error = None
        for sink in (self.jsonl, self.openpose, self.video):
            if sink:
                try:
                    sink.close(keep)
                except OSError as e:  # OutputError too: a short video
                    error = error or e
        if error is not None:
            raise error


def run_stream(source: Source, session: PoseSession, cfg: StreamConfig, decoder: str = "sparse") -> StreamStats:
    """Stream ``source`` through the model until it ends, a limit is reached, or SIGINT/SIGTERM.

    A signal ends the stream cleanly (outputs finished) and is recorded in ``stats.interrupted``.
    """
    pipeline = Pipeline(source, PoseEstimator(session, decoder))
    stats, outputs = pipeline.stats, Outputs(cfg, session, pipeline.stop)

    def on_signal(signum, _frame) -> None:
        stats.interrupted = signum
        pipeline.stop.set()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if _main_thread() else {}
    last_status, complete = time.perf_counter(), False
    try:
        for result in pipeline.run():
            if stats.frames == 0:
                _check_modality(result.captured.frame, session)
            outputs.write(result, stats.fps)  # fills the output and latency timings
            stats.add(result.timings)
            if time.perf_counter() - last_status > 1.0 and sys.stderr.isatty():
                sys.stderr.write(f"\r{stats.frames} frames, {stats.fps:.1f} FPS, {stats.dropped} dropped")
                last_status = time.perf_counter()
            if (cfg.frames and stats.frames >= cfg.frames) or \
                    (cfg.duration_s and time.perf_counter() - stats.started >= cfg.duration_s):
                pipeline.stop.set()
        complete = True
    finally:
        pipeline.stop.set()
        outputs.close(keep=complete)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return stats


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _check_modality(frame, session: PoseSession) -> None:
    """Warn once when the source's modality differs from the model's input encoding."""
    colour = frame.ndim == 3 or frame.dtype == "uint8"  # grey 8-bit frames are colour images
    kind = session.spec.encoding.kind
    if kind == "depth" and colour:
        log.warning("the model expects depth frames (%s) but the source gives colour frames: "
                    "running them through as images", session.spec.encoding.describe())
    elif kind == "rgb" and not colour:
        log.warning("the model expects colour frames but the source gives depth frames: "
                    "encoding them as grey depth images")
