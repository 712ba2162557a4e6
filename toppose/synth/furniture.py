"""Furniture among people: tables people stand at, shelves over them, beds they sit or lie on.

Boxes are (2, 3) world corners (min, max) in metres, axis-aligned, resting on the floor Z = 0
unless they are wall shelves. Sizes are typical room furniture: tables 0.70-0.76 m high,
seats 0.42-0.5 m, beds 0.4-0.6 m high and 0.9 x 2.0 m.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from toppose.synth.body import Person

STANDING = ("standing", "walking", "arms_raised", "reaching", "bending")


@dataclass
class Spot:
    """A placed person with what furniture needs: floor xy (2,), heading (radians), pose family."""

    person: Person
    xy: np.ndarray
    heading: float
    family: str


def _box(lo_xy, hi_xy, z0: float, z1: float) -> np.ndarray:
    return np.array([[lo_xy[0], lo_xy[1], z0], [hi_xy[0], hi_xy[1], z1]], np.float64)


def _axis_dir(heading: float) -> tuple[int, float]:
    """The world axis (0 = X, 1 = Y) and sign closest to a heading."""
    v = np.array([np.cos(heading), np.sin(heading)])
    axis = int(np.argmax(np.abs(v)))
    return axis, float(np.sign(v[axis]) or 1.0)


def _slab(centre: np.ndarray, axis: int, sign: float, near: float, depth: float, width: float):
    """Rectangle (lo, hi) starting ``near`` metres from ``centre`` along axis*sign, ``depth`` deep."""
    a = centre[axis] + sign * near
    b = a + sign * depth
    lo, hi = centre.copy(), centre.copy()
    lo[axis], hi[axis] = min(a, b), max(a, b)
    lo[1 - axis], hi[1 - axis] = centre[1 - axis] - width / 2, centre[1 - axis] + width / 2
    return lo, hi


def table_at(rng: np.random.Generator, spot: Spot) -> np.ndarray:
    """A table in front of a standing person (its near edge 0.2-0.35 m ahead)."""
    axis, sign = _axis_dir(spot.heading)
    lo, hi = _slab(spot.xy, axis, sign, rng.uniform(0.2, 0.35), rng.uniform(0.6, 0.9), rng.uniform(0.8, 1.6))
    return _box(lo, hi, 0.0, rng.uniform(0.70, 0.76))


def shelf_over(rng: np.random.Generator, spot: Spot) -> np.ndarray:
    """A wall shelf board above the person's head, covering part of the body seen from above."""
    top = float((spot.person.ends[..., 2] + spot.person.radii[:, None]).max())
    axis, sign = int(rng.integers(0, 2)), float(rng.choice([-1.0, 1.0]))
    lo, hi = _slab(spot.xy, axis, sign, rng.uniform(-0.15, 0.1), rng.uniform(0.3, 0.45), rng.uniform(1.0, 2.0))
    z0 = top + rng.uniform(0.08, 0.3)
    return _box(lo, hi, z0, z0 + rng.uniform(0.02, 0.05))


def bed_under(rng: np.random.Generator, spot: Spot) -> tuple[np.ndarray, Person]:
    """A bed under a lying person (the person lifted onto it) or a bed edge a sitting person sits on."""
    person = spot.person
    if spot.family == "sitting" and person.seat is not None:
        seat = person.seat
        axis, sign = _axis_dir(spot.heading)
        lo, hi = seat[0, :2].copy(), seat[1, :2].copy()
        if sign > 0:  # the legs point along +axis: the bed extends behind the person
            lo[axis] = hi[axis] - rng.uniform(1.8, 2.1)
        else:
            hi[axis] = lo[axis] + rng.uniform(1.8, 2.1)
        return _box(lo, hi, 0.0, seat[1, 2]), replace(person, seat=None)
    h = rng.uniform(0.4, 0.6)
    xy = person.ends[..., :2].reshape(-1, 2)
    margin = rng.uniform(0.1, 0.25, 2)
    lift = np.array([0.0, 0.0, h])
    lifted = replace(person, joints=person.joints + lift, ends=person.ends + lift)
    return _box(xy.min(0) - margin, xy.max(0) + margin, 0.0, h), lifted


def free_piece(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """A table, chair (seat and backrest), shelf unit or bed somewhere in [lo, hi]."""
    kind = int(rng.integers(0, 4))
    c = rng.uniform(lo, hi)
    if kind == 0:
        size = rng.uniform([0.8, 0.6], [1.6, 0.9])
        return [_box(c - size / 2, c + size / 2, 0.0, rng.uniform(0.70, 0.76))]
    if kind == 1:
        s, z = rng.uniform(0.4, 0.48), rng.uniform(0.42, 0.5)
        back = _box(c + [-s / 2, s / 2 - 0.05], c + [s / 2, s / 2], 0.0, z + rng.uniform(0.35, 0.5))
        return [_box(c - s / 2, c + s / 2, 0.0, z), back]
    if kind == 2:
        size = rng.uniform([0.8, 0.3], [1.6, 0.45])
        return [_box(c - size / 2, c + size / 2, 0.0, rng.uniform(1.2, 2.0))]
    size = rng.uniform([0.9, 1.9], [1.6, 2.1])
    return [_box(c - size / 2, c + size / 2, 0.0, rng.uniform(0.4, 0.6))]


def _overlaps(box: np.ndarray, spots: list[Spot], skip: int, gap: float = 0.2) -> bool:
    for i, s in enumerate(spots):
        if i != skip and box[0, 2] < 1.0 and np.all(s.xy > box[0, :2] - gap) and np.all(s.xy < box[1, :2] + gap):
            return True
    return False


def furnish(rng: np.random.Generator, spots: list[Spot], count: int, lo: np.ndarray, hi: np.ndarray
            ) -> tuple[list[np.ndarray], list[Person]]:
    """Up to ``count`` pieces, most beside or under people -> (boxes, people, possibly lifted)."""
    people = [s.person for s in spots]
    boxes: list[np.ndarray] = []
    order = list(rng.permutation(len(spots)))
    for _ in range(count):
        if order and rng.random() < 0.75:
            i = int(order.pop())
            spot = replace(spots[i], person=people[i])
            if spot.family in ("lying", "sitting") and rng.random() < 0.8:
                box, people[i] = bed_under(rng, spot)
                new = [box]
            elif spot.family in STANDING and rng.random() < 0.6:
                new = [table_at(rng, spot)]
            else:
                new = [shelf_over(rng, spot)]
            if any(_overlaps(b, spots, i) for b in new):
                people[i] = spots[i].person
                continue
        else:
            new = free_piece(rng, lo, hi)
            if any(_overlaps(b, spots, -1, 0.45) for b in new):
                continue
        boxes.extend(new)
    return boxes, people
