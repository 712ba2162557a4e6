"""The streaming job behind ``toppose-stream``: pipeline, overlays, outputs, summary."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Iterator

from toppose.runtime.draw import draw_heights, draw_poses, draw_status
from toppose.runtime.estimator import PoseEstimator
from toppose.runtime.multi import split_cores
from toppose.runtime.outputs import JsonlWriter, OpenPoseJsonWriter, VideoOut, frame_record
from toppose.runtime.pipeline import QUEUE_SIZE, Pipeline, StreamStats
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
    track: bool = False             # persistent ids (--track); zones imply it
    zones: Path | None = None       # zones.json: occupancy, crossings, dwell, events
    mqtt: str | None = None         # mqtt://HOST:PORT/TOPIC
    mqtt_poses: bool = True         # publish each frame's poses too (not only events, occupancy, status)
    lift3d: bool = False            # --3d: keypoints in metres, the floor, heights above it
    down_after: float = 10.0        # --3d with tracking: seconds lying before a "down" event
    batch: bool | None = None       # several sources in one call; None: where it pays (GPU providers)

    @property
    def tracking(self) -> bool:
        """Whether people are tracked: --track, or zones (they count tracked people)."""
        return self.track or self.zones is not None


class Outputs:
    """The per-frame sinks of one source: JSON lines (shared), OpenPose JSON, overlay video, window.

    ``several``: one of several sources, so ``--save`` and ``--openpose-json`` are folders holding
    ``<source>.mp4`` and ``<source>/``. Tracking and zones run per source (each camera has its own ids)."""

    def __init__(self, cfg: StreamConfig, session: PoseSession, stop, jsonl: JsonlWriter | None = None,
                 name: str = "", several: bool = False) -> None:
        self.cfg, self.session, self.stop, self.jsonl, self.name = cfg, session, stop, jsonl, name
        op = cfg.openpose_json / name if several and cfg.openpose_json else cfg.openpose_json
        self.openpose = OpenPoseJsonWriter(op) if op else None
        save = cfg.save / f"{name}.mp4" if several and cfg.save else cfg.save
        self.video = VideoOut(save, cfg.fps_out) if save else None
        self.analytics = None
        self.space = None
        if cfg.lift3d:
            from toppose.runtime.space import Space
            self.space = Space()
        if cfg.track or cfg.zones or cfg.mqtt:
            from toppose.runtime.analytics import Analytics
            self.analytics = Analytics(cfg.track, cfg.zones, cfg.mqtt, source=name if several else None,
                                       mqtt_poses=cfg.mqtt_poses,
                                       down_after=cfg.down_after if cfg.lift3d else None)

    def write(self, result, fps: float) -> None:
        """All sinks; the JSON line goes last, so its ``output`` and ``latency`` cover every other
        output of the frame (all but that one line's own write). Tracking and zones count as output."""
        c, t = result.captured, result.timings
        with t.measure("output"):
            frame, poses = self._analyse(result)
            space = self.space(poses, c.frame, c.intrinsics) if self.space else None
            if space is not None and self.analytics:
                self.analytics.watch_down([h["lying"] for h in space.heights])
            self._write_frame(result, poses, fps, space)
        t.latency = 1000 * (time.perf_counter() - result.started)
        if self.jsonl or (self.analytics and self.analytics.publisher):
            line = frame_record(result.index, c.timestamp, poses, t, frame, source=self.name, space=space)
            if self.jsonl:
                self.jsonl.write_line(line)
            if self.analytics:
                self.analytics.publish(line)

    def _analyse(self, result):
        """(tracking and zones of the frame or None, the people the ids refer to)."""
        if not self.analytics:
            return None, result.poses
        c = result.captured
        frame = self.analytics.update(result.poses, c.frame.shape[:2], result.index, c.timestamp)
        return frame, frame.poses

    def _write_frame(self, result, poses, fps: float, space=None) -> None:
        if self.openpose:
            self.openpose.write(result.index, result.captured.name, poses)
        if self.video or self.cfg.show:
            overlay = draw_poses(result.image.copy(), poses, self.session.spec.skeleton)
            if self.analytics:
                self.analytics.draw(overlay)
            if space is not None:
                draw_heights(overlay, poses, space.heights)
            draw_status(overlay, f"{fps:5.1f} FPS  {len(result.poses)} people  {self.session.device}")
            if self.video:
                self.video.write(overlay, result.captured.name)
            if self.cfg.show:
                import cv2
                cv2.imshow(f"toppose {self.name}", overlay)
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    self.stop.set()

    def close(self, keep: bool = True) -> dict:
        """Finish this source's sinks (``keep``) or discard them all; returns tracking and zone
        totals (empty without --track); the first sink error is raised."""
        totals = self.analytics.close() if self.analytics else {}
        _close_all((self.openpose, self.video), keep)
        return totals


def _close_all(sinks, keep: bool) -> None:
    error = None
    for sink in sinks:
        if sink:
            try:
                sink.close(keep)
            except OSError as e:  # OutputError too: a short video
                error = error or e
    if error is not None:
        raise error


def run_stream(sources: Source | list[Source], session: PoseSession, cfg: StreamConfig,
               decoder: str = "sparse") -> StreamStats:
    """Stream ``sources`` through one session until all end, a limit is reached, or SIGINT/SIGTERM.

    ``stats.sources``: each source's own stats (FPS, drops, latency). A signal ends the stream
    cleanly (outputs finished) and is recorded in ``stats.interrupted``."""
    network, calls = shared_network(session, sources, cfg.batch)
    pipeline = Pipeline(sources, PoseEstimator(network, decoder, decoder_settings(session, cfg)), batch=cfg.batch,
                        calls=calls)
    stats, names = pipeline.stats, pipeline.names
    jsonl = JsonlWriter(cfg.jsonl) if cfg.jsonl else None
    outputs = {n: Outputs(cfg, session, pipeline.stop, jsonl, n, len(names) > 1) for n in names}
    stats.sources, stats.queued = pipeline.source_stats, pipeline.queued

    def on_signal(signum, _frame) -> None:
        stats.interrupted = signum
        pipeline.stop.set()
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if _main_thread() else {}
    complete = False
    try:
        with steady_gc():
            complete = _consume(pipeline, cfg, session, outputs, stats)
    finally:
        pipeline.stop.set()
        _finish(outputs, jsonl, names, stats, complete)
        for s, handler in previous.items():
            signal.signal(s, handler)
    return stats


def shared_network(session: PoseSession, sources: Source | list[Source],
                   batch: bool | None) -> tuple[PoseSession, int]:
    """(the session the stream runs, network calls at once). On CPU, not batched, with frames for
    more than one call at a time (several sources, or a file source at full speed, which offers as
    many as its queue holds): the session's threads split among calls at once
    (``multi.split_cores``); otherwise ``session``, one call."""
    sources = [sources] if isinstance(sources, Source) else sources
    lanes = sum(1 if s.live else QUEUE_SIZE for s in sources)
    if lanes < 2 or batch or session.device != "CPUExecutionProvider":
        return session, 1
    calls, threads = split_cores(lanes, session.threads)
    return (session.with_threads(threads), calls) if calls > 1 else (session, 1)


def decoder_settings(session: PoseSession, cfg: StreamConfig):
    """The model's decoder settings; when tracking, without the decoder's piece merging: the tracker
    joins the pieces of one person itself, over time (``track_pieces``), and with both the bundled
    model's tracks lost ids on the held-out sequences (benchmarks/test_bench_tracking.py)."""
    config = session.decoder_config
    return replace(config, merge=False) if cfg.tracking and config.merge else config


@contextlib.contextmanager
def steady_gc() -> Iterator[None]:
    """Leave the objects alive when streaming starts (modules, the session, Numba's compiled code) out
    of the garbage collector's passes until it ends: a full pass over them took 30-50 ms on a 2-core
    box, longer than a frame period at 30 FPS, and showed as a frame's latency. Restored afterwards."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _consume(pipeline: Pipeline, cfg: StreamConfig, session: PoseSession, outputs: dict,
             stats: StreamStats) -> bool:
    """Write every result until the stream ends or a limit is reached; True when it ended normally."""
    last_status, checked = time.perf_counter(), set()
    for result in pipeline.run():
        if result.source not in checked:
            checked.add(result.source)
            _check_modality(result.captured.frame, session)
        own = pipeline.source_stats[result.source]
        outputs[result.source].write(result, own.fps)  # fills the output and latency timings
        stats.add(result.timings)
        own.add(result.timings)
        if time.perf_counter() - last_status > 1.0 and sys.stderr.isatty():
            sys.stderr.write(f"\r{stats.frames} frames, {stats.fps:.1f} FPS, {stats.dropped} dropped")
            last_status = time.perf_counter()
        if (cfg.frames and stats.frames >= cfg.frames) or \
                (cfg.duration_s and time.perf_counter() - stats.started >= cfg.duration_s):
            pipeline.stop.set()
    return True


def _finish(outputs: dict, jsonl: JsonlWriter | None, names: list, stats: StreamStats, keep: bool) -> None:
    """Close every source's sinks and the shared JSON lines; tracking totals into the summary."""
    totals, error = {}, None
    for n, o in outputs.items():
        try:
            if t := o.close(keep):
                totals[n] = t
        except OSError as e:
            error, keep = error or e, False
    try:
        _close_all((jsonl,), keep)
    except OSError as e:
        error = error or e
    if totals:
        stats.extra["tracking"] = next(iter(totals.values())) if len(names) == 1 else totals
    if error is not None:
        raise error


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
