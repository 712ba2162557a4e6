"""Continuous overhead sequences with identities: people walk in through the borders, wander
(stopping, turning, passing close to each other) and walk out again. Ground truth for tracking.

``SequencePlayer(seed, (lo, hi)).frames(n)`` yields ``SequenceFrame``s; ``write_sequence``
writes them in the training format with a ``track_id`` per annotation (PoseTrack-style; a
person who strays out of view and comes back is a new visit with a new id, as nothing in a
depth image could re-identify them) and,
for a zones file, the true occupancy and line crossings (``counts.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from toppose.data.format import DatasetWriter, mask_box, person_annotation
from toppose.io import write_json
from toppose.skeleton import NUM_OPENPOSE, OPENPOSE_FROM_ITOP
from toppose.synth.body import Body, place
from toppose.synth.player import ScenePlayer, _Walker
from toppose.synth.render import INTRINSICS
from toppose.synth.scenes import Frame, frame_keypoints, render

COUNTS = "counts.json"
GAP = 0.6  # m between two people's centres: they pass close but never overlap


@dataclass
class SequenceFrame:
    """frame: the rendered frame; keypoints (P, 18, 3) OpenPose x, y, v of the people in it;
    track_ids (P,); centres (P, 2) px: each person's true body centre (all torso joints, seen or not)."""

    frame: Frame
    keypoints: np.ndarray
    track_ids: np.ndarray
    centres: np.ndarray


@dataclass
class _Route:
    walker: _Walker
    track_id: int
    waypoints: list          # floor (x, y) targets still to visit; the last one is outside the view
    still: float = 0.0       # seconds without moving while walking (blocked by someone)
    seen: bool = False       # in view in the previous frame
    ever: bool = False       # in view at some point
    leaving: bool = False    # heading for the way out


class SequencePlayer(ScenePlayer):
    """Between ``people[0]`` and ``people[1]`` people in view; deterministic for a seed."""

    def __init__(self, seed: int = 0, people: tuple[int, int] = (1, 6), fps: float = 15.0,
                 camera_height: float = 3.0) -> None:
        super().__init__(seed, 0, "top", fps, camera_height)
        self.span = people
        self.edge = np.array(self.camera.footprint(camera_height)) + 0.6   # outside the view
        self.routes: list[_Route] = []
        self.next_id = 1
        self.wanted = int(self.rng.integers(people[0], people[1] + 1))
        self.cooldown = 0.0

    def _border_point(self, side: int | None = None) -> np.ndarray:
        side = int(self.rng.integers(0, 4)) if side is None else side
        axis, sign = side // 2, 1 if side % 2 else -1
        xy = self.rng.uniform(-self.edge * 0.75, self.edge * 0.75)
        xy[axis] = sign * self.edge[axis]
        return xy

    def _enter(self) -> None:
        start = self._border_point()
        inner = [self.rng.uniform(self.lo, self.hi) for _ in range(int(self.rng.integers(1, 4)))]
        to = inner[0] - start
        walker = _Walker(Body.random(self.rng), start, float(np.arctan2(to[1], to[0])), inner[0],
                         float(self.rng.uniform(0.7, 1.3)), int(self.rng.integers(0, 2**31)))
        self.routes.append(_Route(walker, self.next_id, inner[1:] + [self._border_point()]))
        self.next_id += 1

    def _plan(self) -> None:
        """Spawn and retire people so the count of those staying follows ``wanted``; re-draw it now and then."""
        if self.rng.random() < self.dt / 20.0:
            self.wanted = int(self.rng.integers(self.span[0], self.span[1] + 1))
        self.cooldown -= self.dt
        staying = sum(not r.leaving for r in self.routes)
        if staying < self.wanted and self.cooldown <= 0:
            self._enter()
            self.cooldown = float(self.rng.uniform(0.3, 1.5))
        for r in self.routes:
            w = r.walker
            if np.linalg.norm(w.target - w.xy) < 0.5 and r.waypoints:
                w.target = r.waypoints.pop(0)
                if not r.waypoints:                     # the next target is the way out
                    leave = staying > self.span[0] and (staying > self.wanted or self.rng.random() < 0.5)
                    if not leave:                       # stay: go somewhere inside first
                        r.waypoints.append(w.target)
                        w.target = self.rng.uniform(self.lo, self.hi)
                    else:
                        r.leaving, staying = True, staying - 1
            if r.still > 1.5:   # blocked: head somewhere else for now
                r.waypoints.insert(0, w.target)         # back to it after the detour
                w.target = self.rng.uniform(self.lo, self.hi)
                r.still = 0.0
        self.routes = [r for r in self.routes if r.waypoints or np.linalg.norm(r.walker.target - r.walker.xy) >= 0.5]

    def _step(self, w: _Walker, others: list[_Walker]) -> np.ndarray:
        """ScenePlayer's step (actions, gait), but a walker about to come within GAP m of
        someone steers round them instead of stopping."""
        walking = w.act(self.rng, self.dt, 0.1, (1.0, 3.0))
        if walking:
            to = w.target - w.xy
            turn = (np.arctan2(to[1], to[0]) - w.heading + np.pi) % (2 * np.pi) - np.pi
            w.heading += np.clip(turn, -2.5 * self.dt, 2.5 * self.dt)
            for dev in (0.0, 0.6, -0.6, 1.2, -1.2):
                h = w.heading + dev
                step = w.speed * self.dt * np.array([np.cos(h), np.sin(h)])
                if all(np.linalg.norm(w.xy + step - o.xy) > GAP for o in others if o is not w):
                    w.xy, w.heading = w.xy + step, h if dev == 0.0 else w.heading + 0.3 * dev
                    w.phase += 2 * np.pi * 0.9 * w.speed * self.dt
                    break
        return w.pose(walking)

    def frames(self, count: int | None = None) -> Iterator[SequenceFrame]:
        i = 0
        while count is None or i < count:
            self._plan()
            walkers = [r.walker for r in self.routes]
            people = []
            for r in self.routes:
                before = r.walker.xy.copy()
                pose = self._step(r.walker, walkers)
                moved = np.linalg.norm(r.walker.xy - before) > 1e-6
                r.still = 0.0 if moved or r.walker.action is not None else r.still + self.dt
                people.append(place(r.walker.body, pose, tuple(r.walker.xy), r.walker.heading))
            frame = render(self.camera, people, [], self.rng)
            for p, r in enumerate(self.routes):   # back in view after leaving it: a new visit, a new id
                seen = bool(frame.areas[p] > 0 or frame.in_frame[p].any())
                if seen and not r.seen and r.ever:
                    r.track_id, self.next_id = self.next_id, self.next_id + 1
                r.seen, r.ever = seen, r.ever or seen
            yield _truth(frame, np.array([r.track_id for r in self.routes], np.int64))
            i += 1


