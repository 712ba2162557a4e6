"""Score tracks against a synthetic sequence: HOTA, IDF1, MOTA, ID switches (TrackEval), and counting.

Similarity of a predicted and a true person, thresholded at 0.5 by TrackEval's CLEAR and
Identity and swept by HOTA: ``centre`` (default) 1 - d / (2 CENTRE_PX) for body centres d px
apart, so a match is within CENTRE_PX (~0.2 m at shoulder height from 3 m; two people are never
closer than ~0.6 m from above); ``oks``, COCO's OKS with the true segment area, which also
scores keypoint localisation.
True people with fewer than ``MIN_KEYPOINTS`` labelled keypoints (mostly out of view) are
ignored, with the predictions that match them, as MOTChallenge does with distractors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toppose.data.format import DataError, load_dataset
from toppose.skeleton import OPENPOSE_SIGMAS

_BIG = 1e9
MIN_KEYPOINTS = 4
CENTRE_PX = 40.0
CROSS_FRAMES = 8       # a predicted crossing is a true one's when of the same line and direction, this many
#                        frames apart at most and within CENTRE_PX of it on the line


@dataclass
class TrackFrames:
    """Per frame: ids (N,) int and keypoints (N, 18, 3); areas (N,) for ground truth."""

    ids: list[np.ndarray]
    keypoints: list[np.ndarray]
    areas: list[np.ndarray] | None = None


def load_truth(folder: str | Path) -> TrackFrames:
    data = load_dataset(folder)
    images = sorted(data["images"], key=lambda e: e["id"])
    index = {e["id"]: i for i, e in enumerate(images)}
    per = [[] for _ in images]
    for a in data["annotations"]:
        if "track_id" not in a:
            raise DataError(f"{folder}: annotation {a.get('id')} has no track_id (write it with --sequence)")
        if a.get("image_id") not in index:
            raise DataError(f"{folder}: annotation {a.get('id')} is of image {a.get('image_id')!r}, which the "
                            "dataset does not list")
        per[index[a["image_id"]]].append(a)
    try:
        return TrackFrames([np.array([a["track_id"] for a in f], np.int64) for f in per],
                           [np.array([a["keypoints"] for a in f], np.float64).reshape(-1, 18, 3) for f in per],
                           [np.array([a["area"] for a in f], np.float64) for f in per])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise DataError(f"{folder}: every annotation needs an integer track_id, 18 keypoints (x, y, v) "
                        "and an area") from None


def shuffled_people(truth: TrackFrames, rng: np.random.Generator) -> Iterator["Poses"]:
    """The true people of each frame as a decoder would hand them to the tracker, in a random order
    (the tracker's ceiling: benchmarks/test_bench_tracking.py, scripts/track_tune.py)."""
    from toppose.codec.poses import Poses

    for kp in truth.keypoints:
        kp = kp[rng.permutation(len(kp))].astype(np.float32)
        yield Poses(kp, np.ones(len(kp), np.float32), np.full(len(kp), kp.shape[1], np.int32))


def track_people(analytics, frames: Iterator["Poses"], image_hw: tuple[int, int],
                 fps: float) -> tuple[TrackFrames, list[dict]]:
    """Each frame's people through ``analytics`` (a runtime ``Analytics``) -> the confirmed tracks
    and, per frame, what a stream's JSON line would carry for counting (occupancy, events)."""
    pred, lines = TrackFrames([], []), []
    for i, poses in enumerate(frames):
        f = analytics.update(poses, image_hw, i, i / fps)
        keep = f.ids >= 0
        pred.ids.append(f.ids[keep])
        pred.keypoints.append(f.poses.keypoints[keep].astype(np.float64))
        lines.append({"occupancy": f.occupancy, "events": f.events})
    return pred, lines


def load_tracks(path: str | Path) -> tuple[TrackFrames, list[dict]]:
    """toppose-stream --track --json output -> tracks (people without an id are left out), and the lines."""
    lines = []
    n = 0
    try:
        with open(path) as f:
            for n, text in enumerate(f, 1):
                if text.strip():
                    lines.append(json.loads(text))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file (expected toppose-stream --json output)") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: line {n} is not valid JSON ({e.msg})") from None
    except RecursionError:
        raise DataError(f"{path}: line {n} is JSON nested too deeply") from None
    ids, kps = [], []
    for n, line in enumerate(lines, 1):
        people = line.get("people", []) if isinstance(line, dict) else None
        events = line.get("events", []) if isinstance(line, dict) else None
        if not isinstance(people, list) or not all(isinstance(p, dict) for p in people) \
                or not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise DataError(f"{path}: line {n} is not a frame of toppose-stream --json (an object with lists "
                            "'people' and 'events' of objects)")
        if any("id" not in p for p in people):
            raise DataError(f"{path}: line {n} has people without an 'id' field (stream with --track)")
        if any(e.get("type") == "cross" and not (isinstance(e.get("line"), str) and e.get("direction") in ("in", "out"))
               for e in events):
            raise DataError(f"{path}: line {n} has a cross event without a 'line' and an in/out 'direction'")
        people = [p for p in people if p["id"] is not None]
        try:
            ids.append(np.array([p["id"] for p in people], np.int64))
            kps.append(np.array([p["keypoints"] for p in people], np.float64).reshape(-1, 18, 3))
        except (KeyError, TypeError, ValueError, OverflowError):
            raise DataError(f"{path}: line {n}: every person needs an integer 'id' and 'keypoints' of 18 "
                            "[x, y, score]") from None
    return TrackFrames(ids, kps), lines


