"""Synthetic sequences: people enter and leave through the borders, with track ids and true counts."""

import json

import numpy as np
from typer.testing import CliRunner

from toppose.data.cli import app as data_app
from toppose.data.format import load_dataset
from toppose.runtime.zones import parse_zones
from toppose.synth.sequence import COUNTS, SequencePlayer, write_sequence

ZONES = {"zones": [{"name": "left", "polygon": [[0, 0], [160, 0], [160, 240], [0, 240]]}],
         "lines": [{"name": "middle", "from": [160, 0], "to": [160, 240]}]}


def test_people_walk_in_through_a_border_and_ids_are_never_reused():
    first_seen, last = {}, {}
    for i, s in enumerate(SequencePlayer(seed=4, people=(2, 4)).frames(400)):
        assert len(set(s.track_ids.tolist())) == len(s.track_ids)
        for tid, c in zip(s.track_ids.tolist(), s.centres):
            first_seen.setdefault(tid, (i, c))
            last[tid] = i
    starts = [c for tid, (i, c) in first_seen.items() if i > 0]
    assert len(first_seen) >= 4 and starts
    for c in starts:                       # a newcomer starts outside the image
        assert c[0] < 0 or c[0] >= 320 or c[1] < 0 or c[1] >= 240
    assert any(i < 399 for i in last.values())   # someone left before the end
    assert sorted(first_seen) == list(range(1, len(first_seen) + 1))


def test_write_sequence_has_track_ids_and_true_counts(tmp_path):
    zones = parse_zones(ZONES)
    data = write_sequence(tmp_path / "seq", 120, seed=6, people=(2, 3), zones=zones)
    assert len(data["images"]) == 120 and all("track_id" in a for a in data["annotations"])
    per_image = {}
    for a in data["annotations"]:
        per_image.setdefault(a["image_id"], []).append(a["track_id"])
    assert all(len(set(v)) == len(v) for v in per_image.values())
    counts = json.loads((tmp_path / "seq" / COUNTS).read_text())
    assert counts["zone_names"] == ["left"] and len(counts["occupancy"]) == 120
    # The truth agrees with the annotations: people in the left half of the image per frame
    # can only be as many as the people annotated in that frame.
    for image, occ in zip(sorted(data["images"], key=lambda e: e["id"]), counts["occupancy"]):
        assert occ[0] <= len(per_image.get(image["id"], []))
    assert set(counts["lines"]["middle"]) == {"in", "out"}


def test_cli_sequence(tmp_path):
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps(ZONES))
    out = tmp_path / "seq"
    r = CliRunner().invoke(data_app, ["synth", "--out", str(out), "--people", "1:3", "--sequence", "--frames", "20",
                                      "--zones", str(zones)])
    assert r.exit_code == 0, r.output
    assert "20 frames" in r.output and (out / COUNTS).is_file()
    assert len(load_dataset(out)["images"]) == 20
    bad = CliRunner().invoke(data_app, ["synth", "--out", str(tmp_path / "x"), "--sequence", "--frames", "5"])
    assert bad.exit_code == 1 and "--people" in bad.output
    zones.write_text("[]")
    bad = CliRunner().invoke(data_app, ["synth", "--out", str(tmp_path / "y"), "--people", "1:2", "--sequence",
                                        "--zones", str(zones)])
    assert bad.exit_code == 1 and str(zones) in bad.output and not (tmp_path / "y").exists()
    for extra, message in ((["--people", "0:0"], "--people 0:0: a --sequence needs MAX of at least 1"),
                           (["--people", "1:2", "--workers", "2", "--walls"],
                            "--sequence cannot take --workers, --walls")):
        bad = CliRunner().invoke(data_app, ["synth", "--out", str(tmp_path / "z"), "--sequence", "--frames", "3",
                                            *extra])
        assert bad.exit_code == 1 and message in bad.output and not (tmp_path / "z").exists(), bad.output


def test_true_crossings_match_the_true_centres(tmp_path):
    zones = parse_zones(ZONES)
    write_sequence(tmp_path / "seq", 300, seed=8, people=(2, 4), zones=zones)
    counts = json.loads((tmp_path / "seq" / COUNTS).read_text())
    sides, crossings = {}, 0        # the centre changing side of x = 160 by more than the margin
    for s in SequencePlayer(seed=8, people=(2, 4)).frames(300):   # on a path that meets the segment
        for tid, (x, y) in zip(s.track_ids.tolist(), s.centres):
            side = 1 if x < 154 else -1 if x > 166 else 0          # the counter's 6 px margin
            if side and tid in sides and sides[tid][0] != side:
                x0, y0 = sides[tid][1]
                crossings += 0 <= y0 + (y - y0) * (160 - x0) / (x - x0) <= 240
            if side:
                sides[tid] = side, (x, y)
    assert crossings > 0 and counts["lines"]["middle"]["in"] + counts["lines"]["middle"]["out"] == crossings
    events = counts["crossings"]           # the same crossings one by one, placed on the line
    assert len(events) == crossings and {e["line"] for e in events} == {"middle"}
    assert sum(e["direction"] == "in" for e in events) == counts["lines"]["middle"]["in"]
    assert all(e["xy"][0] == 160.0 and 0 <= e["xy"][1] <= 240 for e in events)
    assert [e["frame"] for e in events] == sorted(e["frame"] for e in events) and counts["image_size"] == [320, 240]
    assert np.asarray(counts["occupancy"]).max() >= 1
