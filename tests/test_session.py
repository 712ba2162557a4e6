"""Execution provider choice: quiet on machines without CUDA libraries, one line saying why."""

import subprocess
import sys

from toppose.runtime.session import provider_library_error, usable_providers

CODE = ("import logging; logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s'); "
        "from toppose.runtime.session import PoseSession; from toppose.runtime.stream import bundled_model; "
        "print(PoseSession(bundled_model(), {!r}).device)")


def _start(device: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CODE.format(device)], capture_output=True, text=True, timeout=120)


def test_choosing_providers_prints_no_onnxruntime_error_and_one_line_why():
    res = _start("auto")
    assert res.returncode == 0, res.stderr[-1500:]
    assert "onnxruntime:Default" not in res.stderr and "Failed to load library" not in res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("INFO onnxruntime") and "toppose-lite.onnx" in lines[0]
    why = provider_library_error("CUDAExecutionProvider")
    if res.stdout.strip() == "CPUExecutionProvider" and why is not None:  # a machine without CUDA libraries
        assert f"on CPUExecutionProvider (CUDAExecutionProvider unusable: {why[:40]}" in lines[0]


def test_unusable_providers_are_never_requested():
    usable, why = usable_providers()
    assert "CPUExecutionProvider" in usable and provider_library_error("CPUExecutionProvider") is None
    assert not set(usable) & set(why)
    res = _start("cpu")
    assert res.returncode == 0 and res.stderr.strip().endswith("(requested CPUExecutionProvider)")