def load_counts(path: Path, frames: int) -> dict:
    """A sequence's counts.json (``write_sequence``) for ``frames`` frames; DataError naming it otherwise."""
    try:
        counts = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DataError(f"{path}: not valid JSON ({getattr(e, 'msg', type(e).__name__)})") from None

    def bad(what: str) -> DataError:
        return DataError(f"{path}: {what} (toppose-data synth --sequence --zones writes it)")

    def pair(v) -> bool:
        return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)

    if not isinstance(counts, dict):
        raise bad("expected a JSON object")
    names, totals = counts.get("zone_names"), counts.get("lines")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad("'zone_names' must be a list of names")
    if not isinstance(totals, dict) or not all(isinstance(c, dict) and all(isinstance(c.get(d), int)
                                                                           for d in ("in", "out"))
                                               for c in totals.values()):
        raise bad("'lines' must give each line's 'in' and 'out' counts")
    if names:
        try:
            shape = np.asarray(counts.get("occupancy"), np.float64).shape
        except (TypeError, ValueError):
            shape = ()
        if shape != (frames, len(names)):
            raise bad(f"'occupancy' must hold {len(names)} count(s) for each of the sequence's {frames} frames")
    if "crossings" in counts:
        crossings = counts["crossings"]
        if not isinstance(crossings, list) or not all(
                isinstance(e, dict) and isinstance(e.get("frame"), int) and e.get("line") in totals
                and e.get("direction") in ("in", "out") and pair(e.get("xy")) for e in crossings):
            raise bad("'crossings' must list events with a frame, one of its lines, a direction and xy")
        if not pair(counts.get("image_size")):
            raise bad("'image_size' must be [width, height]")
    return counts


