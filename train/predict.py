"""Run a model (PyTorch or ONNX) over a training-format folder and evaluate it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from toppose.codec.decoder import PoseDecoder
from toppose.codec.poses import Poses
from toppose.data.format import DataError, load_dataset, read_image
from toppose.evaluation import EvalResult, evaluate
from toppose.model_spec import ModelSpec
from toppose.preprocess import prepare, to_input_image
from toppose.skeleton import Skeleton
from toppose.tta import tta_maps

Infer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def torch_infer(model, device="cpu") -> Infer:
    import torch

    def infer(x: np.ndarray):
        with torch.no_grad():
            paf, heat, _ = model(torch.from_numpy(x).to(device))
        return paf.float().cpu().numpy(), heat.float().cpu().numpy()
    return infer


def first_images(dataset: dict, limit: int | None) -> dict:
    """The dataset restricted to its first ``limit`` images (all when None)."""
    if limit is None or limit >= len(dataset["images"]):
        return dataset
    keep = {im["id"] for im in dataset["images"][:limit]}
    return {**dataset, "images": dataset["images"][:limit],
            "annotations": [a for a in dataset["annotations"] if a["image_id"] in keep]}


def predict_frame(frame: np.ndarray, infer: Infer, spec: ModelSpec, decoder: PoseDecoder, tta: bool = False,
                  input_hw: tuple[int, int] | None = None) -> Poses:
    """One frame (depth or BGR) -> Poses in the frame's pixels (network input scaled to fit
    ``input_hw`` when given, else the frame's own size padded to the stride)."""
    if tta:
        paf, heat, scale = tta_maps(to_input_image(frame, spec.encoding), infer, spec.skeleton, spec.stride,
                                    spec.preprocess, input_hw=input_hw)
        return decoder(paf, heat).scaled(scale)
    x, box = prepare(frame, spec, input_hw)
    paf, heat = infer(x[None])
    return decoder(paf[0], heat[0]).scaled(box.scale)


def evaluate_folder(folder: str | Path, infer: Infer, spec: ModelSpec, limit: int | None = None,
                    tta: bool = False, decoder: PoseDecoder | None = None,
                    input_hw: tuple[int, int] | None = None) -> tuple[EvalResult, dict]:
    """pycocotools AP and per-joint table of ``infer`` on (the first ``limit`` images of) a folder."""
    folder = Path(folder)
    dataset = first_images(load_dataset(folder), limit)
    decoder = decoder or PoseDecoder(spec.skeleton, spec.stride)
    predictions = {}
    for im in dataset["images"]:
        try:
            predictions[im["id"]] = predict_frame(read_image(folder, im), infer, spec, decoder, tta, input_hw)
        except DataError:
            raise
        except ValueError as e:  # an unsupported frame, or maps that do not fit the skeleton
            raise DataError(f"{folder / im['file_name']}: {e}") from None
    return evaluate(dataset, predictions), predictions


def oracle_folder(folder: str | Path, skeleton: Skeleton, stride: int = 8, limit: int | None = None) -> EvalResult:
    """The decoder's ceiling: ground truth encoded to maps (``skeleton``, ``stride``), decoded, evaluated."""
    from toppose.codec.encoder import encode
    from toppose.data.format import people_by_image
    from toppose.preprocess import plan_letterbox

    folder = Path(folder)
    dataset = first_images(load_dataset(folder), limit)
    people = people_by_image(dataset)
    decoder = PoseDecoder(skeleton, stride)
    predictions = {}
    for im in dataset["images"]:
        box = plan_letterbox((im["height"], im["width"]), stride)
        paf, heat, _ = encode(people.get(im["id"], np.zeros((0, 18, 3))), box.input_hw, skeleton, stride)
        predictions[im["id"]] = decoder(paf, heat)
    return evaluate(dataset, predictions)
