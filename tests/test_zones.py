"""Zones and lines: validation, occupancy, enter/exit with dwell, directed crossings on scripted paths."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.runtime.cli import stream_app
from toppose.runtime.zones import ZoneCounter, ZonesError, inside, load_zones, parse_zones

ZONES = {"zones": [{"name": "desk", "polygon": [[100, 50], [200, 50], [200, 150], [100, 150]]}],
         "lines": [{"name": "door", "from": [250, 0], "to": [250, 240]}]}


def walk(counter: ZoneCounter, path, pid: int = 1, fps: float = 10.0, start: int = 0, every: int = 1):
    """``path`` given to the counter one point an update, ``every`` source frames apart."""
    events, occupancy = [], []
    for i, xy in enumerate(path):
        frame = start + every * i
        occ, ev = counter.update(np.array([pid]), np.array([xy], float), [], frame / fps, frame)
        events += ev
        occupancy.append(occ.get("desk", 0))
    return events, occupancy


def test_a_scripted_walk_through_a_zone_and_over_a_line():
    counter = ZoneCounter(parse_zones(ZONES))
    path = [(50 + 10 * i, 100) for i in range(26)]       # x 50 -> 300: through the desk, then over the door
    events, occupancy = walk(counter, path)
    kinds = [(e["type"], e.get("zone") or e.get("line")) for e in events]
    assert kinds == [("enter", "desk"), ("exit", "desk"), ("cross", "door")]
    exit_event = events[1]
    assert exit_event["dwell_frames"] == 10 and exit_event["dwell_s"] == pytest.approx(1.0)
    # The door's arrow points down the image; its right-hand side on screen is the west: "in" is
    # walking west over it, so this walk east is "out".
    assert events[2]["direction"] == "out" and events[2]["xy"] == [250.0, 100.0]
    assert occupancy.count(1) == 10
    back, _ = walk(counter, [(300 - 10 * i, 100) for i in range(8)], start=26)   # back west over the door
    assert [e["direction"] for e in back if e["type"] == "cross"] == ["in"]
    summary = counter.summary()
    assert summary["lines"]["door"] == {"in": 1, "out": 1}
    assert summary["zones"]["desk"]["entries"] == 1 and summary["zones"]["desk"]["dwell_s"] == {"1": 1.0}


def test_jitter_on_a_line_counts_nothing_and_a_lost_person_exits():
    counter = ZoneCounter(parse_zones(ZONES), margin=4.0)
    rng = np.random.default_rng(1)
    events, _ = walk(counter, [(240, 100)] + [(250 + rng.uniform(-3, 3), 100) for _ in range(50)])
    assert not [e for e in events if e["type"] == "cross"]
    walk(counter, [(150, 100)] * 3, pid=2)
    _, ev = counter.update(np.zeros(0, int), np.zeros((0, 2)), [2], 9.0, 90)
    assert [(e["type"], e["id"]) for e in ev] == [("exit", 2)]


def test_a_crossing_says_where_the_path_met_the_line_not_where_it_was_counted():
    counter = ZoneCounter(parse_zones(ZONES))
    events, _ = walk(counter, [(230 + 5 * i, 20 + 10 * i) for i in range(8)])   # diagonal, 5 px a step east
    cross = [e for e in events if e["type"] == "cross"]
    # counted at (260, 80), the first point more than 6 px past x = 250; the path from (240, 40),
    # the last point as far on the other side, met the line at y = 60
    assert [(e["frame"], e["xy"]) for e in cross] == [(6, [250.0, 60.0])]


def test_a_crossing_beyond_the_end_of_a_line_is_not_counted():
    counter = ZoneCounter(parse_zones({"lines": [{"name": "short", "from": [250, 0], "to": [250, 60]}]}))
    events, _ = walk(counter, [(200 + 10 * i, 100) for i in range(10)])
    assert events == []


def test_a_path_round_the_end_of_a_line_counts_nothing_and_one_through_it_counts():
    short = parse_zones({"lines": [{"name": "short", "from": [250, 100], "to": [250, 200]}]})
    counter = ZoneCounter(short)
    events, _ = walk(counter, [(230, 20), (270, 120)], every=6)   # seen past the line: the path meets it at y = 70
    assert events == []
    events, _ = walk(ZoneCounter(short), [(230, 150), (270, 160)], every=6)
    assert [e["direction"] for e in events] == ["out"]


def test_a_centre_that_jumps_over_a_line_faster_than_anyone_walks_counts_nothing():
    """Two people's ids swapped, or a poor fit at the border: 60 px from one source frame to the
    next is no walk; the same 60 px over 3 frames (a live source that dropped two) is."""
    for every, crossings in ((1, 0), (3, 1)):
        counter = ZoneCounter(parse_zones(ZONES))
        assert counter.max_step == 30.0
        events, _ = walk(counter, [(220, 100), (221, 100), (281, 100), (282, 100)], every=every)
        assert len([e for e in events if e["type"] == "cross"]) == crossings, every
    walker = ZoneCounter(parse_zones(ZONES))   # 15 px a frame: a walk
    events, _ = walk(walker, [(220 + 15 * i, 100) for i in range(5)])
    assert [e["direction"] for e in events if e["type"] == "cross"] == ["out"]


def test_someone_unseen_longer_than_max_gap_counts_nothing_when_seen_past_the_line():
    for unseen, crossings in ((2, 1), (6, 0)):
        counter = ZoneCounter(parse_zones(ZONES), max_gap=3)
        events, _ = walk(counter, [(230, 100)])
        for i in range(unseen):      # tracked but not seen (coasting), then seen on the other side
            counter.update(np.array([1]), np.array([[240.0, 100.0]]), [], (1 + i) / 10, 1 + i, np.array([False]))
        events, _ = walk(counter, [(270, 100)], start=1 + unseen)
        assert len([e for e in events if e["type"] == "cross"]) == crossings, unseen
    dropped = ZoneCounter(parse_zones(ZONES), max_gap=3)   # a live source: 9 of every 10 frames dropped
    events = [e for i, x in enumerate((230, 240, 260, 270)) for e in dropped.update(
        np.array([1]), np.array([[x, 100.0]]), [], i, 10 * i)[1]]
    assert [e["direction"] for e in events if e["type"] == "cross"] == ["out"]


def test_inside_even_odd_on_a_concave_polygon():
    u = np.array([[0, 0], [30, 0], [30, 30], [20, 30], [20, 10], [10, 10], [10, 30], [0, 30]], float)
    pts = np.array([[5, 20], [15, 20], [25, 20], [15, 5], [40, 5]], float)
    assert inside(pts, u).tolist() == [True, False, True, True, False]


@pytest.mark.parametrize("doc, message", [
    ("{", "not valid JSON"),
    ('{"zones": [{"name": "a", "polygon": [[0, 0], [1, 1]]}]}', "needs at least 3 points"),
    ('{"zones": [{"polygon": [[0, 0], [1, 1], [2, 0]]}]}', "non-empty string 'name'"),
    ('{"lines": [{"name": "a", "from": [0, 0], "to": [0, 0]}]}', "same 'from' and 'to'"),
    ('{"lines": [{"name": "a", "from": [0, 0]}]}', "from/to must be a list"),
    ('{"lines": [{"name": "a", "from": [0, 0], "to": [1, 1]}, {"name": "a", "from": [0, 0], "to": [2, 1]}]}',
     "duplicate name 'a' in 'lines'"),
    ('{"zone": []}', "unknown key"),
    ('{"zones": [{"name": "a", "polygon": [[0, 0], [1, 1], [2, 0]], "polgon": []}]}', r"zone 'a' has unknown key"),
    ('{"lines": [{"name": "a", "from": [0, 0], "to": [1, 1], "direction": "in"}]}', r"line 'a' has unknown key"),
    ("{}", "no zones and no lines"),
])
def test_bad_zone_files_name_the_file_and_the_problem(tmp_path, doc, message):
    path = tmp_path / "zones.json"
    path.write_text(doc)
    with pytest.raises(ZonesError, match=message) as e:
        load_zones(path)
    assert str(path) in str(e.value)


def test_a_zones_file_nested_too_deeply_is_one_error(tmp_path):
    path = tmp_path / "zones.json"
    path.write_text("[" * 100_000 + "]" * 100_000)   # json's recursion limit: a RecursionError
    with pytest.raises(ZonesError, match="nested too deeply") as e:
        load_zones(path)
    assert str(path) in str(e.value)


def test_stream_rejects_a_bad_zones_file_in_one_line(tmp_path):
    bad = tmp_path / "zones.json"
    bad.write_text(json.dumps({"zones": [{"name": "a", "polygon": [[0, 0]]}]}))
    result = CliRunner().invoke(stream_app, ["--demo", "--zones", str(bad), "--json", str(tmp_path / "p.jsonl")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and str(bad) in result.output
    assert not (tmp_path / "p.jsonl").exists()
