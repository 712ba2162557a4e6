"""Streaming as a generator: capture, inference and decoding overlap in threads.

capture thread per source (read; files also preprocess) -> [newest frame, or a bounded queue for
files] -> inference thread (the waiting frame of every source, batched into one call), or on CPU
several calls at once, each source's results put back in order -> [bounded queue] -> decode
(caller's thread) -> yielded Result; outputs are the caller's. onnxruntime,
OpenCV and the Numba decoder release the GIL, so the stages run in parallel. Live and paced
sources keep only their newest frame; older ones are dropped and counted. One source failing
or ending leaves the others running.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from toppose.codec.poses import Poses
from toppose.inference import PosePredictor, Prepared, Timings
from toppose.runtime.multi import (Ahead, Batcher, Feed, dynamic_batch, gather, on_gpu, prepare_with, release,
                                   source_names)
from toppose.runtime.sources import Captured, Source

log = logging.getLogger("toppose.runtime")
_END = object()
QUEUE_SIZE = 4  # frames a file source at full speed may queue


@dataclass
class Result:
    captured: Captured
    prepared: Prepared                 # the frame as the network took it
    poses: Poses
    timings: Timings                   # the predictor's stages, plus capture; output and latency by the consumer
    started: float                     # perf_counter seconds when the frame was taken (glass)
    source: str = "source"             # the source's name
    picked: float = 0.0                # perf_counter seconds when the network took the frame

    @property
    def index(self) -> int:
        return self.captured.index

    @property
    def image(self) -> np.ndarray:
        """(H, W, 3) uint8 BGR, the frame as the model saw it before resizing (made on first use)."""
        return self.prepared.image


@dataclass
class StreamStats:
    frames: int = 0
    dropped: int = 0
    interrupted: int = 0  # the signal that ended the stream, 0 if none
    started: float = field(default_factory=time.perf_counter)
    window: int = 2000  # keep the last N samples per stage: memory stays flat on long runs
    stages: dict[str, deque] = field(default_factory=dict)
    ended: float = 0.0  # perf_counter seconds of the last frame added
    queued: bool = False  # a file source at full speed: latency includes waiting in its queue
    sources: dict[str, "StreamStats"] = field(default_factory=dict)  # per source, when several
    extra: dict = field(default_factory=dict)  # e.g. tracking and zone totals, added to the summary

    def add(self, timings: Timings) -> None:
        self.frames += 1
        self.ended = time.perf_counter()
        for k, v in timings.as_dict().items():
            samples = self.stages.get(k)
            if samples is None:  # not setdefault: that would build a deque per stage per frame
                samples = self.stages[k] = deque(maxlen=self.window)
            samples.append(v)

    @property
    def fps(self) -> float:
        """Frames per second from the start to the last frame."""
        return self.frames / max((self.ended or time.perf_counter()) - self.started, 1e-9)

    def summary(self) -> dict:
        out = {"frames": self.frames, "dropped": self.dropped, "fps": round(self.fps, 2)}
        for k, v in self.stages.items():
            if v:
                out[f"{k}_ms_p50"] = round(float(np.percentile(v, 50)), 2)
                out[f"{k}_ms_p95"] = round(float(np.percentile(v, 95)), 2)
        out["latency_kind"] = "includes queueing (file source at full speed)" if self.queued else "glass-to-pose"
        if len(self.sources) > 1:
            out["sources"] = {n: s.summary() for n, s in self.sources.items()}
        return {**out, **self.extra}


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
    """``Pipeline(sources, predictor).run()`` yields every source's Results, each source's in order.

    ``sources``: one Source or several (of one modality); ``queue_size``: frames a file source
    at full speed may queue. ``batch``: run the waiting frames of all sources as one call (needs a
    model with a dynamic batch); None: only where that pays, on GPU providers (see ``multi``).
    ``calls``: when not batched, network calls in flight at once, each on its own thread
    (``multi.split_cores``). A live or paced source has a frame in at most one of them; a file
    source at full speed may have one in each, and its results are put back in order.
    ``stats`` covers all sources; ``source_stats`` each one.
    """

    def __init__(self, sources: Source | list[Source], predictor: PosePredictor, queue_size: int = QUEUE_SIZE,
                 batch: bool | None = None, calls: int = 1) -> None:
        self.sources = [sources] if isinstance(sources, Source) else list(sources)
        self.predictor = predictor
        self.stop, self.cond = threading.Event(), threading.Condition()
        self.names = source_names(self.sources)
        self.prepare = prepare_with(predictor)
        self.feeds = [Feed(s, n, self.prepare, self.cond, self.stop, queue_size)
                      for s, n in zip(self.sources, self.names)]
        dynamic = dynamic_batch(predictor)
        self.batched = dynamic and (on_gpu(predictor) if batch is None else batch)
        taking_turns = len(self.sources) > 1 and not self.batched
        self.calls = 1 if self.batched else max(1, calls)
        self.ahead = Ahead(self.prepare, self.cond, self.stop) if taking_turns and self.calls == 1 else None
        for f in self.feeds:
            # a live frame is handed over on time and prepared by the call that takes it: prepared on a
            # capture thread at the lowest priority it waits for a busy box's spare time (measured, one
            # paced source beside two busy processes: 86-94 ms p50 with 40 % dropped, handed over 17-25
            # ms and none; stream_paced_30fps in benchmarks keeps the handed-over figure beside one)
            f.eager = self.ahead is not None
            f.room = 1 if f.source.live else self.calls  # a file at full speed: frames in every call, put back in order
        self.turn = 0  # the feed whose turn is next
        if self.calls > 1 and not taking_turns:
            log.info("%s at full speed: %d network calls at once, its results put back in order",
                     self.sources[0].label, self.calls)
        if taking_turns:
            why = "the model has a fixed batch size" if not dynamic else \
                "on CPU a frame would wait for its whole batch" if batch is None else "--no-batch"
            log.info("%s: one network call per frame, the sources in turn%s", why,
                     f", {self.calls} calls at once" if self.calls > 1 else "")
        self.stats = StreamStats()
        self.source_stats = {n: StreamStats() for n in self.names}
        self.queued = any(not s.live for s in self.sources)  # file sources at full speed: latency includes queueing
        self.error: BaseException | None = None

    def _infer(self, out: queue.Queue) -> None:
        batcher = Batcher(self.predictor, self.batched)
        limit = None if self.batched else 1
        try:
            while (ready := gather(self.feeds, self.cond, self.stop, limit, self.turn)) is not None:
                picked = time.perf_counter()
                self.turn = self.feeds.index(ready[-1][0]) + 1
                if self.ahead is not None:  # taking turns: the next feed is readied shortly before this call ends
                    for f in self.feeds:
                        f.eager = False
                    self.ahead.submit(self.feeds[self.turn % len(self.feeds)], picked)
                readable = [w for _, w in ready if self.prepare(w) is not None]  # live frames: prepared now
                maps = iter(batcher(readable) if readable else [])
                if self.ahead is not None:
                    self.ahead.called(time.perf_counter() - picked)
                for feed, w in ready:  # an unreadable frame goes as (None, None): its place in the order is free
                    paf, heat = next(maps) if w.prepared is not None else (None, None)
                    if not _put(out, (feed, w, picked, paf, heat), self.stop):
                        return
                release(ready, self.cond)  # queued in order: the feeds' next frames may go
        except BaseException as e:  # surfaced in the caller's thread; the other calls stop too
            self.error = e
            self.stop.set()
        finally:
            _put(out, _END, self.stop)

    def run(self) -> Iterator[Result]:
        """Yield results until every source ends or ``stop`` is set; threads are joined, sources closed."""
        out: queue.Queue = queue.Queue(len(self.feeds))  # one batch ahead of decoding: results never go stale here
        infer = [threading.Thread(target=self._infer, args=(out,), daemon=True,
                                  name="inference" + (f" {i}" if i else "")) for i in range(self.calls)]
        self.stats.started = time.perf_counter()
        for s in self.source_stats.values():
            s.started = self.stats.started
        for f in self.feeds:
            f.thread.start()
        if self.ahead is not None:
            self.ahead.thread.start()
        for t in infer:
            t.start()
        try:
            ended, early = 0, {f.name: {} for f in self.feeds}  # per feed: results that came before their turn
            emitted = {f.name: 0 for f in self.feeds}
            while ended < self.calls:
                if (item := _get(out, self.stop)) is _END:
                    ended += 1
                    if self.stop.is_set():
                        break
                    continue
                feed, w = item[0], item[1]
                waiting = early[feed.name]
                waiting[w.seq] = item
                while not self.stop.is_set() and (item := waiting.pop(emitted[feed.name], None)) is not None:
                    emitted[feed.name] += 1
                    _, w, picked, paf, heat = item
                    if paf is None:  # unreadable
                        continue
                    poses = self.predictor.decode(paf, heat, w.prepared.box.scale, w.timings)
                    self._count_drops()
                    yield Result(w.captured, w.prepared, poses, w.timings, w.started, feed.name, picked)
            self._raise_if_all_failed()
        finally:
            self.stop.set()
            helpers = [self.ahead.thread] if self.ahead is not None else []
            for t in [*infer, *helpers] + [f.thread for f in self.feeds]:
                t.join(timeout=5)
            self._count_drops()
            for s in self.sources:
                s.close()

    def _count_drops(self) -> None:
        for f in self.feeds:
            self.source_stats[f.name].dropped = f.skipped
        self.stats.dropped = sum(f.skipped for f in self.feeds)

    def _raise_if_all_failed(self) -> None:
        if self.error is not None:
            raise self.error
        errors = [f.error for f in self.feeds if f.error is not None]
        if errors and len(errors) == len(self.feeds):
            raise errors[0]
