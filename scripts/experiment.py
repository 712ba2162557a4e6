#!/usr/bin/env python3
"""The write-up's experiment in miniature, on synthetic depth data.

1. Pretrain `lite` on side-view scenes only (or start from --init weights); measure AP on
   top-view and side-view test sets.
2. Fine-tune that model on a top + side mix with several freeze presets (and, with
   --top-only, once on top-view data alone, to show forgetting); measure again.

Writes ROOT/experiment.json and prints a Markdown table. Folders expected under --data:
side_train, top_train, test_top_full, test_top_any, test_side (see scripts/gpu_train.sh).
Usage: python scripts/experiment.py --data DATA --out RUNS [--pretrain-min 1] [--finetune-min 0.5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from toppose.io import write_json
from toppose.train.config import TrainConfig
from toppose.train.loop import train
from toppose.train.predict import evaluate_folder, torch_infer
from toppose.weights import load_weights

TESTS = ("test_top_full", "test_top_any", "test_side")


def evaluate(weights: Path, data: Path, limit: int, device: str, input_hw) -> dict:
    loaded = load_weights(weights)
    model = loaded.model.to(device)
    return {t: round(evaluate_folder(data / t, torch_infer(model, device), loaded.spec, limit=limit,
                                     input_hw=input_hw)[0].stats["AP"], 4) for t in TESTS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pretrain-min", type=float, default=1.0)
    ap.add_argument("--finetune-min", type=float, default=0.5)
    ap.add_argument("--presets", default="all,stages,late-stages")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epoch-size", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--amp", default="none")
    ap.add_argument("--eval-images", type=int, default=150)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--input-size", default="240x320", help="HxW training and evaluation input")
    ap.add_argument("--init", type=Path, help="start from these weights instead of a side-view pretraining")
    ap.add_argument("--top-only", action="store_true", help="add a fine-tuning run on top-view data alone")
    ap.add_argument("--finetune-lr", type=float, default=1e-3)
    ap.add_argument("--results", type=Path, help="also write the results here (benchmarks/results_experiment.json "
                    "is what the README renders)")
    args = ap.parse_args()
    device = "cuda" if args.device == "auto" and __import__("torch").cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    common = dict(arch="lite", input_size=hw, batch_size=args.batch_size, epoch_size=args.epoch_size, workers=args.workers,
                  amp=args.amp, optimizer="adamw", lr=1.5e-3, weight_decay=1e-4, device=device, channels_last=device == "cuda")
    rows = []
    t0 = time.time()
    if args.init:
        start, label = args.init, f"initial ({args.init.name})"
    else:
        start, label = args.out / "pretrain_side" / "last.pth", "side-view pretrain"
        train(TrainConfig(data=((str(args.data / "side_train"), 1.0),), out=str(start.parent), epochs=100,
                          time_limit_min=args.pretrain_min, **common))
    rows.append({"model": label, "preset": "-", **evaluate(start, args.data, args.eval_images, device, hw)})
    print(rows[-1], flush=True)
    mix = ((str(args.data / "top_train"), 0.7), (str(args.data / "side_train"), 0.3))
    runs = [(p, mix, "fine-tuned top 0.7 + side 0.3") for p in args.presets.split(",")]
    if args.top_only:
        runs.append(("all", ((str(args.data / "top_train"), 1.0),), "fine-tuned top only"))
    for preset, data, label in runs:
        run = args.out / f"finetune_{preset}_{len(data)}"
        train(TrainConfig(data=data, out=str(run), init=str(start), freeze=preset, epochs=100,
                          time_limit_min=args.finetune_min, **{**common, "lr": args.finetune_lr}))
        rows.append({"model": label, "preset": preset, **evaluate(run / "last.pth", args.data, args.eval_images, device, hw)})
        print(rows[-1], flush=True)
    result = {"rows": rows, "wall_s": round(time.time() - t0, 1), "device": device, "input_size": list(hw),
              "pretrain_min": args.pretrain_min, "finetune_min": args.finetune_min, "date": time.strftime("%Y-%m-%d"),
              "command": "python scripts/experiment.py " + " ".join(sys.argv[1:])}
    for path in [args.out / "experiment.json"] + ([args.results] if args.results else []):
        write_json(path, result, indent=1)
    print("| model | freeze | AP top (fully in frame) | AP top (anywhere) | AP side |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['preset']} | {r['test_top_full']:.3f} | {r['test_top_any']:.3f} | {r['test_side']:.3f} |")


if __name__ == "__main__":
    main()
