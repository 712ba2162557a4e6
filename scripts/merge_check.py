#!/usr/bin/env python3
"""Piece merging on and off (``DecoderConfig.merge``), per rendered set: the decoder's ceiling
(``toppose-eval --oracle``, both skeletons) and the bundled model's AP (``toppose-eval --model``),
each under the standard evaluation and with ``--min-keypoints``.

Usage: python scripts/merge_check.py DATA [DATA ...] [--min-keypoints 3] [--out F.json]
(DATA: toppose-data synth folders; the model's maps are computed once and decoded both ways)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path

from toppose.codec.config import DecoderConfig
from toppose.io import write_json
from toppose.skeleton import OPENPOSE18, TOPVIEW

MODEL = Path(__file__).parents[1] / "runtime" / "models" / "toppose-lite.onnx"


def _row(result) -> dict:
    return {"AP": round(result.stats["AP"], 4), "AP_min_keypoints": round(result.stats_min_keypoints["AP"], 4)}


def check(data: Path, min_keypoints: int, model: Path) -> dict:
    from toppose.runtime.session import PoseSession
    from toppose.train.predict import evaluate_folder, oracle_folder

    out = {}
    for skeleton in (OPENPOSE18, TOPVIEW):
        out[f"oracle_{skeleton.name}"] = {
            ("merge" if merge else "without_merge"): _row(oracle_folder(data, skeleton, min_keypoints=min_keypoints,
                                                                       config=DecoderConfig(merge=merge)))
            for merge in (False, True)}
    session, maps = PoseSession(model, device="cpu"), {}

    def infer(x):
        key = hashlib.sha1(x.tobytes()).hexdigest()
        if key not in maps:
            maps[key] = session.infer_maps(x)
        return maps[key]

    base = session.decoder_config or DecoderConfig()
    out["bundled_model"] = {("merge" if merge else "without_merge"): _row(evaluate_folder(
        data, infer, session.spec, input_hw=session.input_hw, config=dataclasses.replace(base, merge=merge),
        min_keypoints=min_keypoints)[0]) for merge in (False, True)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, nargs="+")
    ap.add_argument("--min-keypoints", type=int, default=3)
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result = {"min_keypoints": args.min_keypoints, "model": str(args.model.name),
              "sets": {d.name: check(d, args.min_keypoints, args.model) for d in args.data}}
    print(json.dumps(result, indent=1))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
