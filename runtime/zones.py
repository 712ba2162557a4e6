"""Zones (named polygons) and directed lines in image pixels: occupancy, crossings, dwell, events.

zones.json::

    {"zones": [{"name": "desk", "polygon": [[x, y], [x, y], [x, y], ...]}],
     "lines": [{"name": "door", "from": [x, y], "to": [x, y]}]}

A crossing is ``in`` when a person moves onto the right-hand side of the line seen as an arrow
from ``from`` to ``to`` on the image (y down), ``out`` the other way. A side only changes once
the centre is more than ``margin`` px from the line, so jitter on the line counts nothing.
Dimensions: N tracked people, Z zones, L lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class ZonesError(ValueError):
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


def _named(items, key: str, path) -> list[dict]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ZonesError(f"{path}: '{key}' must be a list of objects")
    names = [i.get("name") for i in items]
    for n in names:
        if not isinstance(n, str) or not n:
            raise ZonesError(f"{path}: every entry of '{key}' needs a non-empty string 'name'")
    if len(set(names)) != len(names):
        raise ZonesError(f"{path}: duplicate name in '{key}'")
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
    return parse_zones(data, path)


def inside(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N, 2) points, (V, 2) polygon -> (N,) bool, even-odd rule."""
    a, b = polygon, np.roll(polygon, -1, axis=0)
    px, py = points[:, None, 0], points[:, None, 1]
    straddle = (a[:, 1] > py) != (b[:, 1] > py)
    dy = np.where(b[:, 1] == a[:, 1], 1e-12, b[:, 1] - a[:, 1])
    x_cross = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / dy
    return ((straddle & (px < x_cross)).sum(1) % 2) == 1


def line_sides(points: np.ndarray, lines: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2), (L, 2, 2) -> side (N, L) int: +1 right of the arrow, -1 left, 0 within ``margin``;
    along (N, L) bool: the point projects onto the segment."""
    d = lines[:, 1] - lines[:, 0]                              # (L, 2)
    rel = points[:, None, :] - lines[None, :, 0]               # (N, L, 2)
    length = np.linalg.norm(d, axis=1)
    dist = (d[:, 0] * rel[..., 1] - d[:, 1] * rel[..., 0]) / length
    t = (rel * d).sum(-1) / length ** 2
    side = np.where(dist > margin, 1, np.where(dist < -margin, -1, 0))
    return side, (t >= 0) & (t <= 1)


@dataclass
class _Person:
    inside: np.ndarray                     # (Z,) bool
    entered: np.ndarray                    # (Z,) seconds when entered
    entered_frame: np.ndarray              # (Z,) frame index when entered
    side: np.ndarray                       # (L,) int, 0 = not yet known


@dataclass
class ZoneTotals:
    entries: dict[str, int] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)
    max_occupancy: dict[str, int] = field(default_factory=dict)
    dwell_s: dict[str, dict[str, float]] = field(default_factory=dict)   # zone -> id -> seconds
    crossings: dict[str, dict[str, int]] = field(default_factory=dict)   # line -> in/out -> count


class ZoneCounter:
    """Per-id zone and line state; ``update`` once per frame with the tracker's live tracks."""

    def __init__(self, zones: Zones, margin: float = 4.0) -> None:
        self.zones, self.margin = zones, margin
        self.people: dict[int, _Person] = {}
        self.totals = ZoneTotals({n: 0 for n in zones.zone_names}, {n: 0 for n in zones.zone_names},
                                 {n: 0 for n in zones.zone_names}, {n: {} for n in zones.zone_names},
                                 {n: {"in": 0, "out": 0} for n in zones.line_names})

    def update(self, ids: np.ndarray, centres: np.ndarray, ended: list[int], t: float,
               frame: int) -> tuple[dict[str, int], list[dict]]:
        """ids (N,), centres (N, 2) px, ended ids, time s, frame index -> (occupancy, events)."""
        z = self.zones
        occ = np.stack([inside(centres, p) for p in z.polygons], 1) if z.polygons else np.zeros((len(ids), 0), bool)
        side, along = line_sides(centres, z.lines, self.margin) if len(z.lines) else \
            (np.zeros((len(ids), 0), int), np.zeros((len(ids), 0), bool))
        events: list[dict] = []
        for n, pid in enumerate(ids.tolist()):
            person = self.people.get(pid)
            if person is None:
                person = self.people[pid] = _Person(np.zeros(len(z.polygons), bool), np.zeros(len(z.polygons)),
                                                    np.zeros(len(z.polygons), np.int64), np.zeros(len(z.lines), int))
            if occ.shape[1] and (occ[n] != person.inside).any():
                self._zone_events(pid, person, occ[n], t, frame, events)
            if side.shape[1]:
                self._line_events(pid, person, side[n], along[n], t, frame, events)
        for pid in ended:
            person = self.people.pop(pid, None)
            if person is not None and person.inside.any():
                self._zone_events(pid, person, np.zeros_like(person.inside), t, frame, events)
        counts = occ.sum(0)
        occupancy = {name: int(c) for name, c in zip(z.zone_names, counts)}
        for name, c in occupancy.items():
            self.totals.max_occupancy[name] = max(self.totals.max_occupancy[name], c)
        return occupancy, events

    def _zone_events(self, pid: int, person: _Person, now: np.ndarray, t: float, frame: int, events: list) -> None:
        for k in np.flatnonzero(now != person.inside):
            name = self.zones.zone_names[k]
            if now[k]:
                person.entered[k], person.entered_frame[k] = t, frame
                self.totals.entries[name] += 1
                events.append({"type": "enter", "zone": name, "id": pid, "frame": frame, "time": round(t, 3)})
            else:
                dwell = t - person.entered[k]
                self.totals.exits[name] += 1
                key = str(pid)
                self.totals.dwell_s[name][key] = round(self.totals.dwell_s[name].get(key, 0.0) + dwell, 3)
                events.append({"type": "exit", "zone": name, "id": pid, "frame": frame, "time": round(t, 3),
                               "dwell_s": round(dwell, 3), "dwell_frames": int(frame - person.entered_frame[k])})
        person.inside = now.copy()

    def _line_events(self, pid: int, person: _Person, side: np.ndarray, along: np.ndarray, t: float,
                     frame: int, events: list) -> None:
        flip = (side != 0) & (person.side != 0) & (side != person.side) & along
        for k in np.flatnonzero(flip):
            direction = "in" if side[k] > 0 else "out"
            name = self.zones.line_names[k]
            self.totals.crossings[name][direction] += 1
            events.append({"type": "cross", "line": name, "id": pid, "direction": direction, "frame": frame,
                           "time": round(t, 3)})
        person.side = np.where(side != 0, side, person.side)

    def summary(self) -> dict:
        """Totals for the stream summary: per zone entries, exits, max occupancy, dwell per id; per line in/out."""
        tot = self.totals
        return {"zones": {n: {"entries": tot.entries[n], "exits": tot.exits[n], "max_occupancy": tot.max_occupancy[n],
                              "dwell_s": tot.dwell_s[n]} for n in self.zones.zone_names},
                "lines": {n: dict(tot.crossings[n]) for n in self.zones.line_names}}
