"""The zone counter's Numba kernels against their NumPy references."""

import numpy as np

from toppose.runtime.zone_kernels import lines_kernel, rows_kernel, zones_kernel
from toppose.runtime.zones import ZoneCounter, crossings_reference, inside, parse_zones

ZONES = {"zones": [{"name": "square", "polygon": [[20, 20], [120, 20], [120, 120], [20, 120]]},
                   {"name": "concave", "polygon": [[150, 10], [300, 10], [300, 200], [220, 200], [220, 60],
                                                   [180, 60], [180, 200], [150, 200]]}],
         "lines": [{"name": "a", "from": [160, 0], "to": [160, 240]},
                   {"name": "b", "from": [300, 120], "to": [40, 100]}]}


def test_rows_kernel_finds_known_ids_and_counts_the_unknown():
    known = np.array([2, 5, 9, 40], np.int64)
    ids = np.array([9, 2, 40, 7, 100], np.int64)
    rows = np.empty(5, np.int64)
    assert rows_kernel(known, ids, rows) == 2                # 7 and 100 are not known
    assert rows[:3].tolist() == [2, 0, 3]
    assert rows_kernel(np.zeros(0, np.int64), ids, rows) == 5


def test_zones_kernel_matches_inside_for_every_polygon(rng):
    zones = parse_zones(ZONES)
    counter = ZoneCounter(zones)
    pts = rng.uniform(0, 320, (400, 2))
    pts[:4] = [[20, 50], [120, 50], [200, 100], [180, 30]]   # on edges and in the notch
    occ = np.empty((400, 2), bool)
    state = rng.random((400, 2)) > 0.5
    changes = zones_kernel(pts, counter._edges, counter._edge_zone, np.arange(400), state, occ)
    ref = np.stack([inside(pts, poly) for poly in zones.polygons], 1)
    assert (occ == ref).all() and 0 < ref.sum() < ref.size
    assert changes == (ref != state).sum()


def test_lines_kernel_matches_the_reference(rng):
    zones = parse_zones(ZONES)
    counter = ZoneCounter(zones)
    centres = rng.uniform(0, 320, (300, 2))
    seen = rng.random(300) > 0.2
    side = rng.integers(-1, 2, (300, 2)).astype(np.int8)
    last = np.stack([rng.uniform(-100, 400, (300, 2)), rng.uniform(-200, 200, (300, 2))], -1)   # along, across
    gap = rng.integers(1, 6, 300)
    was = centres + rng.normal(0, 40, (300, 2))                  # where each was last seen, 2 x gap frames ago
    fast = np.hypot(*(centres - was).T) > 20.0 * 2 * gap
    ref_cross, ref_side, ref_last, ref_at = crossings_reference(centres, seen, zones.lines, 4.0, side.copy(),
                                                                last.copy(), gap, 3, fast)
    cross, at = np.empty((300, 2), np.int8), np.full((300, 2), np.nan)
    rows = rng.permutation(300)
    state, places, seen_at = np.empty_like(side), np.empty_like(last), np.empty(300, np.int64)
    seen_xy, seen_frame = np.empty((300, 2)), np.empty(300, np.int64)
    state[rows], places[rows], seen_at[rows], seen_xy[rows] = side, last, 100 - gap, was
    seen_frame[rows] = 200 - 2 * gap                             # a live source: every other frame dropped
    n = lines_kernel(centres, seen, counter._lines, 4.0, rows, state, places, seen_at, 100, 3, seen_xy, seen_frame,
                     200, 20.0, cross, at)
    assert (cross == ref_cross).all() and (state[rows] == ref_side).all() and np.allclose(places[rows], ref_last)
    assert np.allclose(at[cross != 0], ref_at[cross != 0]) and np.isnan(ref_at[cross == 0]).all()
    assert n == (ref_cross != 0).sum() > 0
    assert (seen_at[rows] == np.where(seen, 100, 100 - gap)).all()
    assert np.allclose(seen_xy[rows], np.where(seen[:, None], centres, was))
    assert (seen_frame[rows] == np.where(seen, 200, 200 - 2 * gap)).all()
    assert 0 < fast.sum() < 300 and (crossings_reference(centres, seen, zones.lines, 4.0, side.copy(), last.copy(),
                                                         gap, 3)[0] != ref_cross).any()   # some crossings were too fast
    flipped = (ref_side != side) & (side != 0) & seen[:, None]
    assert (flipped & (ref_cross == 0)).any()          # sides that changed without a crossing: too late or round an end