def _truth(frame: Frame, ids: np.ndarray) -> SequenceFrame:
    from toppose.runtime.track_pieces import body_centres

    n = len(ids)
    kp = frame_keypoints(frame)
    full = np.zeros((n, NUM_OPENPOSE, 3), np.float32)     # every joint, in frame or not: the true centre
    mapped = [k for k, j in enumerate(OPENPOSE_FROM_ITOP) if j >= 0]
    full[:, mapped, :2] = frame.joints_uv[:, [OPENPOSE_FROM_ITOP[k] for k in mapped]]
    full[:, mapped, 2] = 2
    centres = body_centres(full)[0] if n else np.zeros((0, 2))
    return SequenceFrame(frame, kp, ids, centres)


def write_sequence(out: str | Path, frames: int, seed: int, people: tuple[int, int] = (1, 6),
                   zones=None, progress=None) -> dict:
    """Render a sequence in the training format (annotations carry ``track_id``; images carry
    ``frame``). With ``zones`` (a runtime.zones.Zones), also ``counts.json``: the true occupancy
    per frame and line crossings of the people's true body centres, as totals per line and as
    events (frame, track id, line, direction, where on the line), and the image size."""
    from toppose.runtime.zones import ZoneCounter
    from toppose.synth.writers import depth_to_mm

    writer = DatasetWriter(out, {"source": "toppose synthetic sequence", "view": "top", "seed": seed,
                                 "people": list(people), "sequence": True, "modality": "depth",
                                 "depth_unit": "mm", "camera": INTRINSICS})
    # what the zone counter would count seeing every true centre: its own margin (a centre this far
    # past the line is a crossing, by the counter's definition), and no gap or jump (true centres
    # are never out of sight and move smoothly)
    counter = ZoneCounter(zones, max_gap=1, max_step=np.inf) if zones is not None else None
    occupancy, crossings, alive = [], [], set()
    for i, s in enumerate(SequencePlayer(seed, people).frames(frames)):
        anns = []
        for p, tid in enumerate(s.track_ids.tolist()):
            if s.frame.areas[p] == 0 and not (s.keypoints[p, :, 2] > 0).any():
                continue   # not in view
            _, bbox = mask_box(s.frame.person == p)
            anns.append({**person_annotation(s.keypoints[p], float(max(s.frame.areas[p], 1)), bbox), "track_id": tid})
        writer.add(depth_to_mm(s.frame.depth), anns, extra={"frame": i, "view": "top"})
        if counter is not None:
            ids = set(s.track_ids.tolist())
            occ, events = counter.update(s.track_ids, s.centres, sorted(alive - ids), i / 15.0, i)
            occupancy.append([occ[n] for n in zones.zone_names])
            crossings += [{k: e[k] for k in ("frame", "id", "line", "direction", "xy")} for e in events
                          if e["type"] == "cross"]
            alive = ids
        if progress:
            progress(i + 1, frames)
    if counter is not None:
        counts = counter.summary()
        h, w = s.frame.depth.shape
        write_json(Path(out) / COUNTS, {"zone_names": list(zones.zone_names), "occupancy": occupancy,
                                        "lines": counts["lines"], "zones": {n: {k: v for k, v in z.items() if k != "dwell_s"}
                                                                            for n, z in counts["zones"].items()},
                                        "image_size": [w, h], "crossings": crossings})
    return writer.close()
