"""Bad-input corpus for tracking: ``toppose-stream --zones/--mqtt``, ``toppose-eval --tracks`` and
``toppose-data synth --sequence`` (checks: tests/corpus.py)."""

import json
import os
import shutil

import pytest

from corpus import check, runner
from toppose.data.cli import app as data_app
from toppose.runtime.cli import stream_app
from toppose.runtime.zones import parse_zones
from toppose.synth.sequence import write_sequence
from toppose.synth.writers import write_training
from toppose.train.eval_cli import app as eval_app

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]
ZONES = {"zones": [{"name": "left", "polygon": [[0, 0], [160, 0], [160, 240], [0, 240]]}],
         "lines": [{"name": "middle", "from": [160, 0], "to": [160, 240]}]}
BAD_ZONES = {
    "list": [{"name": "desk", "polygon": SQUARE}],
    "nothing": {},
    "noname": {"zones": [{"polygon": SQUARE}]},
    "number-name": {"zones": [{"name": 7, "polygon": SQUARE}]},
    "duplicate": {"zones": [{"name": "desk", "polygon": SQUARE}, {"name": "desk", "polygon": SQUARE}]},
    "zones-object": {"zones": {"desk": SQUARE}},
    "two-points": {"zones": [{"name": "desk", "polygon": [[0, 0], [10, 10]]}]},
    "no-polygon": {"zones": [{"name": "desk"}]},
    "text-points": {"zones": [{"name": "desk", "polygon": [["a", "b"], ["c", "d"], ["e", "f"]]}]},
    "ragged-points": {"zones": [{"name": "desk", "polygon": [[0, 0], [10], [10, 10]]}]},
    "three-coordinates": {"zones": [{"name": "desk", "polygon": [[0, 0, 0], [10, 0, 0], [10, 10, 0]]}]},
    "zero-line": {"lines": [{"name": "door", "from": [50, 60], "to": [50, 60]}]},
    "line-no-to": {"lines": [{"name": "door", "from": [50, 60]}]},
    "line-three-points": {"lines": [{"name": "door", "from": [[0, 0], [1, 1]], "to": [50, 60]}]},
    "unknown-key": {"zones": [{"name": "desk", "polygon": SQUARE}], "lnes": []},
    "unknown-zone-key": {"zones": [{"name": "desk", "polygon": SQUARE, "polgon": SQUARE}]},
    "unknown-line-key": {"lines": [{"name": "door", "from": [0, 0], "to": [9, 9], "direction": "in"}]},
}
BAD_ZONES_TEXT = {
    "notjson": "zones:\n  - name: desk\n",
    "nan": '{"zones": [{"name": "desk", "polygon": [[0, 0], [NaN, 0], [10, 10]]}]}',
    "inf": '{"lines": [{"name": "door", "from": [0, 0], "to": [1e999, 5]}]}',
    "empty": "",
    "trailing-comma": '{"zones": [{"name": "desk", "polygon": [[0, 0], [9, 0], [9, 9]]},]}',
    "deep": "[" * 200_000 + "]" * 200_000,
    "deep-object": '{"zones": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001,
}


