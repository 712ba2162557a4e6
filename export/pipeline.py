"""The export command's steps: load, export, variants, verify."""

from __future__ import annotations

import contextlib
from pathlib import Path

from toppose.atomic import atomic_path, check_output
from toppose.data.format import DataError, load_dataset, read_image
from toppose.export.onnx_export import (CALIBRATION_METHODS, ExportError, ExportOptions, export_onnx, to_fp16,
                                        to_int8)
from toppose.export.verify import ParityReport, check_parity, parity_inputs
from toppose.preprocess import prepare
from toppose.weights import load_weights


def variant_path(output: Path, tag: str) -> Path:
    return output.with_name(f"{output.stem}.{tag}.onnx")


def calibration_frames(folder: Path, spec, hw: tuple[int, int], count: int) -> list:
    dataset = load_dataset(folder)
    step = max(1, len(dataset["images"]) // count)
    frames = []
    for im in dataset["images"][::step][:count]:
        try:
            frames.append(prepare(read_image(folder, im), spec, hw)[0])
        except DataError:
            raise
        except ValueError as e:  # an unsupported frame
            raise DataError(f"{Path(folder) / im['file_name']}: {e}") from None
    return frames


def check_request(output: Path, options: ExportOptions, fp16: bool, int8_calibration: Path | None,
                  calibration_frames_count: int, calibration_method: str, force: bool) -> list[Path]:
    """Every option and output checked before anything is loaded or written; returns the outputs."""
    if options.batch < 1:
        raise ExportError(f"--batch must be at least 1, got {options.batch}")
    if output.suffix.lower() != ".onnx":
        raise ExportError(f"--output {output}: expected a .onnx file name")
    if int8_calibration is not None:
        if calibration_frames_count < 1:
            raise ExportError(f"--calibration-frames must be at least 1, got {calibration_frames_count}")
        if calibration_method not in CALIBRATION_METHODS:
            raise ExportError(f"--calibration-method {calibration_method!r}: expected one of "
                              f"{', '.join(CALIBRATION_METHODS)}")
        if not load_dataset(int8_calibration)["images"]:
            raise ExportError(f"--calibration {int8_calibration}: the dataset holds no images")
    targets = [output] + ([variant_path(output, "fp16")] if fp16 else []) + \
        ([variant_path(output, "int8")] if int8_calibration else [])
    for t in targets:
        check_output(t, force, "--output")
        if not t.parent.is_dir():
            raise ExportError(f"{t.parent}: output folder does not exist")
    return targets


def run_export(weights: Path, output: Path, options: ExportOptions, arch=None, preprocess=None, fp16=False,
               int8_calibration: Path | None = None, calibration_frames_count: int = 32,
               calibration_method: str = "percentile", quantize_heads: bool = False, force=False,
               verify=True, echo=print) -> list[ParityReport]:
    """Export ``weights`` to ``output`` (+ .fp16/.int8 variants); returns the parity reports.

    All outputs are written under temporary names and renamed together at the end, only when
    every step (and the parity check, with ``verify``) succeeded: a failed export leaves nothing.
    """
    targets = check_request(output, options, fp16, int8_calibration, calibration_frames_count,
                            calibration_method, force)
    loaded = load_weights(weights, arch=arch, preprocess=preprocess)
    provenance = {**loaded.provenance, "layout": loaded.layout, "weights": Path(weights).name}
    precisions = ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8_calibration else [])
    with contextlib.ExitStack() as stack:
        tmp = {p: stack.enter_context(atomic_path(t)) for p, t in zip(precisions, targets)}
        _export_variants(loaded, provenance, tmp, options, int8_calibration, calibration_frames_count,
                         calibration_method, quantize_heads)
        reports = []
        if verify:
            inputs, rendered = parity_inputs(loaded.spec, (options.height, options.width))
            reports = [check_parity(loaded.model, loaded.spec, tmp[p], p, inputs, rendered) for p in precisions]
            for report in reports:
                echo(report.summary())
            failed = [r.precision for r in reports if not r.ok]
            if failed:
                raise ExportError(f"{output}: parity check failed for {', '.join(failed)}; nothing written")
    for p, t in zip(precisions, targets):
        echo(f"wrote {t} ({t.stat().st_size / 1e6:.1f} MB, {p}, {loaded.spec.arch}, {loaded.spec.preprocess}, "
             f"{loaded.spec.encoding.describe()})")
    return reports


def _export_variants(loaded, provenance, tmp: dict, options, calibration, count, method, quantize_heads) -> None:
    """fp32 (then fp16 and int8 from it) into the temporary paths ``tmp[precision]``."""
    try:
        export_onnx(loaded.model, loaded.spec, provenance, tmp["fp32"], options)
    except (RuntimeError, TypeError, ValueError) as e:
        if isinstance(e, ExportError):
            raise
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise ExportError(f"the ONNX exporter failed (opset {options.opset}): {first}") from None
    if "fp16" in tmp:
        to_fp16(tmp["fp32"], tmp["fp16"])
    if "int8" in tmp:
        frames = calibration_frames(calibration, loaded.spec, (options.height, options.width), count)
        to_int8(tmp["fp32"], tmp["int8"], frames, method, keep_heads=not quantize_heads)
