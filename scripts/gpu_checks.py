#!/usr/bin/env python3
"""GPU checks for a lent device: AMP training steps of the full network and inference throughput.

Prints JSON (and with ``--out FILE`` writes it there, e.g. benchmarks/results_gpu.json, which the
README renders): images/s and peak memory of bf16 AMP training steps (openpose, 368x368, batch 16),
PyTorch fp16 inference throughput of both networks at 240x320 in batches of 1, 4 (four cameras'
newest frames in one call) and 32, and onnxruntime's providers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from toppose.io import write_json
from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.skeleton import OPENPOSE18
from toppose.train.loop import stage_losses


def train_steps(arch: str, hw, batch: int, steps: int = 20) -> dict:
    model = build_network(ModelSpec(arch=arch)).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, 3, *hw, device="cuda").contiguous(memory_format=torch.channels_last)
    paf_t = torch.zeros(batch, OPENPOSE18.num_pafs, hw[0] // 8, hw[1] // 8, device="cuda")
    heat_t = torch.zeros(batch, OPENPOSE18.num_heatmaps, hw[0] // 8, hw[1] // 8, device="cuda")
    mask = torch.ones(batch, hw[0] // 8, hw[1] // 8, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 5):
        if i == 5:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, _, stages = model(x)
        loss = sum(stage_losses(stages, paf_t, heat_t, mask))
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"arch": arch, "input": list(hw), "batch": batch, "images_per_s": round(steps * batch / dt, 1),
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def inference(arch: str, hw, batch: int, iters: int = 30) -> dict:
    model = build_network(ModelSpec(arch=arch)).cuda().eval().half().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, *hw, device="cuda").half().contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(iters):
            model(x)
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"arch": arch, "input": list(hw), "batch": batch, "fp16_images_per_s": round(iters * batch / dt, 1),
            "latency_ms": round(1000 * dt / iters, 2)}


def main() -> None:
    import onnxruntime
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    out = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
           "onnxruntime_providers": onnxruntime.get_available_providers(),
           "train_amp_bf16": [train_steps("openpose", (368, 368), 16), train_steps("lite", (240, 320), 64)],
           "inference": [inference(a, (240, 320), b) for a in ("openpose", "lite") for b in (1, 4, 32)]}
    print(json.dumps(out, indent=1))
    if args.out:
        write_json(args.out, out, indent=1)


if __name__ == "__main__":
    main()
