"""Tracking, counting and zones on synthetic top-view sequences (1-6 people, 1,000 frames each).

Seeds 1001-1003 were never used to tune the tracker or the zone counter (their settings were
chosen on seeds 3, 11-16 and 31-38).
With the bundled model: the real stream (``toppose-stream --images SEQ/images --zones Z --json``)
then ``toppose-eval --tracks``'s scoring. The tracker's ceiling: the true poses, shuffled, fed
to the tracker and the zone counter (the counting's ceiling too). Speed: tracker + zones per
frame with 20 people.
"""

import json
import time

import numpy as np
import pytest

from benchmarks.conftest import record
from toppose.codec.poses import Poses
from toppose.runtime.analytics import Analytics
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import ImageSource
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream
from toppose.runtime.zones import parse_zones
from toppose.synth.sequence import COUNTS, write_sequence
from toppose.track_eval import (crossing_totals, evaluate_tracks, load_truth, score_counts, score_crossing_events,
                                score_tracks, shuffled_people, track_people)

SEEDS = (1001, 1002, 1003)
FRAMES = 1000
ZONES = {"zones": [{"name": "left_half", "polygon": [[0, 0], [160, 0], [160, 240], [0, 240]]},
                   {"name": "centre", "polygon": [[100, 70], [220, 70], [220, 170], [100, 170]]}],
         "lines": [{"name": "vertical", "from": [160, 10], "to": [160, 230]},
                   {"name": "horizontal", "from": [20, 120], "to": [300, 120]}]}


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracking")
    (root / "zones.json").write_text(json.dumps(ZONES))
    for seed in SEEDS:
        write_sequence(root / str(seed), FRAMES, seed, (1, 6), parse_zones(ZONES))
    return root


def _pool(results: list[dict]) -> dict:
    frames = sum(r["person_frames"] for r in results)
    switches = sum(r["ID_switches"] for r in results)
    return {"IDF1_mean": round(float(np.mean([r["IDF1"] for r in results])), 4),
            "IDF1_min": round(float(min(r["IDF1"] for r in results)), 4),
            "HOTA_mean": round(float(np.mean([r["HOTA"] for r in results])), 4),
            "MOTA_mean": round(float(np.mean([r["MOTA"] for r in results])), 4),
            "ID_switches": switches, "person_frames": frames,
            "switches_per_1000_frames_per_person": round(1000 * switches / max(frames, 1), 3)}


EVENT_KEYS = ("matched", "missed", "missed_at_edge", "extra", "extra_at_edge")


def _record_events(results: dict, group: str, events: list[dict]) -> None:
    """Crossings paired one to one with true ones (``score_crossing_events``), summed over the sequences."""
    for k in EVENT_KEYS:
        record(results, group, f"crossings_{k}", sum(e[k] for e in events))


def test_tracker_ceiling_on_true_poses(results, sequences):
    scores, crossings, events = [], {"true": 0, "abs_error": 0}, []
    rng = np.random.default_rng(0)
    for seed in SEEDS:
        truth = load_truth(sequences / str(seed))
        pred, lines = track_people(Analytics(True, sequences / "zones.json"), shuffled_people(truth, rng),
                                   (240, 320), 15.0)
        scores.append(score_tracks(pred, truth))
        counts = json.loads((sequences / str(seed) / COUNTS).read_text())
        totals = crossing_totals(score_counts(lines, counts)["crossings"])
        for k in crossings:
            crossings[k] += totals[k]
        events.append(score_crossing_events(lines, counts))
    pooled = _pool(scores)
    for k, v in pooled.items():
        record(results, "tracking_true_poses", k, v)
    error = crossings["abs_error"] / max(crossings["true"], 1)
    record(results, "tracking_true_poses", "crossings_error", round(error, 4))
    _record_events(results, "tracking_true_poses", events)
    assert pooled["IDF1_min"] >= 0.98


