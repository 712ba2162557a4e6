"""Several sources, one session: a capture thread per source and batched or concurrent network calls.

Each ``Feed`` reads its source's frames on its own thread. File sources at full speed are
preprocessed there too and queue up to ``depth`` frames (their reading waits). Live and paced
sources keep only their newest frame (older ones are dropped and counted); their frames wait
undecoded (a dropped frame costs little). ``gather`` takes the waiting frame of every source that
has one (or of the next one in turn, when calls are not batched), never from a source whose
frames fill its room in the calls (one frame, or one per call for a file at full speed);
``Batcher`` runs frames of one input size as one batch (N, 3, H, W) when the model's batch is
dynamic, else one call per frame.

Batching pays where a batch of n costs much less than n calls: on GPU providers. On CPU a batch
of four frames ran 1.0-1.2 times the frames per second of one frame per call, but a frame waits
for the whole batch (benchmarks: stream_four_sources). There the sources take turns, one frame
per call, and the cores are split among several calls at once (``split_cores``): each call
prepares (decodes and preprocesses) the frame it takes while the others hold the cores. A file
source at full speed has frames queued for every call, so alone it runs the same way (its
``Feed.room``); ``Pipeline`` puts its results back in order by their ``seq``. With one
call at a time (one core), ``Ahead`` readies the feed whose turn is next late in the running call:
it prepares the frame that feed holds, and the feed prepares each newer one as it arrives. Threads
that prepare frames beside the network run at the lowest scheduling priority (``yield_to_inference``).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from toppose.inference import PosePredictor, Prepared, Timings
from toppose.runtime.sources import Captured, Source, SourceError, open_source

log = logging.getLogger("toppose.runtime")
BACKGROUND_NICE = 19  # the capture and prepare-ahead threads' nice value (Linux)


def yield_to_inference() -> None:
    """Lower the calling thread's scheduling priority (Linux: per-thread nice, ``BACKGROUND_NICE``).

    On a small box onnxruntime's threads use every core, and a parallel operator waits for its
    slowest thread: a capture thread holding a core then stalls the whole network call. At the
    lowest priority, reading and preparing frames fill the gaps the network leaves (its serial
    operators, decoding), and the network's threads take a core back as soon as they wake
    (benchmarks: stream_fps). Elsewhere, and where it is not allowed, nothing changes."""
    if not sys.platform.startswith("linux"):  # elsewhere a thread id is no process id for setpriority
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), BACKGROUND_NICE))
    except OSError:
        pass


@dataclass
class Waiting:
    """A captured frame waiting for the network."""

    captured: Captured
    started: float      # perf_counter seconds when the frame was taken (glass)
    timings: Timings
    prepared: Prepared | None = None  # set by ``prepare``
    seq: int = 0                      # its place among the frames ``gather`` took from its feed
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)  # one preparation

    @classmethod
    def of(cls, captured: Captured) -> "Waiting":
        started = captured.glass or time.perf_counter() - captured.capture_ms / 1000
        return cls(captured, started, Timings(capture=captured.capture_ms))


class Feed:
    """One source's capture thread and its waiting frames (guarded by the pipeline's ``cond``)."""

    def __init__(self, source: Source, name: str, prepare: Callable[[Waiting], Waiting],
                 cond: threading.Condition, stop: threading.Event, depth: int) -> None:
        self.source, self.name, self.prepare = source, name, prepare
        self.cond, self.stop = cond, stop
        self.depth = 1 if source.live else depth
        self.frames: deque[Waiting] = deque()
        self.dropped, self.done, self.error = 0, False, None
        self.inflight = 0  # frames of this feed in network calls (or waiting to be queued as results)
        self.room = 1      # how many may be: a file source at full speed, one per call (``Pipeline``)
        self.taken = 0     # frames ``gather`` took: the next one's ``seq``
        self.eager = True  # prepare frames here, while the network works; False: only when taken
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"capture {name}")

    @property
    def skipped(self) -> int:
        """Frames dropped here plus those a paced source skipped for being late."""
        return self.dropped + getattr(self.source, "skipped", 0)

    def _run(self) -> None:
        if not self.source.live or self.eager:  # preparing frames: behind the network; handing them over: on time
            yield_to_inference()
        try:
            for captured in self.source:
                if self.stop.is_set():
                    break
                item = Waiting.of(captured)
                if self.source.live and not self.eager:
                    self._offer(item)  # likely replaced by a newer frame before the network takes it
                elif self.prepare(item) is not None:
                    self._offer(item)
        except Exception as e:  # one source failing leaves the others running
            self.error = e
            log.error("%s: %s; the other sources go on", self.name, e)
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def _offer(self, item: Waiting) -> None:
        with self.cond:
            if self.source.live and self.frames:  # newest frame wins
                self.dropped += len(self.frames)
                self.frames.clear()
            while len(self.frames) >= self.depth and not self.stop.is_set():
                self.cond.wait(0.1)
            self.frames.append(item)
            self.cond.notify_all()


def prepare_with(predictor: PosePredictor) -> Callable[[Waiting], Waiting | None]:
    """Decode (a deferred frame) and preprocess a waiting frame, once, on the calling thread;
    None for a frame that turned out unreadable."""
    def prepare(item: Waiting) -> Waiting | None:
        with item.lock:  # two threads may ask (the feed's and the one preparing ahead): the second waits
            if item.prepared is None:
                item.captured = item.captured.decoded()
                item.timings.capture = item.captured.capture_ms
                if item.captured.frame is None:
                    return None
                item.prepared = predictor.preprocess(item.captured.frame, item.timings)
        return item
    return prepare


class Ahead:
    """A thread that, taking turns, readies the feed whose turn is next late in the running network
    call (``SHARE`` of a typical call, less a typical preparation): from then on that feed prepares
    each new frame as it arrives, and this thread prepares the frame it already holds. Readied for
    the whole call, the feed prepared frames that a newer one then replaced: four paced sources at
    30 FPS prepared about 500 frames for 270 served, readied late about 400."""

    SHARE = 0.7  # ready the next feed this share of a call after it started, less a preparation's time

    def __init__(self, prepare: Callable[[Waiting], Waiting | None], cond: threading.Condition,
                 stop: threading.Event) -> None:
        self.prepare, self.cond, self.stop = prepare, cond, stop
        self.wanted: Feed | None = None
        self.due = 0.0
        self.call_s = self.prepare_s = 0.0  # running means: a network call, a preparation (seconds)
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="prepare ahead")

    def submit(self, feed: Feed, started: float) -> None:
        """Ready ``feed`` for the call after the one that started at perf_counter seconds ``started``."""
        self.wanted = feed
        self.due = started + self.SHARE * self.call_s - self.prepare_s
        self.wake.set()

    def called(self, seconds: float) -> None:
        """A network call took ``seconds``."""
        self.call_s = seconds if not self.call_s else 0.8 * self.call_s + 0.2 * seconds

    def _run(self) -> None:
        yield_to_inference()
        while not self.stop.is_set():
            if not self.wake.wait(0.1):
                continue
            self.wake.clear()
            wait = self.due - time.perf_counter()
            if wait > 0 and (self.wake.wait(wait) or self.stop.is_set()):
                continue  # a newer turn came first (or the stream ends)
            with self.cond:
                feed = self.wanted
                if feed is None:
                    continue
                feed.eager = True
                item = feed.frames[-1] if feed.frames else None
            if item is not None and item.prepared is None:
                t0 = time.perf_counter()
                try:
                    self.prepare(item)
                except Exception:  # the network's thread meets the same error when it takes the frame
                    continue
                took = time.perf_counter() - t0
                self.prepare_s = took if not self.prepare_s else 0.8 * self.prepare_s + 0.2 * took


def gather(feeds: list[Feed], cond: threading.Condition, stop: threading.Event,
           limit: int | None = None, first: int = 0) -> list[tuple[Feed, Waiting]] | None:
    """The waiting frame of each feed that has one and room in the calls (``Feed.room``: usually
    one frame in a call at a time), at most ``limit`` of them, looking from feed ``first`` on (round
    robin); None once all have ended or on stop. A frame taken holds its room until ``release``d;
    its ``seq`` numbers it among its feed's, so results from calls that end out of order can be
    put back in order."""
    order = feeds[first % len(feeds):] + feeds[:first % len(feeds)]
    with cond:
        while not stop.is_set():
            ready = [(f, f.frames.popleft()) for f in [f for f in order if f.frames and f.inflight < f.room][:limit]]
            if ready:
                for f, w in ready:
                    f.inflight += 1
                    w.seq, f.taken = f.taken, f.taken + 1
                cond.notify_all()  # file sources waiting for room
                return ready
            if all(f.done and not f.frames for f in feeds):
                return None
            cond.wait(0.1)
    return None


def release(taken: list[tuple[Feed, Waiting]], cond: threading.Condition) -> None:
    """The feeds ``gather`` gave these frames of have room for their next ones."""
    with cond:
        for f, _ in taken:
            f.inflight -= 1
        cond.notify_all()


def dynamic_batch(predictor: PosePredictor) -> bool:
    """Whether the predictor's model takes any batch size (an onnxruntime session's first input dimension)."""
    session = getattr(predictor, "session", None)
    if session is None:
        return False
    dim = session.session.get_inputs()[0].shape[0]
    return not isinstance(dim, int)


def on_gpu(predictor: PosePredictor) -> bool:
    """Whether the predictor's session runs on a GPU provider, where batching the sources' frames pays."""
    session = getattr(predictor, "session", None)
    return session is not None and session.device != "CPUExecutionProvider"


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def split_cores(sources: int, threads: int = 0) -> tuple[int, int]:
    """(network calls at once, onnxruntime threads per call) for ``sources`` sources taking turns on
    CPU, sharing ``threads`` threads (0: one per core): the threads are split among as many calls
    as there are sources, at most one per thread. A parallel operator waits for its slowest thread
    and a small frame splits poorly, so on 2 cores two one-thread calls at once ran 1.1-1.2 times
    the frames per second of one two-thread call at a time, and more than batches of four
    (benchmarks: stream_four_sources)."""
    total = threads or cores()
    calls = max(1, min(sources, total))
    return calls, max(1, total // calls)


class Batcher:
    """Runs waiting frames through the network, batched by input size; reuses its batch buffers."""

    def __init__(self, predictor: PosePredictor, batched: bool) -> None:
        self.predictor, self.batched = predictor, batched
        self.buffers: dict[tuple, np.ndarray] = {}

    def __call__(self, items: list[Waiting]) -> list[tuple[np.ndarray, np.ndarray]]:
        """-> per item, paf (2K, h, w) and heatmaps (J+1, h, w). Each item's ``inference`` is its call's time."""
        if not self.batched or len(items) == 1:
            return [self.predictor.infer(w.prepared.x, w.timings) for w in items]
        maps: list = [None] * len(items)
        groups: dict[tuple, list[int]] = {}
        for i, w in enumerate(items):
            groups.setdefault(w.prepared.x.shape, []).append(i)
        for shape, idx in groups.items():
            key = (len(idx), *shape)
            x = self.buffers.get(key)
            if x is None:
                x = self.buffers[key] = np.empty(key, np.float32)
            for row, i in enumerate(idx):
                x[row] = items[i].prepared.x
            t0 = time.perf_counter()
            paf, heat = self.predictor.infer_batch(x)
            ms = 1000 * (time.perf_counter() - t0)
            for row, i in enumerate(idx):
                items[i].timings.inference = ms
                maps[i] = (paf[row], heat[row])
        return maps


def source_names(sources: list[Source]) -> list[str]:
    """File-safe, unique names from the sources' labels ("camera 0" -> "camera_0"; repeats get "-2")."""
    names: list[str] = []
    for s in sources:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", s.label).strip("_.") or "source"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def open_sources(cameras=(), videos=(), images=(), itops=(), realsense_files=(), demo: bool = False,
                 realsense: bool = False, serial: str | None = None, seed: int = 0, realtime: bool = False,
                 fps: float | None = None, depth_model: bool = False) -> list[Source]:
    """Every source named (options repeated), in option order; all closed again if one cannot open."""
    wanted = [dict(camera=c) for c in cameras] + [dict(video=v) for v in videos] + \
        [dict(images=i) for i in images] + [dict(itop=i) for i in itops] + \
        [dict(realsense_file=f) for f in realsense_files] + \
        ([dict(realsense=True, serial=serial)] if realsense else []) + ([dict(demo=True)] if demo else [])
    if not wanted:
        raise SourceError("choose a source: --camera, --video, --images, --itop, --realsense, --realsense-file "
                          "or --demo (repeat them for several)")
    if serial is not None and not realsense:
        raise SourceError("--serial picks a live RealSense: use it with --realsense")
    sources: list[Source] = []
    try:
        for kw in wanted:
            sources.append(open_source(**kw, seed=seed, realtime=realtime, fps=fps, depth_model=depth_model))
    except BaseException:
        for s in sources:
            s.close()
        raise
    return sources
