"""Zones (named polygons) and directed lines in image pixels: occupancy, crossings, dwell, events.

zones.json::

    {"zones": [{"name": "desk", "polygon": [[x, y], [x, y], [x, y], ...]}],
     "lines": [{"name": "door", "from": [x, y], "to": [x, y]}]}

A crossing is ``in`` when a person moves onto the right-hand side of the line seen as an arrow
from ``from`` to ``to`` on the image (y down), ``out`` the other way. A side only changes once
the centre is more than ``margin`` px from the line, so jitter on the line counts nothing, and
only for people the caller marks as seen (measured this frame, clearly enough). It counts when
the straight path from where the side was last known to where it is now meets the segment
between ``from`` and ``to`` (someone who went round the line's end has crossed nothing), and
only when the person was seen at most ``max_gap`` frames before (frames the counter was given: a
live source's dropped frames do not count): someone out of sight for
longer may have gone anywhere, round the line's end or out of the image and back. Nor does it
count when the centre moved more than ``max_step`` px per source frame since it was last seen:
people walk, and a tracked centre that jumps is two people's ids swapped, or a poor fit at the
image border. (Per source frame, like the tracker's settings: an image folder read at full speed
has no time of its own.)
Dimensions: N tracked people, Z zones, L lines.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toppose.errors import ToposeError
from toppose.runtime.zone_kernels import lines_kernel, rows_kernel, zones_kernel


class ZonesError(ToposeError):
    """A bad zones file; the message names the file and the problem."""


@dataclass(frozen=True)
class Zones:
    zone_names: tuple[str, ...]
    polygons: tuple[np.ndarray, ...]       # each (V, 2) px
    line_names: tuple[str, ...]
    lines: np.ndarray                      # (L, 2, 2) px: from, to


def _points(value, what: str, path, count: int | None = None) -> np.ndarray:
    try:
        pts = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ZonesError(f"{path}: {what} must be a list of [x, y] pixel pairs") from None
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise ZonesError(f"{path}: {what} must be a list of [x, y] pixel pairs")
    if count is not None and len(pts) != count:
        raise ZonesError(f"{path}: {what} must have {count} points, got {len(pts)}")
    return pts


_KEYS = {"zones": ("name", "polygon"), "lines": ("name", "from", "to")}


def _named(items, key: str, path) -> list[dict]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ZonesError(f"{path}: '{key}' must be a list of objects")
    names = [i.get("name") for i in items]
    for n in names:
        if not isinstance(n, str) or not n:
            raise ZonesError(f"{path}: every entry of '{key}' needs a non-empty string 'name'")
    for i in items:   # a misspelt key would be ignored: the zone would not be what its author meant
        unknown = set(i) - set(_KEYS[key])
        if unknown:
            raise ZonesError(f"{path}: {key[:-1]} {i['name']!r} has unknown key(s) {sorted(unknown)}; "
                             f"expected {', '.join(repr(k) for k in _KEYS[key])}")
    twice = [n for n, c in Counter(names).items() if c > 1]
    if twice:
        raise ZonesError(f"{path}: duplicate name {twice[0]!r} in '{key}'")
    return items


def parse_zones(data, path: str | Path = "<zones>") -> Zones:
    """Validate a decoded zones document; raises ZonesError naming ``path`` and the problem."""
    if not isinstance(data, dict):
        raise ZonesError(f"{path}: expected a JSON object with 'zones' and/or 'lines'")
    unknown = set(data) - {"zones", "lines"}
    if unknown:
        raise ZonesError(f"{path}: unknown key(s) {sorted(unknown)}; expected 'zones' and 'lines'")
    zones = _named(data.get("zones", []), "zones", path)
    lines = _named(data.get("lines", []), "lines", path)
    if not zones and not lines:
        raise ZonesError(f"{path}: no zones and no lines")
    polys = []
    for z in zones:
        poly = _points(z.get("polygon"), f"zone {z['name']!r} polygon", path)
        if len(poly) < 3:
            raise ZonesError(f"{path}: zone {z['name']!r} polygon needs at least 3 points")
        polys.append(poly)
    segs = []
    for ln in lines:
        a = _points([ln.get("from"), ln.get("to")], f"line {ln['name']!r} from/to", path, 2)
        if np.allclose(a[0], a[1]):
            raise ZonesError(f"{path}: line {ln['name']!r} has the same 'from' and 'to'")
        segs.append(a)
    return Zones(tuple(z["name"] for z in zones), tuple(polys), tuple(ln["name"] for ln in lines),
                 np.asarray(segs, np.float64).reshape(-1, 2, 2))


def load_zones(path: str | Path) -> Zones:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ZonesError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ZonesError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise ZonesError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ZonesError(f"{path}: JSON nested too deeply to be a zones file") from None
    return parse_zones(data, path)


def inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N, 2) points, (V, 2) polygon -> (N,) bool, even-odd rule."""
    a, b = polygon, np.roll(polygon, -1, axis=0)
    px, py = points[:, None, 0], points[:, None, 1]
    straddle = (a[:, 1] > py) != (b[:, 1] > py)
    dy = np.where(b[:, 1] == a[:, 1], 1e-12, b[:, 1] - a[:, 1])
    x_cross = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / dy
    return ((straddle & (px < x_cross)).sum(1) % 2) == 1


