"""``toppose-eval``: pycocotools AP/AR and a per-joint table, for PyTorch weights or ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.cli import fail
from toppose.extras import require_extra

app = typer.Typer(add_completion=False, help="Evaluate a model on a training-format folder.")


@app.command()
def main(data: Annotated[Path, typer.Option(help="training-format folder with ground truth")],
         weights: Annotated[Optional[Path], typer.Option(help="PyTorch weights or checkpoint")] = None,
         model: Annotated[Optional[Path], typer.Option(help="exported ONNX model")] = None,
         tta: Annotated[bool, typer.Option(help="scales 0.75/1/1.25 + flip")] = False,
         oracle: Annotated[bool, typer.Option(help="decode ground-truth maps: the decoder's ceiling")] = False,
         skeleton: Annotated[str, typer.Option(help="skeleton for --oracle (openpose18, topview23)")] = "openpose18",
         limit: Annotated[Optional[int], typer.Option(help="first N images only")] = None,
         min_keypoints: Annotated[int, typer.Option(
             help="also report AP ignoring ground truth with fewer labelled keypoints (beside the standard figure)")] = 0,
         out: Annotated[Optional[Path], typer.Option(help="write metrics and detections as JSON")] = None,
         tracks: Annotated[Optional[Path], typer.Option(help="toppose-stream --track --json output: score tracking")] = None,
         match: Annotated[str, typer.Option(help="with --tracks: centre (body centres within 40 px) or oks")] = "centre") -> None:
    """Decode with the shared decoder, convert to COCO-17, print AP/AR and per-joint accuracy.

    With --tracks: HOTA, IDF1, MOTA, ID switches and counting against a --sequence folder."""
    if tracks is not None:
        _tracks(tracks, data, out, match)
        return
    require_extra("train", "toppose-eval --weights", *(() if weights else ("pycocotools",)))
    from toppose.data.format import DataError
    from toppose.io import write_json
    from toppose.train.predict import evaluate_folder, torch_infer
    from toppose.weights import WeightsError, load_weights

    if min_keypoints < 0:
        fail(f"--min-keypoints must be >= 0, got {min_keypoints}")
    if oracle:
        from toppose.model_spec import ModelSpec
        from toppose.skeleton import get_skeleton
        from toppose.train.predict import oracle_folder
        try:
            result = oracle_folder(data, ModelSpec(arch="lite", skeleton=get_skeleton(skeleton)), limit,
                                   min_keypoints)
        except (DataError, ValueError) as e:
            fail(str(e))
        typer.echo(result.table())
        if out is not None:
            write_json(out, _metrics(result), indent=1)
        return
    if (weights is None) == (model is None):
        fail("give exactly one of --weights or --model (or --oracle)")
    try:
        if weights is not None:
            import torch

            loaded = load_weights(weights)
            device = "cuda" if torch.cuda.is_available() else "cpu"
            spec, infer, input_hw, config = loaded.spec, torch_infer(loaded.model.to(device), device), None, None
        else:
            from toppose.runtime.session import ModelError, PoseSession
            try:
                session = PoseSession(model, device="cpu")
            except ModelError as e:
                raise DataError(str(e)) from None
            spec, infer, input_hw, config = session.spec, session.infer_maps, session.input_hw, session.decoder_config
        result, predictions = evaluate_folder(data, infer, spec, limit=limit, tta=tta, input_hw=input_hw, config=config,
                                              min_keypoints=min_keypoints)
    except (DataError, WeightsError) as e:
        fail(str(e))
    typer.echo(result.table())
    if out is not None:
        write_json(out, {**_metrics(result),
                         "detections": [r for i, p in predictions.items() for r in p.coco_results(i)]}, indent=1)


def _metrics(result) -> dict:
    extra = {} if result.stats_min_keypoints is None else {
        "min_keypoints": result.min_keypoints, "stats_min_keypoints": result.stats_min_keypoints}
    return {"stats": result.stats, **extra, "per_joint": result.per_joint}


def _tracks(tracks: Path, data: Path, out: Optional[Path], match: str) -> None:
    require_extra("track-eval", "toppose-eval --tracks")
    from toppose.data.format import DataError
    from toppose.io import write_json
    from toppose.track_eval import evaluate_tracks, table

    try:
        result = evaluate_tracks(tracks, data, match)
    except DataError as e:
        fail(str(e))
    typer.echo(table(result))
    if out is not None:
        write_json(out, result, indent=1)


if __name__ == "__main__":
    app()
