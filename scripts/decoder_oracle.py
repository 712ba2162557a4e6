#!/usr/bin/env python3
"""Encode -> decode -> evaluate oracle of the three decoders on 2-D synthetic scenes.

Prints pycocotools AP for clean maps (1-5 people), noisy maps with a missing keypoint channel,
and crowds of 20 people, at 240x320. Usage: python scripts/decoder_oracle.py [--seed 11]
"""

from __future__ import annotations

import argparse

import numpy as np

from toppose.codec.decoder import METHODS, PoseDecoder
from toppose.codec.encoder import encode
from toppose.evaluation import coco_stats
from toppose.synth.flat import as_dataset, random_people

HW = (240, 320)


def noisy(paf, heat, rng):
    """Gaussian noise on every map and one keypoint channel wiped out (a missing part)."""
    heat = heat + rng.normal(0, 0.03, heat.shape).astype(np.float32)
    heat[rng.integers(0, 14)] *= 0
    return paf + rng.normal(0, 0.05, paf.shape).astype(np.float32), heat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    scenes = [random_people(rng, int(rng.integers(1, 6)), HW) for _ in range(30)]
    crowd = [random_people(rng, 20, HW, (30.0, 50.0)) for _ in range(10)]
    for name, sc, corrupt in (("clean, 1-5 people", scenes, False), ("noisy + missing part", scenes, True),
                              ("crowd of 20", crowd, False)):
        row = {}
        for method in METHODS[::-1]:
            decoder, noise_rng, preds = PoseDecoder(method=method), np.random.default_rng(3), {}
            for i, people in enumerate(sc):
                paf, heat, _ = encode(people, HW)
                if corrupt:
                    paf, heat = noisy(paf, heat, noise_rng)
                preds[i + 1] = decoder(paf, heat)
            row[method] = round(coco_stats(as_dataset(sc, HW), preds)["AP"], 4)
        print(f"{name:22s} {row}")


if __name__ == "__main__":
    main()
