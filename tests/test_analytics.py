"""A stream with --track / --zones: ids and counts in the JSON lines, totals in the summary, overlays."""

import json

import numpy as np
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.runtime.analytics import Analytics, DownWatch
from toppose.runtime.cli import stream_app
from toppose.runtime.zones import parse_zones

# "all" reaches beyond the 320x240 frame: the body centre of a person cut by the border (legs
# inside, torso outside) is estimated outside the frame, and every tracked person is to count.
ZONES = {"zones": [{"name": "all", "polygon": [[-400, -400], [720, -400], [720, 640], [-400, 640]]}],
         "lines": [{"name": "mid", "from": [160, 0], "to": [160, 240]}]}


def test_stream_cli_with_zones_writes_ids_counts_events_and_totals(tmp_path):
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps(ZONES))
    out = tmp_path / "p.jsonl"
    r = CliRunner().invoke(stream_app, ["--demo", "--frames", "30", "--zones", str(zones), "--json", str(out),
                                        "--save", str(tmp_path / "o.mp4"), "--no-show"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 30
    ids = {p["id"] for line in lines for p in line["people"]} - {None}
    assert ids and all("id" in p for line in lines for p in line["people"])
    assert lines[-1]["occupancy"]["all"] == sum(p["id"] is not None for p in lines[-1]["people"])
    enters = [e for line in lines for e in line["events"] if e["type"] == "enter"]
    assert {e["id"] for e in enters} == ids
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["tracking"]["zones"]["all"]["entries"] == len(enters)
    assert summary["tracking"]["zones"]["all"]["exits"] == len(enters)   # closing ends every visit
    assert set(summary["tracking"]["lines"]["mid"]) == {"in", "out"}
    assert (tmp_path / "o.mp4").stat().st_size > 0


def test_a_stream_of_an_image_folder_at_full_speed_counts_a_rendered_sequence_s_crossings(tmp_path):
    """Through the real stream and the bundled model, as the tracking benchmark runs it: an image
    folder read at full speed has no time of its own, and its crossings still count (a jump rule
    in px per second once counted 5 of the benchmark's 146). Seed 2002: 11 true crossings."""
    from toppose.synth.sequence import write_sequence
    from toppose.track_eval import crossing_totals, evaluate_tracks

    lines = {"lines": [{"name": "vertical", "from": [160, 10], "to": [160, 230]},
                       {"name": "horizontal", "from": [20, 120], "to": [300, 120]}]}
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps(lines))
    write_sequence(tmp_path / "seq", 150, seed=2002, people=(2, 3), zones=parse_zones(lines))
    out = tmp_path / "p.jsonl"
    r = CliRunner().invoke(stream_app, ["--images", str(tmp_path / "seq" / "images"), "--zones", str(zones),
                                        "--json", str(out), "--no-show"])
    assert r.exit_code == 0, r.output
    totals = crossing_totals(evaluate_tracks(out, tmp_path / "seq")["counts"]["crossings"])
    assert totals["true"] == 11 and totals["abs_error"] <= 2, totals


def test_track_alone_adds_ids_but_no_zone_fields(tmp_path):
    out = tmp_path / "p.jsonl"
    r = CliRunner().invoke(stream_app, ["--demo", "--frames", "10", "--track", "--json", str(out), "--no-show"])
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text().splitlines()[-1])
    assert "occupancy" not in line and all("id" in p for p in line["people"])


def test_overlay_draws_zones_lines_and_ids():
    analytics = Analytics(True, parse_zones(ZONES))
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, [1, 2, 5, 8, 11], :2] = [[100, 100], [90, 100], [110, 100], [95, 120], [105, 120]]
    kp[0, [1, 2, 5, 8, 11], 2] = 1
    for i in range(5):
        analytics.update(Poses(kp, np.ones(1, np.float32), np.array([5], np.int32)), (240, 320), i, i / 15)
    blank = np.zeros((240, 320, 3), np.uint8)
    drawn = analytics.draw(blank.copy())
    assert drawn[:, 160].any()                         # the line
    assert drawn[95:110, 90:110].any()                 # the id label at the person
    assert analytics.close()["zones"]["all"]["entries"] == 1


def test_overlay_marks_someone_down_in_red():
    analytics = Analytics(True, down_after=0.2)
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, [1, 2, 5, 8, 11], :2] = [[100, 100], [90, 100], [110, 100], [95, 120], [105, 120]]
    kp[0, [1, 2, 5, 8, 11], 2] = 1
    red = []
    for i in range(8):
        analytics.update(Poses(kp, np.ones(1, np.float32), np.array([5], np.int32)), (240, 320), i, i / 10)
        analytics.watch_down([True])
        drawn = analytics.draw(np.zeros((240, 320, 3), np.uint8))
        red.append(bool(((drawn[..., 2] > 200) & (drawn[..., 0] < 50)).any()))
    assert analytics.last.ids.tolist() == [1] and red == [False] * 4 + [True] * 4   # id at frame 2, down 0.2 s on


def test_a_line_near_the_image_border_is_named_once_in_a_warning(caplog):
    zones = parse_zones({"lines": [{"name": "door", "from": [160, 10], "to": [160, 120]},     # 10 px from the top
                                   {"name": "aisle", "from": [60, 60], "to": [260, 180]}]})   # 60 px inside
    analytics = Analytics(True, zones)
    nobody = Poses(np.zeros((0, 18, 3), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    with caplog.at_level("WARNING", logger="toppose.runtime"):
        for i in range(3):
            analytics.update(nobody, (240, 320), i, i / 15)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "line 'door' comes within 30 px of the 320x240 image" in warnings[0]
    assert "aisle" not in warnings[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="toppose.runtime"):
        analytics.update(nobody, (480, 640), 3, 3 / 15)   # a larger frame: the door is 10 px from the top still
    assert len(caplog.records) == 1


def test_down_needs_a_spell_of_lying_that_a_flicker_or_an_unknown_flag_does_not_break():
    watch, events = DownWatch(after_s=2.0, up_s=1.0), []
    flags = {7: [True] * 10 + [False] + [None] * 3 + [True] * 20 + [False] * 20,   # 10 FPS: down at 2 s, up later
             8: [False] * 54,                                                   # never down
             9: [True] * 25 + [None] * 29}                                     # down, then its flag unknown
    for i in range(54):
        events += watch.update([7, 8, 9, -1], [flags[7][i], flags[8][i], flags[9][i], True], [], i, i / 10)
    events += watch.update([], [], [9], 54, 5.4)   # 9's track ends
    assert [(e["type"], e["id"], e["frame"]) for e in events] == [
        ("down", 7, 20), ("down", 9, 20), ("up", 7, 44), ("up", 9, 54)]
    assert events[2]["down_s"] == 4.4 and "gone" not in events[2] and events[3]["gone"] is True
    assert watch.count == 2 and not watch.since and not watch.down
    assert watch.update([7], [True], [], 60, 6.0) == [] and watch.since == {7: 6.0}   # a new spell starts afresh
