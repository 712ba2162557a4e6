"""Shared fixtures: the results file, the machine description, held-out synthetic sets.

``pytest benchmarks/ --benchmark`` measures and merges what it measured into results.json,
section by section, each stamped with the machine and date it was measured on. With
pytest-benchmark's ``--benchmark-disable`` every benchmark runs its code once as a smoke
test: nothing is timed, no speed target is checked and results.json is left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
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
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "date": time.strftime("%Y-%m-%d"),
            "commit": commit.strip() or "unknown"}


def file_id(path: Path) -> dict:
    """A file as the results name it: path in the repository, size and SHA-256."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"file": str(Path(path).relative_to(ROOT)), "bytes": Path(path).stat().st_size, "sha256": digest}


def timing_enabled(config) -> bool:
    """False under pytest-benchmark's --benchmark-disable (unless --benchmark-enable overrides it)."""
    return not (config.getoption("benchmark_disable", False) and not config.getoption("benchmark_enable", False))


@pytest.fixture(scope="session")
def timing(request) -> bool:
    return timing_enabled(request.config)


def merge_results(path: Path, sections: dict, stamp: dict) -> dict:
    """Replace ``sections`` in the results file at ``path``, stamping each; other sections stay."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    legacy = old.pop("machine", None)  # files from before per-section stamps: one stamp for all
    measured = old.pop("measured", None) or {k: legacy for k in old if legacy}
    merged = {**old, **sections}
    measured.update({k: stamp for k in sections})
    return {"measured": {k: measured[k] for k in merged if k in measured}, **merged}


@pytest.fixture(scope="session")
def results(request):
    data: dict = {}
    yield data
    if data and timing_enabled(request.config):
        write_json(RESULTS, merge_results(RESULTS, data, machine()), indent=1)


def median_ms(fn, rounds: int, warmup: int = 1, timing: bool = True) -> float:
    """Median wall time of ``fn`` in ms; without ``timing``, one untimed call (returns NaN)."""
    if not timing:
        fn()
        return float("nan")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return float(np.median(times))


HELDOUT = {  # toppose-data synth recipes: the AP set and the int8 calibration set (other seeds)
    "top_full": {"view": "top", "people": [1, 4], "fully_in_view": True, "frames": 100, "seed": 301},
    "calib": {"view": "top", "people": [1, 4], "fully_in_view": False, "frames": 64, "seed": 401},
}


def bare_fps(session, inputs: list) -> float:
    """Frames per second of the session alone over preprocessed (1, 3, H, W) inputs, after one warm-up call."""
    session.infer_maps(inputs[0])
    t = time.perf_counter()
    for x in inputs:
        session.infer_maps(x)
    return len(inputs) / (time.perf_counter() - t)


@pytest.fixture(scope="session")
def heldout(tmp_path_factory):
    """Held-out synthetic top-view sets: people fully in frame, and a calibration set."""
    from toppose.synth.writers import write_training
    root = tmp_path_factory.mktemp("bench_data")
    for name, r in HELDOUT.items():
        write_training(root / name, r["view"], r["frames"], seed=r["seed"], people=tuple(r["people"]),
                       fully_in_view=r["fully_in_view"], workers=2)
    return root


@pytest.fixture(scope="session")
def exported(heldout, tmp_path_factory):
    """The bundled checkpoint exported as fp32, fp16 and int8 (calibrated on a separate set)."""
    from toppose.export.onnx_export import ExportOptions
    from toppose.export.pipeline import run_export
    out = tmp_path_factory.mktemp("bench_models") / "lite.onnx"
    run_export(ROOT / "models" / "toppose-lite.pth", out, ExportOptions(), fp16=True,
               int8_calibration=heldout / "calib", calibration_frames_count=HELDOUT["calib"]["frames"], verify=False, echo=lambda *_: None)
    return {"fp32": out, "fp16": out.with_name("lite.fp16.onnx"), "int8": out.with_name("lite.int8.onnx")}


def record(results: dict, section: str, key: str, value) -> None:
    results.setdefault(section, {})[key] = value
    print(f"{section}.{key} = {value}")
