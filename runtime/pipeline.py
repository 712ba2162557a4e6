"""Streaming as a generator: capture, inference and decoding overlap in threads.

capture thread -> [bounded queue] -> inference thread -> [bounded queue] -> decode (caller's
thread) -> yielded Result. onnxruntime, OpenCV and the Numba decoder release the GIL, so the
stages run in parallel. For live sources only the newest frame waits; older ones are dropped
and counted. Memory is bounded by the queue sizes.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from toppose.codec.poses import Poses
from toppose.inference import PosePredictor, Timings
from toppose.runtime.sources import Captured, Source

_END = object()


@dataclass
class Result:
    captured: Captured
    image: np.ndarray                  # the frame as the model saw it before resizing: (H, W, 3) uint8
    poses: Poses
    timings: Timings                   # the predictor's stages, plus capture; output and latency by the consumer
    started: float                     # perf_counter when the frame's capture began

    @property
    def index(self) -> int:
        return self.captured.index


@dataclass
class StreamStats:
    frames: int = 0
    dropped: int = 0
    interrupted: int = 0  # the signal that ended the stream, 0 if none
    started: float = field(default_factory=time.perf_counter)
    window: int = 2000  # keep the last N samples per stage: memory stays flat on long runs
    stages: dict[str, deque] = field(default_factory=dict)

    def add(self, timings: Timings) -> None:
        self.frames += 1
        for k, v in timings.as_dict().items():
            self.stages.setdefault(k, deque(maxlen=self.window)).append(v)

    @property
    def fps(self) -> float:
        return self.frames / max(time.perf_counter() - self.started, 1e-9)

    def summary(self) -> dict:
        out = {"frames": self.frames, "dropped": self.dropped, "fps": round(self.fps, 2)}
        for k, v in self.stages.items():
            if v:
                out[f"{k}_ms_p50"] = round(float(np.percentile(v, 50)), 2)
                out[f"{k}_ms_p95"] = round(float(np.percentile(v, 95)), 2)
        return out


def _get(q: queue.Queue, stop: threading.Event):
    """The next item, or _END once ``stop`` is set."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class Pipeline:
    def __init__(self, source: Source, predictor: PosePredictor, queue_size: int = 4) -> None:
        self.source, self.predictor = source, predictor
        self.queue_size = 1 if source.live else queue_size
        self.stats = StreamStats()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def _capture(self, out: queue.Queue) -> None:
        try:
            for captured in self.source:
                if self.stop.is_set():
                    break
                item = (captured, time.perf_counter() - captured.capture_ms / 1000)
                if self.source.live:  # newest frame wins
                    try:
                        out.put_nowait(item)
                    except queue.Full:
                        try:
                            out.get_nowait()
                            self.stats.dropped += 1
                        except queue.Empty:
                            pass
                        out.put_nowait(item)
                elif not _put(out, item, self.stop):
                    break
        except BaseException as e:  # surfaced in the caller's thread
            self.error = e
        finally:
            _put(out, _END, self.stop)

    def _infer(self, inp: queue.Queue, out: queue.Queue) -> None:
        try:
            while (item := _get(inp, self.stop)) is not _END:
                captured, started = item
                timings = Timings(capture=captured.capture_ms)
                prepared = self.predictor.preprocess(captured.frame, timings)
                paf, heat = self.predictor.infer(prepared.x, timings)
                if not _put(out, (captured, started, prepared, paf, heat, timings), self.stop):
                    break
        except BaseException as e:
            self.error = e
        finally:
            _put(out, _END, self.stop)

    def run(self) -> Iterator[Result]:
        """Yield results in order until the source ends or ``stop`` is set; threads are joined."""
        q1: queue.Queue = queue.Queue(self.queue_size)
        q2: queue.Queue = queue.Queue(self.queue_size)
        threads = [threading.Thread(target=self._capture, args=(q1,), daemon=True, name="capture"),
                   threading.Thread(target=self._infer, args=(q1, q2), daemon=True, name="inference")]
        for t in threads:
            t.start()
        self.stats.started = time.perf_counter()
        try:
            while (item := _get(q2, self.stop)) is not _END:
                captured, started, prepared, paf, heat, timings = item
                poses = self.predictor.decode(paf, heat, prepared.box.scale, timings)
                yield Result(captured, prepared.image, poses, timings, started)
            if self.error is not None:
                raise self.error
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=5)
            self.source.close()
