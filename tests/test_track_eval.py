"""Tracking scores (TrackEval) and counting against a synthetic sequence."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.data.format import DataError
from toppose.runtime.zones import parse_zones
from toppose.synth.sequence import write_sequence
from toppose.track_eval import (TrackFrames, evaluate_tracks, identity_ceilings, load_truth, score_counts,
                                score_crossing_events, score_tracks)
from toppose.train.eval_cli import app as eval_app

ZONES = {"zones": [{"name": "left", "polygon": [[0, 0], [160, 0], [160, 240], [0, 240]]}],
         "lines": [{"name": "middle", "from": [160, 0], "to": [160, 240]}]}


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    out = tmp_path_factory.mktemp("seq") / "seq"
    write_sequence(out, 150, seed=12, people=(2, 4), zones=parse_zones(ZONES))
    return out


def write_jsonl(path, truth, ids=None, occupancy=None, events=None):
    with open(path, "w") as f:
        for i, (tid, kp) in enumerate(zip(ids or truth.ids, truth.keypoints)):
            line = {"index": i, "timestamp": i / 15, "people": [
                {"keypoints": k.tolist(), "score": 1.0, "parts": 18, "id": int(t)} for t, k in zip(tid, kp)]}
            if occupancy is not None:
                line["occupancy"], line["events"] = {"left": occupancy[i]}, events.get(i, [])
            f.write(json.dumps(line) + "\n")


def test_perfect_tracks_score_one_and_a_swap_is_an_id_switch(sequence, tmp_path):
    truth = load_truth(sequence)
    perfect = score_tracks(truth, truth)
    assert perfect["IDF1"] == 1.0 and perfect["MOTA"] == 1.0 and perfect["ID_switches"] == 0
    assert perfect["HOTA"] > 0.95
    swapped = [np.where(t == 1, 2, np.where(t == 2, 1, t)) if i >= 75 else t for i, t in enumerate(truth.ids)]
    result = score_tracks(type(truth)(swapped, truth.keypoints), truth)
    assert result["ID_switches"] >= 2 and result["IDF1"] < 1.0
    assert score_tracks(truth, truth, "oks")["IDF1"] == 1.0


def test_identity_ceilings_rename_a_split_track_but_keep_a_swap_and_a_phantom(sequence):
    truth = load_truth(sequence)
    split = [np.where(t == 1, 100 + (i >= 75), t) for i, t in enumerate(truth.ids)]   # person 1: two tracks
    pred = TrackFrames(split, truth.keypoints)
    assert score_tracks(pred, truth)["IDF1"] < 1.0
    ceilings = identity_ceilings(pred, truth)
    assert ceilings["tracks"]["IDF1"] == 1.0 and ceilings["tracks"]["ID_switches"] == 0   # relinked, it is whole
    assert ceilings["detections"]["IDF1"] == 1.0
    swapped = [np.where(t == 1, 2, np.where(t == 2, 1, t)) if i >= 75 else t for i, t in enumerate(truth.ids)]
    ceilings = identity_ceilings(TrackFrames(swapped, truth.keypoints), truth)
    assert ceilings["tracks"]["ID_switches"] >= 1 and ceilings["tracks"]["IDF1"] < 1.0   # a swap stays a swap ...
    assert ceilings["detections"]["IDF1"] == 1.0 and ceilings["detections"]["ID_switches"] == 0   # ... but not here
    phantom = np.zeros((1, 18, 3))
    phantom[0, :, :2], phantom[0, :, 2] = -500.0, 2   # a person found where nobody is, every frame
    extra = TrackFrames([np.append(t, 999) for t in truth.ids], [np.concatenate([k, phantom]) for k in truth.keypoints])
    ceilings = identity_ceilings(extra, truth)
    assert ceilings["detections"]["IDF1"] < 1.0 and ceilings["tracks"]["IDF1"] == ceilings["detections"]["IDF1"]


def test_counts_against_the_truth(sequence):
    counts = json.loads((sequence / "counts.json").read_text())
    true_in = counts["lines"]["middle"]["in"]
    events = [{"events": [{"type": "cross", "line": "middle", "direction": "in", "id": 1}] * (true_in if i == 0 else 0),
               "occupancy": {"left": o[0]}} for i, o in enumerate(counts["occupancy"])]
    result = score_counts(events, counts)
    assert result["crossings"]["middle_in"]["error"] == 0.0
    assert result["occupancy"]["left"]["exact"] == 1.0
    result = score_counts([{"occupancy": {"left": o[0] + 1}} for o in counts["occupancy"]], counts)
    assert result["occupancy"]["left"]["mean_abs_error"] == 1.0


def test_crossing_events_are_paired_one_to_one_and_placed(sequence):
    counts = json.loads((sequence / "counts.json").read_text())
    true = counts["crossings"]
    assert len(true) >= 2 and counts["image_size"] == [320, 240]

    def lines(events):
        return [{"index": i, "events": [e | {"type": "cross"} for e in events if e["frame"] == i]}
                for i in range(150)]

    exact = score_crossing_events(lines(true), counts)
    assert (exact["matched"], exact["missed"], exact["extra"]) == (len(true), 0, 0)
    late = [e | {"frame": min(e["frame"] + 5, 149)} for e in true]                  # counted a little later
    assert score_crossing_events(lines(late), counts)["matched"] == len(true)
    one = score_crossing_events(lines(true[1:] + true[1:2]), counts)   # an extra does not cancel a miss

    assert (one["matched"], one["missed"], one["extra"]) == (len(true) - 1, 1, 1)
    wrong_way = [e | {"direction": "out" if e["direction"] == "in" else "in"} for e in true[:1]]
    edge = [e | {"xy": [160.0, 10.0], "frame": 140, "id": 99} for e in true[:1]]   # 10 px from the top
    result = score_crossing_events(lines(true[1:] + wrong_way + edge), counts)
    assert (result["missed"], result["extra"], result["extra_at_edge"]) == (1, 2, 1)
    with pytest.raises(DataError, match="'xy'"):
        score_crossing_events(lines([{k: v for k, v in e.items() if k != "xy"} for e in true]), counts)


def test_cli_tracks(sequence, tmp_path):
    truth = load_truth(sequence)
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, truth)
    r = CliRunner().invoke(eval_app, ["--tracks", str(pred), "--data", str(sequence), "--out", str(tmp_path / "m.json")])
    assert r.exit_code == 0, r.output
    assert "IDF1 1.000" in r.output and "crossings middle_in" in r.output
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["tracking"]["ID_switches"] == 0 and saved["identity_ceilings"]["detections"]["IDF1"] == 1.0
    assert "identity ceiling, each track relinked right: IDF1 1.000" in r.output
    pred.write_text(pred.read_text().splitlines()[0] + "\n")
    r = CliRunner().invoke(eval_app, ["--tracks", str(pred), "--data", str(sequence)])
    assert r.exit_code == 1 and "frames" in r.output


def test_tracks_without_ids_are_refused(sequence, tmp_path):
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"index": 0, "people": [{"keypoints": [[0, 0, 0]] * 18, "score": 1}]}) + "\n")
    with pytest.raises(DataError, match="--track"):
        evaluate_tracks(pred, sequence)


@pytest.mark.parametrize("line, message", [
    ("[1, 2]", "line 1 is not a frame"),
    (json.dumps({"people": 5}), "line 1 is not a frame"),
    (json.dumps({"people": [{"id": 1, "keypoints": [[0, 0, 0]] * 17}]}), "line 1: every person needs"),
    (json.dumps({"people": [{"id": "a", "keypoints": [[0, 0, 0]] * 18}]}), "line 1: every person needs"),
    (json.dumps({"people": [{"id": 1, "keypoints": [[0, 0, 0]] * 18}, {"keypoints": [[0, 0, 0]] * 18}]}),
     "people without an 'id'"),
    (json.dumps({"people": [], "events": [{"type": "cross", "line": "middle"}]}), "in/out 'direction'"),
])
def test_malformed_tracks_are_one_error_naming_the_file_and_line(sequence, tmp_path, line, message):
    pred = tmp_path / "pred.jsonl"
    pred.write_text(line + "\n")
    with pytest.raises(DataError, match=message) as e:
        evaluate_tracks(pred, sequence)
    assert str(pred) in str(e.value)


def test_a_frame_count_mismatch_names_the_tracks(sequence, tmp_path):
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, load_truth(sequence))
    pred.write_text(pred.read_text() + pred.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match=f"{pred}: 151 frames, but the sequence .* has 150"):
        evaluate_tracks(pred, sequence)


@pytest.mark.parametrize("counts, message", [
    ('{"zone_names": ["left"], "occupancy": [[0]', "not valid JSON"),
    ("[]", "expected a JSON object"),
    ("{}", "'zone_names' must be"),
    ('{"zone_names": ["left"], "lines": {}, "occupancy": [[0]]}', "'occupancy' must hold 1 count"),
    ('{"zone_names": [], "lines": {"a": {"in": 1}}}', "'lines' must give"),
])
def test_a_corrupt_counts_file_is_one_error_naming_it(sequence, tmp_path, counts, message):
    seq = tmp_path / "seq"
    seq.mkdir()
    (seq / "annotations.json").write_text((sequence / "annotations.json").read_text())
    (seq / "counts.json").write_text(counts)
    pred = tmp_path / "pred.jsonl"
    write_jsonl(pred, load_truth(sequence))
    with pytest.raises(DataError, match=message) as e:
        evaluate_tracks(pred, seq)
    assert str(seq / "counts.json") in str(e.value)


def test_an_annotation_of_an_unlisted_image_is_one_error(sequence, tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    ds = json.loads((sequence / "annotations.json").read_text())
    ds["annotations"][0]["image_id"] = 99999
    (seq / "annotations.json").write_text(json.dumps(ds))
    with pytest.raises(DataError, match="which the dataset does not list"):
        load_truth(seq)
