"""``toppose-export WEIGHTS``: a self-describing ONNX model, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.errors import App, ConfigError
from toppose.extras import require_extra

app = App(help="Export weights to ONNX.")


@app.command()
def main(weights: Annotated[Path, typer.Argument(help="any known weights file or toppose checkpoint")],
         output: Annotated[Optional[Path], typer.Option("-o", "--output", help="default: WEIGHTS with .onnx")] = None,
         height: Annotated[int, typer.Option()] = 240,
         width: Annotated[int, typer.Option()] = 320,
         dynamic: Annotated[bool, typer.Option(help="dynamic height and width")] = False,
         batch: Annotated[int, typer.Option()] = 1,
         dynamic_batch: Annotated[bool, typer.Option()] = False,
         opset: Annotated[int, typer.Option()] = 17,
         fp16: Annotated[bool, typer.Option(help="also write MODEL.fp16.onnx")] = False,
         int8: Annotated[bool, typer.Option(help="also write MODEL.int8.onnx (needs --calibration)")] = False,
         calibration: Annotated[Optional[Path], typer.Option(help="training-format folder for int8 calibration")] = None,
         calibration_frames: Annotated[int, typer.Option()] = 32,
         calibration_method: Annotated[str, typer.Option(help="percentile, minmax or entropy")] = "percentile",
         quantize_heads: Annotated[bool, typer.Option(help="also quantise the output heads (less accurate)")] = False,
         arch: Annotated[Optional[str], typer.Option(help="override the detected architecture")] = None,
         preprocess: Annotated[Optional[str], typer.Option(help="override: vgg or rtpose")] = None,
         force: Annotated[bool, typer.Option(help="overwrite existing outputs")] = False,
         verify: Annotated[bool, typer.Option(help="check parity with PyTorch")] = True) -> None:
    """Export, then verify (onnx.checker, onnxruntime vs PyTorch maps and decoded poses)."""
    require_extra("train", "toppose-export")
    from toppose.export.onnx_export import ExportOptions
    from toppose.export.pipeline import run_export

    if int8 != (calibration is not None):
        raise ConfigError("--int8 needs --calibration DATA (a training-format folder)" if int8 else
                          "--calibration is only used with --int8")
    if not weights.is_file():
        raise ConfigError(f"{weights}: no such file")
    options = ExportOptions(height=height, width=width, batch=batch, dynamic=dynamic, dynamic_batch=dynamic_batch,
                            opset=opset)
    run_export(weights, output or weights.with_suffix(".onnx"), options, arch=arch, preprocess=preprocess, fp16=fp16,
               int8_calibration=calibration, calibration_frames_count=calibration_frames,
               calibration_method=calibration_method, quantize_heads=quantize_heads, force=force, verify=verify,
               echo=typer.echo)


if __name__ == "__main__":
    app()
