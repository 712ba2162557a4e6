#!/usr/bin/env python3
"""Try tracker settings on sequences without running the network for every try (issue 15).

    python scripts/track_tune.py cache SEQ [SEQ ...] --cache DIR [--force]
        the bundled model's people in every frame of each sequence (SEQ: a ``toppose-data synth
        --sequence`` folder), decoded as a stream with --zones decodes them (no piece merging),
        saved as DIR/<SEQ name>.npz (an existing one is kept without --force)
    python scripts/track_tune.py score SEQ [SEQ ...] [--cache DIR] [--zones Z] [KEY=VALUE ...]
        the tracker (``TrackerConfig`` fields overridden by KEY=VALUE) on the cached people (with
        --cache) or on the true people, shuffled (the benchmark's ceiling): IDF1, ID switches, and
        with --zones (the sequences' counts.json written for it) the line-crossing error, and the
        crossings missed and extra one by one where counts.json lists them

Use the tracker's tuning seeds (3, 11-16, 31-38), never the benchmark's (1001-1003).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from toppose.codec.poses import Poses
from toppose.data.format import DataError
from toppose.runtime.track_border import parts
from toppose.runtime.tracking import TrackerConfig

IMAGE_HW = (240, 320)   # the synthetic sequences' frames
FPS = 15.0


def cache(sequences: list[Path], out: Path, force: bool = False) -> None:
    from toppose.atomic import atomic_path
    from toppose.runtime.estimator import PoseEstimator
    from toppose.runtime.session import PoseSession
    from toppose.runtime.sources import ImageSource
    from toppose.runtime.stream import StreamConfig, bundled_model, decoder_settings

    names = [s.name for s in sequences]
    if len(set(names)) < len(names):
        raise ValueError(f"cache: two sequences share a folder name ({', '.join(sorted(names))}): one cache file each")
    kept = [out / f"{n}.npz" for n in names if (out / f"{n}.npz").exists()]
    if kept and not force:
        raise ValueError(f"{kept[0]}: exists (use --force to replace it)")
    session = PoseSession(bundled_model(), "cpu")
    estimator = PoseEstimator(session, "sparse", decoder_settings(session, StreamConfig(track=True)))
    out.mkdir(parents=True, exist_ok=True)
    for seq in sequences:
        kps, scores, counts = [], [], []
        for captured in ImageSource(str(seq / "images")):
            poses, _ = estimator(captured.frame)
            kps.append(poses.keypoints)
            scores.append(poses.scores)
            counts.append(len(poses.scores))
        with atomic_path(out / f"{seq.name}.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, keypoints=np.concatenate(kps), scores=np.concatenate(scores), counts=np.array(counts))
        print(seq.name, sum(counts), "people in", len(counts), "frames", flush=True)


def cached_frames(path: Path):
    """The people of each frame of a cache file, as the decoder gave them."""
    data = np.load(path)
    for kp, sc in zip(np.split(data["keypoints"], np.cumsum(data["counts"])[:-1]),
                      np.split(data["scores"], np.cumsum(data["counts"])[:-1])):
        yield Poses(kp.astype(np.float32), sc.astype(np.float32), parts(kp).astype(np.int32))


def score(seq: Path, config: TrackerConfig, cache_dir: Path | None, zones: Path | None,
          rng: np.random.Generator) -> dict:
    from toppose.runtime.analytics import Analytics
    from toppose.track_eval import (crossing_totals, load_truth, score_counts, score_crossing_events, score_tracks,
                                    shuffled_people, track_people)

    truth = load_truth(seq)
    frames = cached_frames(cache_dir / f"{seq.name}.npz") if cache_dir else shuffled_people(truth, rng)
    analytics = Analytics(True, zones, tracker=config)
    pred, lines = track_people(analytics, frames, IMAGE_HW, FPS)
    out = score_tracks(pred, truth)
    counts = seq / "counts.json"
    if zones is not None and counts.is_file():
        true = json.loads(counts.read_text())
        wanted = sorted(analytics.counter.zones.line_names)
        if sorted(true["lines"]) != wanted:
            raise ValueError(f"{counts}: lines {sorted(true['lines'])}, the zones file's {wanted}"
                             " (write the sequence with --zones of that file)")
        totals = crossing_totals(score_counts(lines, true)["crossings"])
        out["crossings_true"], out["crossings_abs_error"] = totals["true"], totals["abs_error"]
        if "crossings" in true:
            out["events"] = score_crossing_events(lines, true)
    return out


def overrides(pairs: list[str]) -> TrackerConfig:
    """KEY=VALUE pairs -> a TrackerConfig; a bad pair raises ValueError naming it."""
    fields = {f.name: f.type for f in dataclasses.fields(TrackerConfig)}
    kw = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in fields:
            raise ValueError(f"{pair}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        kind = type(getattr(TrackerConfig(), key))
        try:
            kw[key] = kind(value)
        except ValueError:
            raise ValueError(f"{pair}: {key} must be of type {kind.__name__}") from None
    return TrackerConfig(**kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["cache", "score"])
    ap.add_argument("sequences", nargs="+", help="sequence folders; with score, then KEY=VALUE overrides")
    ap.add_argument("--cache", type=Path, help="folder of cached people (cache: written; score: read)")
    ap.add_argument("--zones", type=Path, help="score: the zones file the sequences' counts.json were written for")
    ap.add_argument("--force", action="store_true", help="cache: replace existing cache files")
    args = ap.parse_intermixed_args(argv)   # KEY=VALUE may follow --cache DIR
    seqs = [Path(s) for s in args.sequences if "=" not in s]
    try:
        config = overrides([s for s in args.sequences if "=" in s])
        for s in seqs:
            if not (s / "annotations.json").is_file():
                raise ValueError(f"{s}: not a sequence folder (no annotations.json)")
        if args.command == "cache":
            if args.cache is None:
                raise ValueError("cache: --cache DIR is required")
            cache(seqs, args.cache, args.force)
            return 0
        rng = np.random.default_rng(0)
        rows = [score(s, config, args.cache, args.zones, rng) for s in seqs]
    except (ValueError, DataError, FileNotFoundError) as e:
        print(e, file=sys.stderr)
        return 2
    idf1 = [r["IDF1"] for r in rows]
    print(" ".join(f"{s.name}:{r['IDF1']:.4f}" for s, r in zip(seqs, rows)))
    line = f"IDF1 mean {np.mean(idf1):.4f} min {min(idf1):.4f}, ID switches {sum(r['ID_switches'] for r in rows)}"
    if all("crossings_true" in r for r in rows):
        err, true = sum(r["crossings_abs_error"] for r in rows), sum(r["crossings_true"] for r in rows)
        line += f", crossing error {err}/{true} = {err / max(true, 1):.3f}"
    if all("events" in r for r in rows):
        e = {k: sum(r["events"][k] for r in rows) for k in ("missed", "missed_at_edge", "extra", "extra_at_edge")}
        line += (f"; crossings missed {e['missed']} ({e['missed_at_edge']} at the edge), "
                 f"extra {e['extra']} ({e['extra_at_edge']} at the edge)")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