def test_tracking_and_counting_with_the_bundled_model(results, sequences, tmp_path):
    session = PoseSession(bundled_model(), "cpu")
    scores, crossings, occupancy, events = [], {"true": 0, "predicted": 0, "abs_error": 0}, [], []
    ceilings = {"detections": [], "tracks": []}
    for seed in SEEDS:
        seq = sequences / str(seed)
        cfg = StreamConfig(zones=sequences / "zones.json", jsonl=tmp_path / f"{seed}.jsonl")
        run_stream(ImageSource(str(seq / "images")), session, cfg)
        result = evaluate_tracks(tmp_path / f"{seed}.jsonl", seq)
        scores.append(result["tracking"])
        for k in ceilings:
            ceilings[k].append(result["identity_ceilings"][k])
        totals = crossing_totals(result["counts"]["crossings"])
        for k in crossings:
            crossings[k] += totals[k]
        occupancy += [o["exact"] for o in result["counts"]["occupancy"].values()]
        events.append(result["counts"]["events"])
    pooled = _pool(scores)
    for k, v in pooled.items():
        record(results, "tracking_bundled_model", k, v)
    for k, c in ceilings.items():   # the same people renamed by the truth: what identities alone could give
        idf1, switches = float(np.mean([x["IDF1"] for x in c])), sum(x["ID_switches"] for x in c)
        record(results, "tracking_bundled_model", f"{k}_named_right_IDF1_mean", round(idf1, 4))
        record(results, "tracking_bundled_model", f"{k}_named_right_switches_per_1000_frames_per_person",
               round(1000 * switches / max(pooled["person_frames"], 1), 3))
    error = crossings["abs_error"] / max(crossings["true"], 1)
    record(results, "counting_bundled_model", "crossings_true", crossings["true"])
    record(results, "counting_bundled_model", "crossings_predicted", crossings["predicted"])
    record(results, "counting_bundled_model", "crossings_error", round(error, 4))
    record(results, "counting_bundled_model", "occupancy_exact_frames", round(float(np.mean(occupancy)), 4))
    _record_events(results, "counting_bundled_model", events)
    targets = {"IDF1 >= 0.90": pooled["IDF1_mean"] >= 0.90,
               "<= 1 switch per 1000 frames per person": pooled["switches_per_1000_frames_per_person"] <= 1.0,
               "crossings within 2 %": error <= 0.02}
    record(results, "tracking_targets", "bundled_model_met", {k: bool(v) for k, v in targets.items()})
    assert all(targets.values()), targets


def speed_frames(count: int = 700) -> list[Poses]:
    """20 people in 4 rows of 5, 64 px apart, swaying 25 px (they never meet), in shuffled order."""
    rng = np.random.default_rng(5)
    template = rng.normal(0, 12, (18, 2))
    home = np.stack(np.meshgrid(np.arange(5) * 64 + 32, np.arange(4) * 60 + 30), -1).reshape(20, 2).astype(float)
    phase = rng.uniform(0, 2 * np.pi, 20)
    frames = []
    for t in range(count):
        pos = home + 25 * np.stack([np.sin(t / 15 + phase), np.cos(t / 20 + phase)], -1) * [1, 0.5]
        kp = np.ones((20, 18, 3), np.float32)
        kp[..., :2] = pos[:, None] + template + rng.normal(0, 1, (20, 18, 2))
        frames.append(Poses(kp[rng.permutation(20)], np.ones(20, np.float32), np.full(20, 18, np.int32)))
    return frames


def test_tracking_and_zones_speed_at_20_people(results, timing):
    frames = speed_frames()
    analytics = Analytics(True, parse_zones(ZONES))
    times = []
    for i, poses in enumerate(frames):
        t = time.perf_counter()
        frame = analytics.update(poses, (240, 320), i, i / 15)
        times.append(1000 * (time.perf_counter() - t))
    ms = float(np.median(times[100:]))
    record(results, "tracking_speed", "tracking_and_zones_ms_per_frame_20_people", round(ms, 4))
    record(results, "tracking_speed", "tracks_confirmed", int(len(frame.track_ids)))
    record(results, "tracking_speed", "ids_given", analytics.tracker.next_id - 1)
    assert len(frame.track_ids) == 20 and analytics.tracker.next_id == 21   # nobody lost or swapped
    if timing:
        assert ms <= 0.2
