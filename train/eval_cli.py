"""``toppose-eval``: pycocotools AP/AR and a per-joint table, for PyTorch weights or ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.errors import App, ConfigError
from toppose.extras import require_extra

app = App(help="Evaluate a model on a training-format folder.")


@app.command()
def main(data: Annotated[Optional[Path], typer.Option(help="training-format folder with ground truth")] = None,
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
         match: Annotated[str, typer.Option(help="with --tracks: centre (body centres within 40 px) or oks")] = "centre",
         itop_labels: Annotated[Optional[Path], typer.Option(help="ITOP *_labels.h5: score 3-D joints (with --itop-depth)")] = None,
         itop_depth: Annotated[Optional[Path], typer.Option(help="ITOP *_depth_map.h5 of the same frames")] = None,
         lift: Annotated[Optional[Path], typer.Option(help="lifting model .npz (default: the bundled one)")] = None,
         force: Annotated[bool, typer.Option(help="replace an existing --out file")] = False) -> None:
    """Decode with the shared decoder, convert to COCO-17, print AP/AR and per-joint accuracy.

    With --tracks: HOTA, IDF1, MOTA, ID switches and counting against a --sequence folder.
    With --itop-labels/--itop-depth: ITOP's per-joint precision at 10 cm of the lifted 3-D joints,
    from the true 2-D keypoints and (with --model or --weights) from the model's."""
    if itop_labels is not None or itop_depth is not None:
        _itop(itop_labels, itop_depth, weights, model, lift, limit, out, force, tta)
        return
    if data is None:
        raise ConfigError("give --data (or --itop-labels and --itop-depth)")
    if tracks is not None:
        _tracks(tracks, data, out, match, force)
        return
    require_extra("train", "toppose-eval --weights", *(() if weights else ("pycocotools",)))
    from toppose.atomic import check_output
    from toppose.io import write_json
    from toppose.train.predict import evaluate_folder, oracle_folder

    if oracle == (weights is not None or model is not None) or (weights is not None and model is not None):
        raise ConfigError("give exactly one of --weights, --model or --oracle")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if min_keypoints < 0:
        raise ConfigError(f"--min-keypoints must be >= 0, got {min_keypoints}")
    if out is not None:
        check_output(out, force, "--out")
    _check_dataset(data)
    if oracle:
        result, predictions = oracle_folder(data, _skeleton(skeleton), limit=limit,
                                            min_keypoints=min_keypoints), {}
    else:
        spec, infer, input_hw, config = _model(weights, model)
        result, predictions = evaluate_folder(data, infer, spec, limit=limit, tta=tta, input_hw=input_hw,
                                              config=config, min_keypoints=min_keypoints)
    typer.echo(result.table())
    if out is not None:
        write_json(out, {**_metrics(result),
                         "detections": [r for i, p in predictions.items() for r in p.coco_results(i)]}, indent=1)


def _check_dataset(folder: Path) -> None:
    from toppose.data.format import DataError, load_dataset

    dataset = load_dataset(folder)
    if not dataset["images"]:
        raise DataError(f"{folder}: the dataset holds no images (nothing to evaluate)")
    if not dataset["annotations"]:
        raise DataError(f"{folder}: the dataset holds no labelled people (AP is undefined)")


def _skeleton(name: str):
    from toppose.skeleton import get_skeleton

    try:
        return get_skeleton(name)
    except (KeyError, ValueError) as e:
        raise ConfigError(f"--skeleton {name}: {e}") from None


def _model(weights: Optional[Path], model: Optional[Path]):
    """(spec, infer callable, fixed input size or None, decoder settings or None) for weights or ONNX."""
    from toppose.train.predict import torch_infer

    if weights is not None:
        import torch

        from toppose.weights import load_weights

        loaded = load_weights(weights)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        return loaded.spec, torch_infer(loaded.model.to(device), device), None, None
    from toppose.runtime.session import PoseSession

    session = PoseSession(model, device="cpu")
    return session.spec, session.infer_maps, session.input_hw, session.decoder_config


def _metrics(result) -> dict:
    extra = {} if result.stats_min_keypoints is None else {
        "min_keypoints": result.min_keypoints, "stats_min_keypoints": result.stats_min_keypoints}
    return {"stats": result.stats, **extra, "per_joint": result.per_joint}


def _itop(labels: Optional[Path], depth: Optional[Path], weights: Optional[Path], model: Optional[Path],
          lift: Optional[Path], limit: Optional[int], out: Optional[Path], force: bool, tta: bool) -> None:
    from toppose.atomic import check_output
    from toppose.codec.config import DecoderConfig
    from toppose.inference import PosePredictor
    from toppose.io import write_json
    from toppose.itop_eval import evaluate_itop, table
    from toppose.lift import LiftModel
    from toppose.runtime.space import bundled_lifter

    if labels is None or depth is None:
        raise ConfigError("--itop-labels and --itop-depth go together")
    if weights is not None and model is not None:
        raise ConfigError("give at most one of --weights or --model")
    if weights is not None:
        require_extra("train", "toppose-eval --weights")
    if tta and weights is None and model is None:
        raise ConfigError("--tta needs a model to run (--model or --weights)")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if out is not None:
        check_output(out, force, "--out")
    try:
        lifter = LiftModel.load(lift or bundled_lifter())
    except ValueError as e:
        raise ConfigError(f"--lift {e}") from None
    predictor = None
    if weights is not None or model is not None:
        spec, infer, input_hw, config = _model(weights, model)
        predictor = PosePredictor(infer, spec, config or DecoderConfig(), input_hw=input_hw)
    result = evaluate_itop(labels, depth, lifter, predictor, limit, tta=tta)  # DataError: one line naming the file
    typer.echo(table(result))
    if out is not None:
        write_json(out, {**result, "tta": tta, "lift": lifter.meta}, indent=1)


def _tracks(tracks: Path, data: Path, out: Optional[Path], match: str, force: bool) -> None:
    require_extra("track-eval", "toppose-eval --tracks")
    from toppose.atomic import check_output
    from toppose.io import write_json
    from toppose.track_eval import evaluate_tracks, table

    if match not in ("centre", "oks"):
        raise ConfigError(f"--match must be centre or oks, got {match!r}")
    if out is not None:
        check_output(out, force, "--out")
    result = evaluate_tracks(tracks, data, match)  # DataError: one line naming the file
    typer.echo(table(result))
    if out is not None:
        write_json(out, result, indent=1)


if __name__ == "__main__":
    app()