def crossings_reference(centres: np.ndarray, seen: np.ndarray, lines: np.ndarray, margin: float, side: np.ndarray,
                        last: np.ndarray, gap: np.ndarray, max_gap: int, fast: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NumPy reference of ``lines_kernel``: centres (N, 2) px, seen (N,) bool, lines (L, 2, 2),
    the people's last sides (N, L) int8, where they were then (N, L, 2: along, across the line),
    frames since each was last seen (N,) and whether they moved more than ``max_step`` px a
    frame since (N,) bool -> (cross (N, L) int8: the new side where a seen person's path
    crossed the segment within ``max_gap`` frames of being seen, not that fast, else 0; the
    updated sides (N, L); the updated places (N, L, 2); where those paths met the segments (N, L)
    px from their start, NaN without a crossing)."""
    fast = np.zeros(len(centres), bool) if fast is None else fast
    d = lines[:, 1] - lines[:, 0]                                     # (L, 2)
    length = np.linalg.norm(d, axis=1)
    unit = d / length[:, None]
    rx = centres[:, :1] - lines[:, 0, 0]                              # (N, L)
    ry = centres[:, 1:] - lines[:, 0, 1]
    t, dist = unit[:, 0] * rx + unit[:, 1] * ry, unit[:, 0] * ry - unit[:, 1] * rx   # along, across (+: right)
    now = ((dist > margin).astype(np.int8) - (dist < -margin)) * seen[:, None]
    flipped = (now != 0) & (side != 0) & (now != side) & ((gap <= max_gap) & ~fast)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        at = last[..., 0] + (t - last[..., 0]) * last[..., 1] / (last[..., 1] - dist)   # where the path meets the line
    cross = np.where(flipped & (at >= 0) & (at <= length), now, 0).astype(np.int8)
    moved = now != 0
    places = np.where(moved[..., None], np.stack([t, dist], -1), last)
    return cross, np.where(moved, now, side).astype(np.int8), places, np.where(cross != 0, at, np.nan)


@dataclass
class ZoneTotals:
    entries: dict[str, int] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)
    max_occupancy: dict[str, int] = field(default_factory=dict)
    dwell_s: dict[str, dict[str, float]] = field(default_factory=dict)   # zone -> id -> seconds
    crossings: dict[str, dict[str, int]] = field(default_factory=dict)   # line -> in/out -> count


class ZoneCounter:
    """Per-id zone and line state in arrays (K people known, sorted by id); ``update`` once per
    frame with the tracker's live tracks. Only state changes cost Python time. margin px,
    max_gap frames and max_step px per source frame (module docstring): chosen with the tracker on
    its tuning sequences (issue 15). 30 px a frame at 15 FPS is 2.7 m/s at torso height under the
    synthetic 320x240 camera 3 m up (2 m/s under one 2.5 m up): faster than people walk; 20 px
    counted as well there, but is a normal walk under a low ceiling."""

    # per person, row k = ids[k]
    _PER_PERSON = ("inside", "entered", "entered_frame", "side", "last", "seen_at", "seen_xy", "seen_frame")

    def __init__(self, zones: Zones, margin: float = 6.0, max_gap: int = 3, max_step: float = 30.0) -> None:
        self.zones, self.margin, self.max_gap, self.max_step = zones, margin, max_gap, max_step
        self.updates = 0                                  # frames given so far: the clock of max_gap
        z, n_lines = len(zones.polygons), len(zones.lines)
        self.ids = np.zeros(0, np.int64)                  # (K,) ascending
        self.inside = np.zeros((0, z), bool)              # (K, Z)
        self.entered = np.zeros((0, z))                   # (K, Z) seconds
        self.entered_frame = np.zeros((0, z), np.int64)   # (K, Z)
        self.side = np.zeros((0, n_lines), np.int8)       # (K, L) last side beyond the margin, 0 = unknown
        self.last = np.zeros((0, n_lines, 2))             # (K, L, 2) where: along and across the line, px
        self.seen_at = np.zeros(0, np.int64)              # (K,) the update each was last seen in
        self.seen_xy = np.zeros((0, 2))                   # (K, 2) px, where
        self.seen_frame = np.zeros(0, np.int64)           # (K,) the source's frame index then
        names = zones.zone_names
        d = zones.lines[:, 1] - zones.lines[:, 0]
        length = np.linalg.norm(d, axis=1)
        unit = d / np.maximum(length, 1e-12)[:, None]
        self._lines = np.ascontiguousarray(np.column_stack([zones.lines[:, 0], unit, length]))   # (L, 5)
        self._edges, self._edge_zone = np.zeros((0, 4)), np.zeros(0, np.int64)
        if zones.polygons:   # every polygon's edges in one array: one pass per frame
            a = np.concatenate(zones.polygons)
            b = np.concatenate([np.roll(p, -1, axis=0) for p in zones.polygons])
            dy = np.where(b[:, 1] == a[:, 1], 1e-12, b[:, 1] - a[:, 1])
            self._edges = np.ascontiguousarray(np.column_stack([a[:, 0], a[:, 1], b[:, 1], (b[:, 0] - a[:, 0]) / dy]))
            self._edge_zone = np.repeat(np.arange(z), [len(p) for p in zones.polygons])
        self.totals = ZoneTotals({n: 0 for n in names}, {n: 0 for n in names}, {n: 0 for n in names},
                                 {n: {} for n in names}, {n: {"in": 0, "out": 0} for n in zones.line_names})

    @property
    def people(self) -> list[int]:
        return self.ids.tolist()

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``ids`` in the state arrays, adding rows for ids not seen before."""
        pos = np.empty(len(ids), np.int64)
        if not rows_kernel(self.ids, ids, pos):
            return pos
        new = np.setdiff1d(ids, self.ids)
        order = np.argsort(np.concatenate([self.ids, new]), kind="stable")
        k = len(new)
        self.ids = np.concatenate([self.ids, new])[order]
        for name in self._PER_PERSON:   # new rows start at zero: outside, side unknown
            a = getattr(self, name)
            setattr(self, name, np.concatenate([a, np.zeros((k, *a.shape[1:]), a.dtype)])[order])
        return np.searchsorted(self.ids, ids)

    def update(self, ids: np.ndarray, centres: np.ndarray, ended: list[int], t: float, frame: int,
               seen: np.ndarray | None = None) -> tuple[dict[str, int], list[dict]]:
        """ids (N,), centres (N, 2) px, ended ids, time s, frame index -> (occupancy, events).

        seen (N,) bool: measured this frame; only those move over lines (a prediction coasting
        through a miss would count crossings nobody made). Default: all."""
        self.updates += 1
        z = self.zones
        ids = np.asarray(ids, np.int64)
        centres = np.ascontiguousarray(centres, np.float64)
        rows = self._rows(ids)
        events: list[dict] = []
        occ = np.empty((len(ids), len(z.polygons)), bool)
        if zones_kernel(centres, self._edges, self._edge_zone, rows, self.inside, occ):
            self._zone_events(rows, occ, t, frame, events)
        if len(z.lines):
            seen = np.ones(len(ids), bool) if seen is None else np.asarray(seen, bool)
            cross, at = np.empty((len(ids), len(z.lines)), np.int8), np.empty((len(ids), len(z.lines)))
            if lines_kernel(centres, seen, self._lines, self.margin, rows, self.side, self.last, self.seen_at,
                            self.updates, self.max_gap, self.seen_xy, self.seen_frame, int(frame), self.max_step,
                            cross, at):
                for n, k in zip(*np.nonzero(cross)):
                    self._cross(int(ids[n]), int(k), int(cross[n, k]), float(at[n, k]), t, frame, events)
        if ended:
            self._end(np.asarray(ended, np.int64), t, frame, events)
        occupancy = dict(zip(z.zone_names, occ.sum(0).tolist()))
        top = self.totals.max_occupancy
        for name, c in occupancy.items():
            if c > top[name]:
                top[name] = c
        return occupancy, events

    def _zone_events(self, rows: np.ndarray, now: np.ndarray, t: float, frame: int, events: list) -> None:
        for n, k in zip(*np.nonzero(now != self.inside[rows])):
            row, name, pid = rows[n], self.zones.zone_names[k], int(self.ids[rows[n]])
            if now[n, k]:
                self.entered[row, k], self.entered_frame[row, k] = t, frame
                self.totals.entries[name] += 1
                events.append({"type": "enter", "zone": name, "id": pid, "frame": frame, "time": round(t, 3)})
            else:
                dwell = t - self.entered[row, k]
                self.totals.exits[name] += 1
                key = str(pid)
                self.totals.dwell_s[name][key] = round(self.totals.dwell_s[name].get(key, 0.0) + dwell, 3)
                events.append({"type": "exit", "zone": name, "id": pid, "frame": frame, "time": round(t, 3),
                               "dwell_s": round(float(dwell), 3),
                               "dwell_frames": int(frame - self.entered_frame[row, k])})
            self.inside[row, k] = now[n, k]

    def _cross(self, pid: int, k: int, side: int, at: float, t: float, frame: int, events: list) -> None:
        """A crossing event; xy: where on the line the path crossed it (px, 0.1 px)."""
        direction = "in" if side > 0 else "out"
        name = self.zones.line_names[k]
        self.totals.crossings[name][direction] += 1
        x, y = self._lines[k, :2] + at * self._lines[k, 2:4]
        events.append({"type": "cross", "line": name, "id": pid, "direction": direction, "frame": frame,
                       "time": round(t, 3), "xy": [round(float(x), 1), round(float(y), 1)]})

    def _end(self, ended: np.ndarray, t: float, frame: int, events: list) -> None:
        """People the tracker dropped: exit the zones they were in, forget them."""
        gone = np.isin(self.ids, ended)
        rows = np.flatnonzero(gone)
        if len(self.zones.polygons):
            self._zone_events(rows, np.zeros((len(rows), len(self.zones.polygons)), bool), t, frame, events)
        keep = ~gone
        self.ids = self.ids[keep]
        for name in self._PER_PERSON:
            setattr(self, name, getattr(self, name)[keep])

    def summary(self) -> dict:
        """Totals for the stream summary: per zone entries, exits, max occupancy, dwell per id; per line in/out."""
        tot = self.totals
        return {"zones": {n: {"entries": tot.entries[n], "exits": tot.exits[n], "max_occupancy": tot.max_occupancy[n],
                              "dwell_s": tot.dwell_s[n]} for n in self.zones.zone_names},
                "lines": {n: dict(tot.crossings[n]) for n in self.zones.line_names}}
