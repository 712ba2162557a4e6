"""The export command's steps: load, export, variants, verify."""

from __future__ import annotations

from pathlib import Path

from toppose.data.format import load_dataset, read_image
from toppose.export.onnx_export import ExportError, ExportOptions, export_onnx, to_fp16, to_int8
from toppose.export.verify import ParityReport, check_parity, parity_inputs
from toppose.preprocess import prepare
from toppose.weights import load_weights


def variant_path(output: Path, tag: str) -> Path:
    return output.with_name(f"{output.stem}.{tag}.onnx")


def calibration_frames(folder: Path, spec, hw: tuple[int, int], count: int) -> list:
    dataset = load_dataset(folder)
    step = max(1, len(dataset["images"]) // count)
    return [prepare(read_image(folder, im), spec, hw)[0] for im in dataset["images"][::step][:count]]


def run_export(weights: Path, output: Path, options: ExportOptions, arch=None, preprocess=None, fp16=False,
               int8_calibration: Path | None = None, calibration_frames_count: int = 32,
               calibration_method: str = "percentile", quantize_heads: bool = False, force=False,
               verify=True, echo=print) -> list[ParityReport]:
    """Export ``weights`` to ``output`` (+ .fp16/.int8 variants); returns the parity reports."""
    count = calibration_frames_count
    targets = [output] + ([variant_path(output, "fp16")] if fp16 else []) + ([variant_path(output, "int8")] if int8_calibration else [])
    for t in targets:
        if t.exists() and not force:
            raise ExportError(f"{t}: exists (use --force to overwrite)")
        if not t.parent.exists():
            raise ExportError(f"{t.parent}: output folder does not exist")
    loaded = load_weights(weights, arch=arch, preprocess=preprocess)
    provenance = {**loaded.provenance, "layout": loaded.layout, "weights": Path(weights).name}
    export_onnx(loaded.model, loaded.spec, provenance, output, options)
    echo(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, {loaded.spec.arch}, {loaded.spec.preprocess}, "
         f"{loaded.spec.encoding.describe()})")
    if fp16:
        to_fp16(output, targets[1])
        echo(f"wrote {targets[1]}")
    if int8_calibration:
        frames = calibration_frames(int8_calibration, loaded.spec, (options.height, options.width), count)
        to_int8(output, targets[-1], frames, calibration_method, keep_heads=not quantize_heads)
        echo(f"wrote {targets[-1]} (calibrated on {len(frames)} frames, {calibration_method})")
    reports = []
    if verify:
        inputs = parity_inputs(loaded.spec, (options.height, options.width))
        for path, precision in zip(targets, ["fp32"] + (["fp16"] if fp16 else []) + (["int8"] if int8_calibration else [])):
            report = check_parity(loaded.model, loaded.spec, path, precision, inputs)
            echo(report.summary())
            reports.append(report)
    return reports
