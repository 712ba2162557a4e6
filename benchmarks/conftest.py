"""Shared fixtures: the results file, the machine description, held-out synthetic sets."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pytest

from toppose.io import write_json

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
ROOT = HERE.parent


def machine() -> dict:
    import onnxruntime
    import torch
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "date": time.strftime("%Y-%m-%d")}


@pytest.fixture(scope="session")
def results(request):
    # A partial run (some benchmark files) replaces only the sections it measures and keeps the full run's machine.
    full = {i.path.name for i in request.session.items} >= {p.name for p in HERE.glob("test_bench_*.py")}
    data: dict = {"machine": machine()} if full or not RESULTS.is_file() else json.loads(RESULTS.read_text())
    yield data
    write_json(RESULTS, data, indent=1)


def median_ms(fn, rounds: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return float(np.median(times))


@pytest.fixture(scope="session")
def heldout(tmp_path_factory):
    """Held-out synthetic top-view sets: people fully in frame, and a calibration set."""
    from toppose.synth.writers import write_training
    root = tmp_path_factory.mktemp("bench_data")
    write_training(root / "top_full", "top", 100, seed=301, people=(1, 4), fully_in_view=True, workers=2)
    write_training(root / "calib", "top", 64, seed=401, people=(1, 4), workers=2)
    return root


@pytest.fixture(scope="session")
def exported(heldout, tmp_path_factory):
    """The bundled checkpoint exported as fp32, fp16 and int8 (calibrated on a separate set)."""
    from toppose.export.onnx_export import ExportOptions
    from toppose.export.pipeline import run_export
    out = tmp_path_factory.mktemp("bench_models") / "lite.onnx"
    run_export(ROOT / "models" / "toppose-lite.pth", out, ExportOptions(), fp16=True,
               int8_calibration=heldout / "calib", calibration_frames_count=64, verify=False, echo=lambda *_: None)
    return {"fp32": out, "fp16": out.with_name("lite.fp16.onnx"), "int8": out.with_name("lite.int8.onnx")}


def record(results: dict, section: str, key: str, value) -> None:
    results.setdefault(section, {})[key] = value
    print(f"{section}.{key} = {value}")
