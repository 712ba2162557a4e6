"""The session: execution provider choice (quiet on machines without CUDA libraries, one line saying
why) and reading a model file's description."""

import subprocess
import sys

import pytest

from toppose.codec.config import DecoderConfig
from toppose.export.onnx_export import ExportError, read_metadata
from toppose.runtime.session import ModelError, PoseSession, provider_library_error, usable_providers

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


def test_the_session_reads_spec_decoder_settings_and_input_size_from_the_file(with_metadata):
    path = with_metadata(lambda d: d["decoder"].update(min_parts=6, peak_threshold=0.2))
    session = PoseSession(path, "cpu")
    assert session.decoder_config == DecoderConfig(min_parts=6, peak_threshold=0.2)
    assert session.input_hw == (240, 320) and session.spec.encoding.kind == "depth"
    assert session.metadata.precision == "int8"


@pytest.mark.parametrize("edit, message", [
    (None, "not a toppose model (no 'toppose' metadata"),
    (lambda d: d["spec"]["encoding"].update(gamma=2.2), "invalid toppose metadata (unknown key 'gamma' in encoding"),
    (lambda d: d.pop("input"), "invalid toppose metadata (metadata lacks the key 'input')"),
    (lambda d: d["decoder"].update(samples=1), "invalid toppose metadata (samples must be at least 2)"),
])
def test_session_and_export_refuse_the_same_files_with_the_same_line(with_metadata, edit, message):
    path = with_metadata(edit)
    with pytest.raises(ModelError) as session_error:
        PoseSession(path, "cpu")
    with pytest.raises(ExportError) as export_error:
        read_metadata(path)
    assert str(session_error.value) == str(export_error.value) and str(export_error.value).startswith(f"{path}: ")
    assert message in str(session_error.value) and "\n" not in str(session_error.value)


def test_a_file_that_is_not_onnx(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelError, match="bad.onnx: not a loadable ONNX model"):
        PoseSession(tmp_path / "bad.onnx", "cpu")