def oks(pred: np.ndarray, truth: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """(P, 18, 3) predicted, (G, 18, 3) true keypoints, (G,) areas px^2 -> (G, P) OKS."""
    labelled = truth[:, None, :, 2] > 0
    found = pred[None, :, :, 2] > 0
    d2 = ((truth[:, None, :, :2] - pred[None, :, :, :2]) ** 2).sum(-1)
    var = (2 * np.asarray(OPENPOSE_SIGMAS)) ** 2 * 2 * np.maximum(areas, 1.0)[:, None, None]
    terms = np.exp(-d2 / var) * labelled * found
    return terms.sum(-1) / np.maximum(labelled.sum(-1), 1)


def centre_similarity(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(P, 18, 3), (G, 18, 3) -> (G, P) 1 - distance / (2 CENTRE_PX) of the body centres, at least 0."""
    from toppose.runtime.track_pieces import body_centres

    d = np.linalg.norm(body_centres(truth)[0][:, None] - body_centres(pred)[0][None], axis=-1)
    return np.maximum(0.0, 1.0 - d / (2 * CENTRE_PX))


def ignored(truth: np.ndarray) -> np.ndarray:
    """(G, 18, 3) true people -> (G,) those with fewer than ``MIN_KEYPOINTS`` labelled keypoints."""
    return (truth[:, :, 2] > 0).sum(1) < MIN_KEYPOINTS


def similarity(pred: np.ndarray, truth: np.ndarray, areas: np.ndarray, match: str = "centre") -> np.ndarray:
    """(P, 18, 3), (G, 18, 3), (G,) -> (G, P): ``oks`` or ``centre`` similarity (the module's doc)."""
    if not (len(pred) and len(truth)):
        return np.zeros((len(truth), len(pred)))
    return oks(pred, truth, areas) if match == "oks" else centre_similarity(pred, truth)


def _sequence_data(pred: TrackFrames, truth: TrackFrames, match: str = "centre") -> dict:
    """TrackEval's per-sequence dict: 0-based ids per frame and (G, P) similarities."""
    if len(pred.ids) != len(truth.ids):
        raise DataError(f"the tracks have {len(pred.ids)} frames, the sequence {len(truth.ids)}")
    gt_map: dict[int, int] = {}
    tr_map: dict[int, int] = {}
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for pid, pkp, gid, gkp, area in zip(pred.ids, pred.keypoints, truth.ids, truth.keypoints, truth.areas):
        sim = similarity(pkp, gkp, area, match)
        off = ignored(gkp)
        drop = np.zeros(len(pid), bool)
        if off.any() and len(pid):   # a prediction whose best match is an ignored person
            best_ignored = sim[off].max(0)
            best_kept = sim[~off].max(0) if (~off).any() else np.zeros(len(pid))
            drop = (best_ignored >= 0.5) & (best_ignored > best_kept)
        keep_g, keep_p = ~off, ~drop & (pkp[:, :, 2] > 0).any(1)
        data["gt_ids"].append(np.array([gt_map.setdefault(int(i), len(gt_map)) for i in gid[keep_g]], int))
        data["tracker_ids"].append(np.array([tr_map.setdefault(int(i), len(tr_map)) for i in pid[keep_p]], int))
        data["similarity_scores"].append(sim[keep_g][:, keep_p])
    data.update(num_timesteps=len(pred.ids), num_gt_ids=len(gt_map), num_tracker_ids=len(tr_map),
                num_gt_dets=sum(len(g) for g in data["gt_ids"]), num_tracker_dets=sum(len(t) for t in data["tracker_ids"]))
    return data


def score_tracks(pred: TrackFrames, truth: TrackFrames, match: str = "centre") -> dict:
    """HOTA, IDF1, MOTA, ID switches (TrackEval) and switches per 1,000 frames per person."""
    try:
        from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError:
        raise DataError("--tracks needs TrackEval: pip install 'toppose[track-eval]'") from None
    if match not in ("centre", "oks"):
        raise DataError(f"--match must be centre or oks, got {match!r}")
    data = _sequence_data(pred, truth, match)
    cfg = {"PRINT_CONFIG": False, "THRESHOLD": 0.5}
    hota = HOTA({"PRINT_CONFIG": False}).eval_sequence(data)
    clear = CLEAR(cfg).eval_sequence(data)
    ident = Identity(cfg).eval_sequence(data)
    person_frames = data["num_gt_dets"]
    return {"HOTA": round(float(np.mean(hota["HOTA"])), 4), "IDF1": round(float(ident["IDF1"]), 4),
            "MOTA": round(float(clear["MOTA"]), 4), "ID_switches": int(clear["IDSW"]),
            "switches_per_1000_person_frames": round(1000 * clear["IDSW"] / max(person_frames, 1), 3),
            "frames": data["num_timesteps"], "true_ids": data["num_gt_ids"], "predicted_ids": data["num_tracker_ids"],
            "person_frames": person_frames, "match": match}


def frame_matches(pred: TrackFrames, truth: TrackFrames, match: str = "centre") -> Iterator[list[tuple[int, int]]]:
    """Per frame, the (predicted person's index, true id) pairs of one optimal assignment (SciPy) on
    ``similarity``, at least 0.5 as the scores need; true people with fewer than ``MIN_KEYPOINTS``
    labelled keypoints are never matched."""
    from scipy.optimize import linear_sum_assignment

    areas = truth.areas if truth.areas is not None else [np.ones(len(g)) for g in truth.ids]
    for pkp, gid, gkp, area in zip(pred.keypoints, truth.ids, truth.keypoints, areas):
        if not (len(pkp) and len(gid)):
            yield []
            continue
        sim = similarity(pkp, gkp, area, match)
        sim[ignored(gkp)] = 0.0
        rows, cols = linear_sum_assignment(-sim)
        ok = sim[rows, cols] >= 0.5
        yield list(zip(cols[ok].tolist(), gid[rows[ok]].tolist()))


def identity_ceilings(pred: TrackFrames, truth: TrackFrames, match: str = "centre") -> dict:
    """How far identities alone could take these tracks' people: ``score_tracks`` of the same
    people renamed by the truth.

    ``detections``: each person matched to a true one (``frame_matches``) gets that one's id, the
    others an id each: the ceiling of the detections (no tracker of them does better, but for ties
    in the matching). ``tracks``: each predicted track is named after the true person it matched in
    the most frames (a track no true person matched keeps its own name; of two that would share a
    name in a frame, the one matched to that person then keeps it): every track relinked as it
    should be, its swaps kept. Between the tracks' own score and these lies what the tracker loses.
    """
    matches = list(frame_matches(pred, truth, match))
    base = 1 + max([int(i.max()) for i in pred.ids if len(i)] + [0])   # true id g -> base + g: no clash
    votes: dict[int, dict[int, int]] = {}
    for ids, pairs in zip(pred.ids, matches):
        for j, g in pairs:
            per = votes.setdefault(int(ids[j]), {})
            per[g] = per.get(g, 0) + 1
    follows = {p: min(v, key=lambda g: (-v[g], g)) for p, v in votes.items()}
    named, relinked = [], []
    for ids, pairs in zip(pred.ids, matches):
        matched = dict(pairs)
        named.append(np.array([base + matched[j] if j in matched else -1 - int(p) for j, p in enumerate(ids)],
                              np.int64))
        names = np.array([base + follows[int(p)] if int(p) in follows else int(p) for p in ids], np.int64)
        for name in {int(n) for n in names if (names == n).sum() > 1}:
            shared = np.flatnonzero(names == name)
            keep = [j for j in shared if matched.get(int(j)) == name - base] or [shared[0]]
            for j in shared:
                if j != keep[0]:
                    names[j] = int(ids[j])
        relinked.append(names)
    out = {}
    for key, ids in (("detections", named), ("tracks", relinked)):
        s = score_tracks(TrackFrames(ids, pred.keypoints), truth, match)
        out[key] = {k: s[k] for k in ("IDF1", "ID_switches", "switches_per_1000_person_frames")}
    return out


def score_counts(lines: list[dict], counts: dict) -> dict:
    """Crossings per line and direction, and per-frame occupancy, of the stream vs the truth (counts.json)."""
    pred = {name: {"in": 0, "out": 0} for name in counts["lines"]}
    for line in lines:
        for e in line.get("events", []):
            if e.get("type") == "cross" and e.get("line") in pred:
                pred[e["line"]][e["direction"]] += 1
    out: dict = {"crossings": {}, "occupancy": {}}
    for name, true in counts["lines"].items():
        for d in ("in", "out"):
            err = abs(pred[name][d] - true[d]) / max(true[d], 1)
            out["crossings"][f"{name}_{d}"] = {"true": true[d], "predicted": pred[name][d], "error": round(err, 4)}
    names = counts["zone_names"]
    if names:
        true_occ = np.asarray(counts["occupancy"], np.float64).reshape(-1, len(names))
        pred_occ = np.array([[line.get("occupancy", {}).get(n, 0) for n in names] for line in lines], np.float64)
        if len(pred_occ) != len(true_occ):
            raise DataError(f"the tracks have {len(pred_occ)} frames, the counts {len(true_occ)}")
        for k, n in enumerate(names):
            out["occupancy"][n] = {"exact": round(float((pred_occ[:, k] == true_occ[:, k]).mean()), 4),
                                   "mean_abs_error": round(float(np.abs(pred_occ[:, k] - true_occ[:, k]).mean()), 4)}
    return out


def score_crossing_events(lines: list[dict], counts: dict) -> dict:
    """Each crossing of the stream paired with a true one (counts.json's ``crossings``): same line
    and direction, at most CROSS_FRAMES frames and CENTRE_PX px on the line apart, one to one
    (SciPy's assignment on the frame difference). Totals hide a miss that an extra crossing
    cancels; this does not. Returns matched, missed (true, unpaired) and extra (predicted,
    unpaired), and how many of the missed and extra crossed within the tracker's ``edge`` (px) of
    the image border."""
    from scipy.optimize import linear_sum_assignment

    from toppose.runtime.track_border import border_distance
    from toppose.runtime.tracking import TrackerConfig

    pred = [e | {"frame": e.get("frame", line.get("index", i))}
            for i, line in enumerate(lines) for e in line.get("events", []) if e.get("type") == "cross"]
    for e in pred:
        if "xy" not in e:
            raise DataError(f"the cross event of frame {e['frame']} has no 'xy' (an older toppose-stream's output: "
                            "run it again)")
    w, h = counts["image_size"]
    edge = TrackerConfig().edge

    def at_edge(events: list[dict]) -> int:
        return int((border_distance([e["xy"] for e in events], (h, w)) < edge).sum())

    out = {"matched": 0, "missed": 0, "extra": 0, "missed_at_edge": 0, "extra_at_edge": 0,
           "frames": CROSS_FRAMES, "px": CENTRE_PX, "edge_px": edge}
    for key in sorted({(e["line"], e["direction"]) for e in counts["crossings"] + pred}):
        t = [e for e in counts["crossings"] if (e["line"], e["direction"]) == key]
        p = [e for e in pred if (e["line"], e["direction"]) == key]
        cost = np.full((len(t), len(p)), _BIG)
        for a, te in enumerate(t):
            for b, pe in enumerate(p):
                df = abs(te["frame"] - pe["frame"])
                if df <= CROSS_FRAMES and np.hypot(te["xy"][0] - pe["xy"][0], te["xy"][1] - pe["xy"][1]) <= CENTRE_PX:
                    cost[a, b] = df
        rows, cols = linear_sum_assignment(cost) if cost.size else (np.zeros(0, int), np.zeros(0, int))
        ok = cost[rows, cols] < _BIG
        paired_t, paired_p = set(rows[ok].tolist()), set(cols[ok].tolist())
        missed = [e for a, e in enumerate(t) if a not in paired_t]
        extra = [e for b, e in enumerate(p) if b not in paired_p]
        out["matched"] += int(ok.sum())
        out["missed"] += len(missed)
        out["extra"] += len(extra)
        out["missed_at_edge"] += at_edge(missed)
        out["extra_at_edge"] += at_edge(extra)
    return out


def crossing_totals(crossings: dict) -> dict:
    """``score_counts``' crossings, every line and direction together: true, predicted, abs_error."""
    return {"true": sum(c["true"] for c in crossings.values()),
            "predicted": sum(c["predicted"] for c in crossings.values()),
            "abs_error": sum(abs(c["predicted"] - c["true"]) for c in crossings.values())}


def table(result: dict) -> str:
    t = result["tracking"]
    rows = [f"HOTA {t['HOTA']:.3f}  IDF1 {t['IDF1']:.3f}  MOTA {t['MOTA']:.3f}  ID switches {t['ID_switches']} "
            f"({t['switches_per_1000_person_frames']} per 1000 person-frames)  frames {t['frames']}  "
            f"true ids {t['true_ids']}  predicted ids {t['predicted_ids']}  (match: {t['match']})"]
    for name, c in result.get("counts", {}).get("crossings", {}).items():
        rows.append(f"crossings {name}: true {c['true']}, predicted {c['predicted']} (error {100 * c['error']:.1f} %)")
    if "events" in result.get("counts", {}):
        e = result["counts"]["events"]
        rows.append(f"crossing events: {e['matched']} paired with true ones, {e['missed']} missed "
                    f"({e['missed_at_edge']} within {e['edge_px']:g} px of the image border), {e['extra']} extra "
                    f"({e['extra_at_edge']} there); paired: same line and direction, at most {e['frames']} frames "
                    f"and {e['px']:g} px apart")
    for key, what in (("detections", "each matched person named right"), ("tracks", "each track relinked right")):
        c = result.get("identity_ceilings", {}).get(key)
        if c:
            rows.append(f"identity ceiling, {what}: IDF1 {c['IDF1']:.3f}, ID switches {c['ID_switches']}")
    for name, o in result.get("counts", {}).get("occupancy", {}).items():
        rows.append(f"occupancy {name}: exact in {100 * o['exact']:.1f} % of frames, mean |error| {o['mean_abs_error']}")
    return "\n".join(rows)


def evaluate_tracks(tracks: str | Path, data: str | Path, match: str = "centre") -> dict:
    """``toppose-eval --tracks PRED.jsonl --data SEQ``: tracking scores, and counting when SEQ has counts.json."""
    from toppose.synth.sequence import COUNTS

    pred, lines = load_tracks(tracks)
    truth = load_truth(data)
    if len(pred.ids) != len(truth.ids):
        raise DataError(f"{tracks}: {len(pred.ids)} frames, but the sequence {data} has {len(truth.ids)}")
    counts_path = Path(data) / COUNTS
    counts = load_counts(counts_path, len(truth.ids)) if counts_path.exists() else None
    result = {"tracking": score_tracks(pred, truth, match), "identity_ceilings": identity_ceilings(pred, truth, match)}
    if counts is not None:
        try:
            result["counts"] = score_counts(lines, counts)
            if "crossings" in counts:   # counts.json of sequences written before the events were
                result["counts"]["events"] = score_crossing_events(lines, counts)
        except DataError as e:   # the tracks' events (the counts were checked)
            raise DataError(f"{tracks}: {e}") from None
    return result
