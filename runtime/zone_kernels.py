"""Numba kernels of the zone counter: one pass per frame over people, polygon edges and lines.

Dimensions: N tracked people this frame, K people known to the counter, Z zones, E polygon
edges (all zones' edges in one array), L lines. NumPy references: ``zones.inside`` (even-odd
rule) and ``zones.crossings_reference``; tests compare them.
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit


@jit
def rows_kernel(known, ids, rows):
    """known (K,) ascending ids, ids (N,) -> rows (N,) their positions in ``known`` (binary
    search); returns how many of ``ids`` are not in ``known`` (their rows are undefined)."""
    missing = 0
    for n in range(ids.shape[0]):
        lo, hi = 0, known.shape[0]
        while lo < hi:
            mid = (lo + hi) // 2
            if known[mid] < ids[n]:
                lo = mid + 1
            else:
                hi = mid
        rows[n] = lo
        if lo == known.shape[0] or known[lo] != ids[n]:
            missing += 1
    return missing


@jit
def zones_kernel(centres, edges, edge_zone, rows, inside, occ):
    """centres (N, 2) px; edges (E, 4) ax, ay, by, (bx - ax) / (by - ay) of edge a -> b;
    edge_zone (E,) the zone of each edge -> occ (N, Z) bool (even-odd rule, as ``inside``).
    Returns how many (person, zone) differ from inside (K, Z) bool at the people's rows (N,)."""
    occ[:] = False
    changes = 0
    for n in range(centres.shape[0]):
        px, py = centres[n, 0], centres[n, 1]
        for e in range(edges.shape[0]):
            ax, ay, by, slope = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
            if (ay > py) != (by > py) and px < ax + (py - ay) * slope:
                occ[n, edge_zone[e]] = not occ[n, edge_zone[e]]
        for z in range(occ.shape[1]):
            changes += occ[n, z] != inside[rows[n], z]
    return changes


@jit
def lines_kernel(centres, seen, lines, margin, rows, side, last, seen_at, now, max_gap, seen_xy, seen_frame, frame,
                 max_step, cross, cross_at):
    """Crossings of this frame, in place. centres (N, 2) px; seen (N,) bool (only they move);
    lines (L, 5) start x, y, unit direction x, y, length px; rows (N,) people's rows in side
    (K, L) int8, the last side beyond ``margin`` (+1 right of the arrow on the image, -1 left,
    0 unknown), and last (K, L, 2) where the centre was then (distance along the line, across
    it); seen_at (K,) the update each person was last seen in, seen_xy (K, 2) where and
    seen_frame (K,) the source's frame index then, set to ``now``, the centre and ``frame`` ->
    cross (N, L) int8: the new side where a person seen within ``max_gap`` updates, and moving
    since then no more than ``max_step`` px per source frame, crossed the segment itself on the
    straight path from there (not the line beyond its ends), else 0; cross_at (N, L) where on the
    segment that path met it (px from its start) for those crossings. Returns the number of
    crossings."""
    count = 0
    for n in range(centres.shape[0]):
        r = rows[n]
        for k in range(lines.shape[0]):
            cross[n, k] = 0
        if not seen[n]:
            continue
        gap = now - seen_at[r]
        was_x, was_y, frames = seen_xy[r, 0], seen_xy[r, 1], max(frame - seen_frame[r], 1)
        seen_at[r] = now
        seen_xy[r, 0], seen_xy[r, 1] = centres[n, 0], centres[n, 1]
        seen_frame[r] = frame
        for k in range(lines.shape[0]):
            rx, ry = centres[n, 0] - lines[k, 0], centres[n, 1] - lines[k, 1]
            dist = lines[k, 2] * ry - lines[k, 3] * rx
            s = 1 if dist > margin else (-1 if dist < -margin else 0)
            if s == 0:
                continue
            prev = side[r, k]
            along = lines[k, 2] * rx + lines[k, 3] * ry
            if prev != 0 and s != prev and gap <= max_gap and \
                    np.hypot(centres[n, 0] - was_x, centres[n, 1] - was_y) <= max_step * frames:   # no jump
                t0, d0 = last[r, k, 0], last[r, k, 1]
                at = t0 + (along - t0) * d0 / (d0 - dist)   # where the path meets the line
                if 0.0 <= at <= lines[k, 4]:
                    cross[n, k] = s
                    cross_at[n, k] = at
                    count += 1
            side[r, k] = s
            last[r, k, 0], last[r, k, 1] = along, dist
    return count
