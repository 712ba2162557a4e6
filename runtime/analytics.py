"""What a stream adds per frame with --track / --zones / --mqtt: ids, zone counts, events, publishing;
with --3d too, someone who stays down (``DownWatch``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from toppose.codec.poses import Poses
from toppose.runtime.track_border import border_distance
from toppose.runtime.tracking import Tracker, TrackerConfig
from toppose.runtime.zones import ZoneCounter, Zones, load_zones

log = logging.getLogger("toppose.runtime")


@dataclass
class FrameAnalytics:
    """poses: the frame's people (fragments merged when tracking); ids (P,) per person (-1 = not
    yet confirmed); tracks (N,) ids with centres (N, 2) px; occupancy per zone; events of this frame."""

    poses: Poses
    ids: np.ndarray | None
    track_ids: np.ndarray
    centres: np.ndarray
    occupancy: dict[str, int] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)   # ids the tracker dropped this frame


class DownWatch:
    """Someone who stays down: per tracked id, a ``down`` event once they have been lying (``--3d``'s
    flag) for ``after_s`` seconds, and an ``up`` event once they have not been for ``up_s`` seconds
    (a frame or two read wrong is no getting up) or, with ``gone``, when their track ends. Frames
    where the flag is unknown (too few keypoints on a depth reading) neither start nor end it."""

    def __init__(self, after_s: float, up_s: float = 1.0) -> None:
        self.after_s, self.up_s = after_s, up_s
        self.since: dict[int, float] = {}    # id -> when their current spell of lying began (s)
        self.rising: dict[int, float] = {}   # id -> when they were first seen not lying within it
        self.down: set[int] = set()          # ids announced down
        self.count = 0

    def update(self, ids, lying: list[bool | None], ended: list[int], frame: int, t: float) -> list[dict]:
        """ids (P,) of the frame's people (-1: unconfirmed), lying (P,) their flags -> the frame's events."""
        events = []
        for pid, flag in zip((int(i) for i in ids), lying):
            if pid < 0 or flag is None:
                continue
            if flag:
                since = self.since.setdefault(pid, t)
                self.rising.pop(pid, None)
                if pid not in self.down and t - since >= self.after_s:
                    self.down.add(pid)
                    self.count += 1
                    events.append({"type": "down", "id": pid, "frame": frame, "time": round(t, 3),
                                   "since": round(since, 3)})
            elif pid in self.since and t - self.rising.setdefault(pid, t) >= self.up_s:
                events += self._end(pid, frame, t)
        for pid in ended:
            events += self._end(pid, frame, t, gone=True)
        return events

    def _end(self, pid: int, frame: int, t: float, gone: bool = False) -> list[dict]:
        since = self.since.pop(pid, None)
        self.rising.pop(pid, None)
        if pid not in self.down:
            return []
        self.down.discard(pid)
        return [{"type": "up", "id": pid, "frame": frame, "time": round(t, 3), "down_s": round(t - since, 3),
                 **({"gone": True} if gone else {})}]


class Analytics:
    """Tracker + zone counter (+ MQTT publisher) of one stream; all state is in this instance."""

    def __init__(self, track: bool = True, zones: Zones | Path | None = None, mqtt: str | None = None,
                 tracker: TrackerConfig = TrackerConfig(), source: str | None = None,
                 down_after: float | None = None, mqtt_poses: bool = True) -> None:
        """``source``: one of several sources' name; it publishes under ``TOPIC/<source>/``;
        ``mqtt_poses``: False publishes no poses (events, occupancy and status only).
        ``down_after``: seconds lying before a ``down`` event (``watch_down``, with --3d); None: none."""
        from toppose.runtime.publish import MqttPublisher, MqttTarget

        track = track or zones is not None  # zones count tracked people
        self.tracker = Tracker(tracker) if track else None
        if isinstance(zones, (str, Path)):
            zones = load_zones(zones)
        self.counter = ZoneCounter(zones) if zones is not None else None
        # the overlay's pixel geometry, fixed for the stream: rounded once, not on every drawn frame
        self._polygons = [np.rint(poly).astype(np.int32) for poly in zones.polygons] if zones is not None else []
        self._lines = [tuple(tuple(int(v) for v in np.rint(p)) for p in line) for line in zones.lines] \
            if zones is not None else []
        self.publisher = MqttPublisher(MqttTarget.parse(mqtt), source, poses=mqtt_poses) if mqtt else None
        self.downs = DownWatch(down_after) if down_after is not None and self.tracker is not None else None
        self.last: FrameAnalytics | None = None
        self.frame = 0
        self.t = 0.0
        self._checked_hw: tuple[int, int] | None = None

    def update(self, poses: Poses, image_hw: tuple[int, int], frame: int, t: float) -> FrameAnalytics:
        """One frame: poses in image pixels, image (H, W), frame index, time in seconds."""
        if self.tracker is None:
            self.last = FrameAnalytics(poses, None, np.zeros(0, np.int64), np.zeros((0, 2)))
            return self.last
        tf = self.tracker.update(poses, image_hw)
        out = FrameAnalytics(tf.poses, tf.ids, tf.track_ids, tf.centres, ended=tf.ended)
        if self.counter is not None:
            if image_hw != self._checked_hw:
                self._checked_hw = image_hw
                warn_lines_at_the_edge(self.counter.zones, image_hw, self.tracker.cfg.edge)
            out.occupancy, out.events = self.counter.update(tf.track_ids, tf.centres, tf.ended, t, frame, tf.seen)
        self.last, self.frame, self.t = out, frame, t
        return out

    def watch_down(self, lying: list[bool | None]) -> None:
        """The last frame's people's lying flags (``--3d``): its ``down`` and ``up`` events join its events."""
        if self.downs is not None and self.last is not None and self.last.ids is not None:
            self.last.events.extend(self.downs.update(self.last.ids, lying, self.last.ended, self.frame, self.t))

    def publish(self, line: dict) -> None:
        if self.publisher is not None and self.last is not None:
            self.publisher.publish(line, self.last.events)

    def draw(self, image: np.ndarray) -> np.ndarray:
        """Ids at the body centres (``DOWN`` in red beside someone down), zones with occupancy, lines with
        in/out counts; in place on (H, W, 3)."""
        if self.counter is not None:
            z, totals = self.counter.zones, self.counter.totals
            occ = self.last.occupancy if self.last else {}
            for name, pts in zip(z.zone_names, self._polygons):
                cv2.polylines(image, [pts], True, (0, 200, 255), 1, cv2.LINE_AA)
                _label(image, f"{name}: {occ.get(name, 0)}", pts.min(0))
            for name, (pa, pb) in zip(z.line_names, self._lines):
                cv2.arrowedLine(image, pa, pb, (255, 0, 255), 1, cv2.LINE_AA, tipLength=0.05)
                c = totals.crossings[name]
                _label(image, f"{name} in {c['in']} out {c['out']}", np.minimum(pa, pb))
        if self.last is not None:
            down = self.downs.down if self.downs is not None else ()
            for pid, (x, y) in zip(self.last.track_ids.tolist(), self.last.centres):
                _label(image, str(pid), (int(x) - 4, int(y)))
                if pid in down:
                    _label(image, "DOWN", (int(x) + 10, int(y)), (0, 0, 255))
        return image

    def close(self) -> dict:
        """End every zone visit still open and stop publishing; returns the totals for the summary."""
        out: dict = {"tracks": self.tracker.next_id - 1} if self.tracker is not None else {}
        if self.counter is not None:
            ended = list(self.counter.people)
            self.counter.update(np.zeros(0, np.int64), np.zeros((0, 2)), ended, self.t, self.frame)
            out.update(self.counter.summary())
        if self.downs is not None:
            out["downs"] = self.downs.count
        if self.publisher is not None:
            self.publisher.close()
            out["mqtt_poses_not_sent"] = self.publisher.dropped
            out["mqtt_events_not_sent"] = self.publisher.events_dropped
        return out


def lines_at_the_edge(zones: Zones, image_hw: tuple[int, int], edge: float) -> list[str]:
    """Names of the lines that come within ``edge`` px of the image border (the nearest point of
    a segment to the border is one of its ends)."""
    return [name for name, ends in zip(zones.line_names, zones.lines) if border_distance(ends, image_hw).min() < edge]


def warn_lines_at_the_edge(zones: Zones, image_hw: tuple[int, int], edge: float) -> None:
    near = lines_at_the_edge(zones, image_hw, edge)
    if near:
        log.warning("zones: line%s %s come%s within %g px of the %dx%d image's border, where people are partly out "
                    "of view: crossings there are counted less reliably (README: Tracking, counting and zones)",
                    "s" if len(near) > 1 else "", ", ".join(repr(n) for n in near), "" if len(near) > 1 else "s",
                    edge, image_hw[1], image_hw[0])


def _label(image: np.ndarray, text: str, xy, colour: tuple[int, int, int] = (255, 255, 255)) -> None:
    org = (int(max(xy[0], 0)), int(max(xy[1] - 3, 10)))
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