def _sequence(ws):
    seq = ws / "seq"
    write_sequence(seq, 16, seed=5, people=(1, 2), zones=parse_zones(ZONES))
    ds = json.loads((seq / "annotations.json").read_text())
    assert ds["annotations"], "the sequence should hold people"
    lines = []
    for i, image in enumerate(sorted(ds["images"], key=lambda e: e["id"])):
        people = [{"keypoints": a["keypoints"], "score": 1.0, "parts": 18, "id": a["track_id"]}
                  for a in ds["annotations"] if a["image_id"] == image["id"]]
        lines.append({"index": i, "timestamp": i / 15, "people": people, "occupancy": {"left": 0}, "events": []})
    good = ws / "tracks"
    good.mkdir()

    def write(name, rows, raw=None):
        (good / name).write_text(raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows))

    write("ok.jsonl", lines)
    write("notjson.jsonl", lines, json.dumps(lines[0]) + "\n{index: 1, people: []\n")
    write("list-line.jsonl", [lines[0], [1, 2, 3]] + lines[2:])
    write("no-ids.jsonl", [{**ln, "people": [{k: v for k, v in p.items() if k != "id"} for p in ln["people"]]}
                           for ln in lines])
    first = next(i for i, ln in enumerate(lines) if ln["people"])
    mixed = json.loads(json.dumps(lines))
    mixed[first]["people"].append({k: v for k, v in mixed[first]["people"][0].items() if k != "id"})
    write("some-without-id.jsonl", mixed)
    write("short.jsonl", lines[:-2])
    write("long.jsonl", lines + lines[:1])
    write("empty.jsonl", [], "")
    shape = json.loads(json.dumps(lines))
    shape[first]["people"][0]["keypoints"] = shape[first]["people"][0]["keypoints"][:-3]
    write("keypoints-shape.jsonl", shape)
    text = json.loads(json.dumps(lines))
    text[first]["people"][0]["keypoints"] = ["x"] * 54
    write("keypoints-text.jsonl", text)
    text_id = json.loads(json.dumps(lines))
    text_id[first]["people"][0]["id"] = "seven"
    write("id-text.jsonl", text_id)
    cross = json.loads(json.dumps(lines))
    cross[first]["events"] = [{"type": "cross", "line": "middle", "id": 1, "frame": first}]
    write("cross-no-direction.jsonl", cross)
    write("people-number.jsonl", [{**lines[0], "people": 5}] + lines[1:])
    write("person-list.jsonl", [{**lines[0], "people": [[1, 2]]}] + lines[1:])
    (ws / "tracks" / "binary.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    (ws / "tracks" / "folder.jsonl").mkdir()

    def variant(name, annotations=None, counts=None):
        out = ws / name
        out.mkdir()
        (out / "annotations.json").write_text(json.dumps(annotations or ds))
        if counts is not None:
            (out / "counts.json").write_text(counts)
    variant("seq-counts-corrupt", counts='{"zone_names": ["left"], "occupancy": [[0]')
    variant("seq-counts-list", counts="[]")
    variant("seq-counts-empty-object", counts="{}")
    variant("seq-no-track-id", {**ds, "annotations": [{k: v for k, v in a.items() if k != "track_id"}
                                                      for a in ds["annotations"]]})
    orphan = json.loads(json.dumps(ds))
    orphan["annotations"][0]["image_id"] = 99999
    variant("seq-orphan-annotation", orphan)
    (ws / "seq-none").mkdir()
    (ws / "seq-counts-folder").mkdir()
    shutil.copy(seq / "annotations.json", ws / "seq-counts-folder")
    (ws / "seq-counts-folder" / "counts.json").mkdir()
    # a training-format folder that is no sequence (no track_id)
    write_training(ws / "d", "top", 2, seed=4, people=(1, 2), fully_in_view=True)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("corpus_tracking")
    write_training(ws / "d0", "top", 3, seed=4, people=(1, 2), fully_in_view=True)
    (ws / "imgs").mkdir()
    for p in sorted((ws / "d0" / "images").iterdir()):
        os.link(p, ws / "imgs" / p.name)
    (ws / "z").mkdir()
    (ws / "z" / "ok.json").write_text(json.dumps(ZONES))
    for name, doc in BAD_ZONES.items():
        (ws / "z" / f"{name}.json").write_text(json.dumps(doc))
    for name, text in BAD_ZONES_TEXT.items():
        (ws / "z" / f"{name}.json").write_text(text)
    (ws / "z" / "latin1.json").write_bytes('{"zones": [{"name": "Büro"}]}'.encode("latin-1"))
    (ws / "z" / "folder.json").mkdir()
    _sequence(ws)
    (ws / "existing.json").write_text("keep")
    return ws


S = "--images {ws}/imgs --device cpu --no-show"
Z = "{ws}/z"
STREAM = [(f"zones-{name}", S + f" --zones {Z}/{name}.json", f"{Z}/{name}.json")
          for name in [*BAD_ZONES, *BAD_ZONES_TEXT, "latin1", "folder", "missing"]]
STREAM += [
    ("zones-duplicate-named", S + f" --zones {Z}/duplicate.json", "duplicate name 'desk' in 'zones'"),
    ("zones-two-points-why", S + f" --zones {Z}/two-points.json", "needs at least 3 points"),
    ("zones-zero-line-why", S + f" --zones {Z}/zero-line.json", "line 'door' has the same 'from' and 'to'"),
    ("zones-nan-why", S + f" --zones {Z}/nan.json", "zone 'desk' polygon must be a list of [x, y] pixel pairs"),
    ("zones-missing-why", S + f" --zones {Z}/missing.json", "missing.json: no such file"),
    ("zones-unknown-key-why", S + f" --zones {Z}/unknown-key.json", "unknown key(s) ['lnes']"),
    ("zones-unknown-zone-key-why", S + f" --zones {Z}/unknown-zone-key.json", "unknown key(s) ['polgon']"),
    ("mqtt-scheme", S + " --mqtt http://localhost/toppose", "--mqtt 'http://localhost/toppose'"),
    ("mqtt-no-scheme", S + " --mqtt localhost:1883/toppose", "--mqtt 'localhost:1883/toppose'"),
    ("mqtt-no-host", S + " --mqtt mqtt:///toppose", "--mqtt 'mqtt:///toppose'"),
    ("mqtt-port-text", S + " --mqtt mqtt://localhost:abc/toppose", "the port must be a number from 1 to 65535"),
    ("mqtt-port-0", S + " --mqtt mqtt://localhost:0/toppose", "the port must be a number from 1 to 65535"),
    ("mqtt-port-70000", S + " --mqtt mqtt://localhost:70000/toppose", "the port must be a number from 1 to 65535"),
    ("mqtt-port-negative", S + " --mqtt mqtt://localhost:-1/toppose", "the port must be a number from 1 to 65535"),
    ("mqtt-no-topic", S + " --mqtt mqtt://localhost:1883", "with a host and a topic"),
    ("mqtt-slash-topic", S + " --mqtt mqtt://localhost:1883/", "with a host and a topic"),
    ("mqtt-plus", S + " --mqtt mqtt://localhost/site/+/poses", "cannot contain '#' or '+'"),
    ("mqtt-hash", S + " --mqtt mqtt://localhost/site/#", "cannot contain '#' or '+'"),
    ("mqtt-bad-ipv6", S + " --mqtt mqtt://[::1/toppose", "--mqtt 'mqtt://[::1/toppose'"),
    ("mqtt-password-without-user", S + " --mqtt mqtt://:secret@localhost/toppose", "a password needs a user"),
    ("mqtt-query", S + " --mqtt mqtt://localhost/toppose?qos=2", "a ?query is not supported"),
    ("mqtt-topic-too-long", S + " --mqtt mqtt://localhost/" + "t" * 70_000, "the topic is too long"),
    ("no-mqtt-poses-without-mqtt", S + " --track --no-mqtt-poses", "--no-mqtt-poses needs --mqtt"),
    ("down-after-0", S + " --3d --track --down-after 0", "--down-after must be positive, got 0.0"),
    ("down-after-nan", S + " --3d --track --down-after nan", "--down-after must be positive, got nan"),
    ("down-after-without-3d", S + " --track --down-after 5", "--down-after needs --3d"),
    ("down-after-without-ids", S + " --3d --down-after 5", "--down-after needs --3d (the lying flag) and --track"),
]


@pytest.mark.parametrize("name,args,culprit", STREAM, ids=[c[0] for c in STREAM])
def test_toppose_stream_zones_and_mqtt(ws, name, args, culprit):
    check(stream_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


@pytest.mark.parametrize("ca,culprit", [("gone.pem", "gone.pem: cannot read"), ("z", "cannot read"),
                                        ("z/ok.json", "not a PEM certificate")])
def test_a_bad_certificate_authority_for_mqtts(ws, ca, culprit):
    check(stream_app, [*S.format(ws=ws).split(), "--mqtt", "mqtts://localhost/toppose"],
          f"TOPPOSE_MQTT_CA={ws}/{ca}: {culprit.split(': ')[-1]}", ws, env={"TOPPOSE_MQTT_CA": f"{ws}/{ca}"})


def test_a_broker_that_is_down_is_no_error(ws, tmp_path):
    """Nothing listens on port 1: the stream runs, the JSON lines are written, the exit is 0."""
    out = tmp_path / "p.jsonl"
    res = runner.invoke(stream_app, [*S.format(ws=ws).split(), "--zones", f"{ws}/z/ok.json",
                                     "--mqtt", "mqtt://127.0.0.1:1/toppose", "--json", str(out)])
    assert res.exit_code == 0 and "error:" not in res.output, res.output[-2000:]
    assert len(out.read_text().splitlines()) == 3


T = "--tracks {ws}/tracks/{name} --data {ws}/seq"
EVAL = [(f"tracks-{name.split('.')[0]}", T.replace("{name}", name), f"{{ws}}/tracks/{name}") for name in [
    "gone.jsonl", "folder.jsonl", "binary.jsonl", "notjson.jsonl", "list-line.jsonl", "no-ids.jsonl",
    "some-without-id.jsonl", "short.jsonl", "long.jsonl", "empty.jsonl", "keypoints-shape.jsonl",
    "keypoints-text.jsonl", "id-text.jsonl", "people-number.jsonl", "person-list.jsonl", "cross-no-direction.jsonl"]]
OK = T.replace("{name}", "ok.jsonl")
EVAL += [
    ("tracks-notjson-line", T.replace("{name}", "notjson.jsonl"), "line 2 is not valid JSON"),
    ("tracks-no-ids-why", T.replace("{name}", "no-ids.jsonl"), "without an 'id' field (stream with --track)"),
    ("tracks-short-why", T.replace("{name}", "short.jsonl"), "14 frames"),
    ("data-missing", OK.replace("/seq", "/nowhere"), "nowhere/annotations.json: no such file"),
    ("data-not-a-dataset", OK.replace("/seq", "/seq-none"), "seq-none/annotations.json: no such file"),
    ("data-no-track-id", OK.replace("/seq", "/seq-no-track-id"), "seq-no-track-id: annotation"),
    ("data-training-format", OK.replace("/seq", "/d"), "{ws}/d: annotation"),
    ("data-orphan-annotation", OK.replace("/seq", "/seq-orphan-annotation"), "seq-orphan-annotation"),
    ("counts-corrupt", OK.replace("/seq", "/seq-counts-corrupt"), "seq-counts-corrupt/counts.json"),
    ("counts-list", OK.replace("/seq", "/seq-counts-list"), "seq-counts-list/counts.json"),
    ("counts-empty-object", OK.replace("/seq", "/seq-counts-empty-object"), "seq-counts-empty-object/counts.json"),
    ("counts-folder", OK.replace("/seq", "/seq-counts-folder"), "seq-counts-folder/counts.json"),
    ("match-unknown", OK + " --match iou", "--match must be centre or oks, got 'iou'"),
    ("out-existing", OK + " --out {ws}/existing.json", "--out {ws}/existing.json: exists (add --force"),
    ("out-under-a-file", OK + " --out {ws}/existing.json/m.json", "existing.json is a file, not a folder"),
    ("no-data", "--tracks {ws}/tracks/ok.jsonl", "give --data"),
]


@pytest.mark.parametrize("name,args,culprit", EVAL, ids=[c[0] for c in EVAL])
def test_toppose_eval_tracks(ws, name, args, culprit):
    check(eval_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)


def test_the_good_tracks_score(ws, tmp_path):
    res = runner.invoke(eval_app, [*OK.format(ws=ws).split(), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 0 and "IDF1 1.000" in res.output, res.output[-2000:]


Q = "synth --out {ws}/newseq --sequence --frames 3"
SYNTH = [
    ("people-reversed", Q + " --people 3:1", "--people must satisfy 0 <= MIN <= MAX, got '3:1'"),
    ("people-text", Q + " --people a:b", "--people must look like MIN:MAX, got 'a:b'"),
    ("people-zero", Q + " --people 0:0", "--people 0:0"),
    ("people-negative", Q + " --people -1:2", "--people must satisfy"),
    ("people-three-parts", Q + " --people 1:2:3", "--people must look like MIN:MAX"),
    ("people-missing", Q, "--sequence needs --people MIN:MAX"),
    ("zones-without-sequence", "synth --out {ws}/new --people 1:2 --zones {ws}/z/ok.json", "--zones needs --sequence"),
    ("side-view", Q + " --people 1:2 --view side", "--sequence renders the top view only"),
    ("out-existing", Q.replace("newseq", "seq") + " --people 1:2", "{ws}/seq"),
    *[(f"zones-{name}", Q + f" --people 1:2 --zones {Z}/{name}.json", f"{Z}/{name}.json")
      for name in ("notjson", "list", "duplicate", "two-points", "nan", "zero-line", "folder", "missing", "deep")],
    *[(f"sequence-with{opt.split()[0]}", Q + " --people 1:2 " + opt, f"--sequence cannot take {opt.split()[0]}")
      for opt in ("--workers 2", "--clutter 3", "--tilt 0:20", "--camera-height 2:3", "--fov 50:70",
                  "--sensor xtion", "--walls", "--fully-in-view", "--split test")],
]


@pytest.mark.parametrize("name,args,culprit", SYNTH, ids=[c[0] for c in SYNTH])
def test_toppose_data_synth_sequence(ws, name, args, culprit):
    check(data_app, args.format(ws=ws).split(), culprit.format(ws=ws), ws)
