#!/usr/bin/env python3
"""What keypoints alone can tell at the image border: when a person's keypoints all leave the
frame, and keypoints appear close by soon after, how often is it the same person coming back
(the truth keeps their id: some of their body stayed in view) and how often someone else (a
newcomer, or the same person after leaving the view entirely: a new id)?

A tracker fed only keypoints sees the two cases alike, so it must lose one of them; both count
against the tracker's ceiling on the synthetic sequences (issue 15: IDF1 with true poses). For
each sequence and each (frames, px) window: exits (the last frame of a run of frames in which a
person shows at least one labelled keypoint, before the sequence ends) and whether a run of any
person starts within the window (later by at most that many frames, its first keypoints within
that many px of the exit's last ones): ``same`` (only the person who left), ``other`` (only
someone else), ``both``, ``none``.
Usage: python scripts/track_returns.py SEQ [SEQ ...] --out F.json   (SEQ: ``toppose-data synth --sequence`` folders)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from toppose.data.format import DataError
from toppose.io import write_json
from toppose.track_eval import load_truth

WINDOWS = [(5, 40), (10, 20), (10, 40), (10, 80), (20, 40)]   # (frames, px)


def runs(ids: list[np.ndarray], keypoints: list[np.ndarray]) -> tuple[list, list]:
    """Per sequence: starts and exits of each person's runs of frames with a labelled keypoint in
    view, as (frame, track id, (n, 2) keypoints px); exits on the last frame are left out."""
    seen: dict[int, list] = {}
    for f, (fid, fkp) in enumerate(zip(ids, keypoints)):
        for tid, kp in zip(fid.tolist(), fkp):
            shown = kp[kp[:, 2] > 0, :2]
            if len(shown):
                seen.setdefault(tid, []).append((f, shown))
    starts, exits = [], []
    for tid, frames in seen.items():
        for i, (f, kp) in enumerate(frames):
            if i == 0 or frames[i - 1][0] != f - 1:
                starts.append((f, tid, kp))
            if (i == len(frames) - 1 or frames[i + 1][0] != f + 1) and f < len(ids) - 1:
                exits.append((f, tid, kp))
    return starts, exits


def classify(starts: list, exits: list, frames: int, px: float) -> dict[str, int]:
    out = {"same": 0, "other": 0, "both": 0, "none": 0}
    for f0, tid, kp0 in exits:
        who = set()
        for f1, tid1, kp1 in starts:
            if f0 < f1 <= f0 + frames and np.sqrt(((kp0[:, None] - kp1[None]) ** 2).sum(-1)).min() <= px:
                who.add("same" if tid1 == tid else "other")
        out["both" if len(who) == 2 else who.pop() if who else "none"] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sequences", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--force", action="store_true", help="replace --out")
    args = ap.parse_args(argv)
    if args.out.exists() and not args.force:
        print(f"{args.out}: exists (use --force to replace it)", file=sys.stderr)
        return 2
    per, total = {}, {f"{w}_frames_{r}_px": {"same": 0, "other": 0, "both": 0, "none": 0} for w, r in WINDOWS}
    for seq in args.sequences:
        try:
            truth = load_truth(seq)
        except DataError as e:
            print(e, file=sys.stderr)
            return 2
        starts, exits = runs(truth.ids, truth.keypoints)
        per[seq.name] = {}
        for w, r in WINDOWS:
            key = f"{w}_frames_{r}_px"
            per[seq.name][key] = c = classify(starts, exits, w, r)
            for k, v in c.items():
                total[key][k] += v
    write_json(args.out, {"sequences": [s.name for s in args.sequences], "windows": total, "per_sequence": per},
               indent=1)
    for key, c in total.items():
        print(key, c)
    return 0


if __name__ == "__main__":
    sys.exit(main())
