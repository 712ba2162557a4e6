#!/usr/bin/env python3
"""Encode -> decode -> evaluate oracle of the three decoders; writes a results JSON.

pycocotools AP and people found per decoder at 240x320 on: clean encoder maps (1-5
people), noisy maps with a missing keypoint channel, crowds of 20, and border-cut maps
(1-4 people anywhere, half crossing the frame, GT-like maps from the independent renderer
tests/gt_maps.py, noise 0.02; keypoints outside the frame unlabelled), for both skeletons,
and at 368x368 for the standard one.
Usage: python scripts/decoder_oracle.py [--seed 11] [--out decoder_oracle.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from gt_maps import label_inside, person, render  # noqa: E402

from toppose.codec.decoder import METHODS, PoseDecoder  # noqa: E402
from toppose.codec.encoder import encode  # noqa: E402
from toppose.evaluation import coco_stats  # noqa: E402
from toppose.io import write_json  # noqa: E402
from toppose.skeleton import OPENPOSE18, TOPVIEW  # noqa: E402
from toppose.synth.flat import as_dataset, random_people  # noqa: E402

HW = (240, 320)


def noisy(paf, heat, rng):
    """Gaussian noise on every map and one keypoint channel wiped out (a missing part)."""
    heat = heat + rng.normal(0, 0.03, heat.shape).astype(np.float32)
    heat[rng.integers(0, 14)] *= 0
    return paf + rng.normal(0, 0.05, paf.shape).astype(np.float32), heat


def border_scenes(rng, n, hw=HW):
    """(drawn people, labelled people) per frame: 1-4 people, centres anywhere in the frame."""
    out = []
    for _ in range(n):
        drawn = np.stack([person(rng, (rng.uniform(0, hw[1]), rng.uniform(0, hw[0])), rng.uniform(90, 140))
                          for _ in range(int(rng.integers(1, 5)))])
        out.append((drawn, label_inside(drawn, hw)))
    return out


def run(method, skeleton, frames, maps, hw=HW):
    decoder, preds = PoseDecoder(skeleton, method=method), {}
    for i, (paf, heat) in enumerate(maps):
        preds[i + 1] = decoder(paf, heat)
    found = sum(len(p) for p in preds.values())
    return {"AP": round(coco_stats(as_dataset(frames, hw), preds)["AP"], 4), "people_found": found}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    scenes = [random_people(rng, int(rng.integers(1, 6)), HW) for _ in range(30)]
    crowd = [random_people(rng, 20, HW, (30.0, 50.0)) for _ in range(10)]
    border, border368 = border_scenes(rng, 40), border_scenes(rng, 40, (368, 368))
    noise_rng = np.random.default_rng(3)
    sets = {"clean, 1-5 people": (scenes, [encode(s, HW)[:2] for s in scenes]),
            "noisy + missing part": (scenes, [noisy(*encode(s, HW)[:2], noise_rng) for s in scenes]),
            "crowd of 20": (crowd, [encode(s, HW)[:2] for s in crowd])}
    results = {"seed": args.seed, "input_hw": list(HW), "sets": {}}
    for name, (frames, maps) in sets.items():
        results["sets"][name] = {"people": sum(len(f) for f in frames),
                                 **{m: run(m, OPENPOSE18, frames, maps) for m in METHODS[::-1]}}
    for skeleton in (OPENPOSE18, TOPVIEW):
        limbs = list(zip(skeleton.limbs, skeleton.paf_channels))
        maps = [render(drawn, HW, limbs, noise=0.02, rng=noise_rng) for drawn, _ in border]
        labelled = [lab for _, lab in border]
        results["sets"][f"border-cut, {skeleton.name}"] = {
            "people": sum(len(f) for f in labelled), **{m: run(m, skeleton, labelled, maps) for m in METHODS[::-1]}}
    limbs = list(zip(OPENPOSE18.limbs, OPENPOSE18.paf_channels))
    maps = [render(drawn, (368, 368), limbs, noise=0.02, rng=noise_rng) for drawn, _ in border368]
    labelled = [lab for _, lab in border368]
    results["sets"]["border-cut 368x368, openpose18"] = {
        "people": sum(len(f) for f in labelled),
        **{m: run(m, OPENPOSE18, labelled, maps, (368, 368)) for m in METHODS[::-1]}}
    for name, row in results["sets"].items():
        print(f"{name:28s} {row}")
    if args.out is not None:
        write_json(args.out, results, indent=1)


if __name__ == "__main__":
    main()
