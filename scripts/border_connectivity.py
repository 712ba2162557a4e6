#!/usr/bin/env python3
"""How many ground-truth people a bottom-up decoder can form at all: per skeleton, the share of
people with at least ``--min-keypoints`` labelled keypoints whose labelled keypoints hold a
group of at least ``min_parts`` joined through the skeleton's (non-redundant) limbs, and the
decoder ceiling (``toppose-eval --oracle``: AP standard and with ``--min-keypoints``) when the
decoder joins parts through limbs only and keeps people of 3 parts (its default) or of 2, and when
it also merges pieces of one body (``DecoderConfig.merge``, the default).

A decoder that joins parts through limbs and drops people with fewer than ``min_parts`` parts
cannot find the others, whatever its maps; this share caps its recall on the
``toppose-eval --min-keypoints`` evaluation (issue 14's decoder ceiling).
Usage: python scripts/border_connectivity.py DATA [--min-keypoints 3] [--out F.json]
(DATA: a toppose-data synth folder, e.g. ``--view top --people 1:4 --frames 150 --seed 9173``)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from toppose.codec.config import DecoderConfig
from toppose.io import write_json
from toppose.skeleton import OPENPOSE18, TOPVIEW, Skeleton


def largest_group(labelled: np.ndarray, skeleton: Skeleton) -> int:
    """labelled (K,) bool -> the size of the largest set of labelled keypoints joined by limbs."""
    parent = list(range(len(labelled)))

    def root(j: int) -> int:
        while parent[j] != j:
            j = parent[j]
        return j

    for (a, b), redundant in zip(skeleton.limbs, skeleton.redundant):
        if not redundant and labelled[a] and labelled[b]:
            parent[root(a)] = root(b)
    roots = [root(j) for j in np.flatnonzero(labelled)]
    return max((roots.count(r) for r in set(roots)), default=0)


def shares(annotations: list[dict], skeleton: Skeleton, min_keypoints: int) -> dict:
    people = [np.asarray(a["keypoints"]).reshape(-1, 3)[:, 2] > 0 for a in annotations]
    counted = [p for p in people if p.sum() >= min_keypoints]
    groups = np.array([largest_group(p, skeleton) for p in counted])
    return {"people": len(counted),
            **{f"joined_{n}_or_more": round(float((groups >= n).mean()), 4) for n in (2, 3)}}


def ceiling(data: Path, skeleton: Skeleton, min_keypoints: int) -> dict:
    """Oracle AP (standard, and ignoring truth with fewer labelled keypoints) per decoder min_parts,
    limbs only (piece merging off), and with piece merging (the default decoder)."""
    from toppose.train.predict import oracle_folder

    out = {}
    for name, config in (("min_parts_3", DecoderConfig(min_parts=3, merge=False)),
                         ("min_parts_2", DecoderConfig(min_parts=2, merge=False)),
                         ("min_parts_3_merge", DecoderConfig(min_parts=3, merge=True))):
        r = oracle_folder(data, skeleton, min_keypoints=min_keypoints, config=config)
        out[name] = {"AP": round(r.stats["AP"], 4), "AP_min_keypoints": round(r.stats_min_keypoints["AP"], 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--min-keypoints", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    annotations = json.loads((args.data / "annotations.json").read_text())["annotations"]
    result = {"data": args.data.name, "min_keypoints": args.min_keypoints,
              **{s.name: {**shares(annotations, s, args.min_keypoints),
                          "oracle": ceiling(args.data, s, args.min_keypoints)} for s in (OPENPOSE18, TOPVIEW)}}
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
