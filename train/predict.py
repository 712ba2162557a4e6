"""Run a model (PyTorch or ONNX) over a training-format folder and evaluate it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toppose.codec.config import DecoderConfig
from toppose.codec.decoder import PoseDecoder
from toppose.data.format import DataError, load_dataset, read_image
from toppose.evaluation import EvalResult, evaluate
from toppose.inference import Infer, PosePredictor
from toppose.model_spec import ModelSpec
from toppose.skeleton import NUM_OPENPOSE, Skeleton


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


def evaluate_folder(folder: str | Path, infer: Infer, spec: ModelSpec, limit: int | None = None,
                    tta: bool = False, input_hw: tuple[int, int] | None = None,
                    config: DecoderConfig | None = None, min_keypoints: int = 0) -> tuple[EvalResult, dict]:
    """pycocotools AP and per-joint table of ``infer`` on (the first ``limit`` images of) a folder.

    ``config``: the decoder settings (an exported model's own: ``PoseSession.decoder_config``);
    defaults when None. Frames take the same path as ``toppose-infer`` and the stream.
    ``min_keypoints``: see ``toppose.evaluation.evaluate``.
    """
    folder = Path(folder)
    dataset = first_images(load_dataset(folder), limit)
    predictor = PosePredictor(infer, spec, config or DecoderConfig(), input_hw=input_hw)
    predictions = {}
    for im in dataset["images"]:
        try:
            predictions[im["id"]] = predictor(read_image(folder, im), tta)[0]
        except DataError:
            raise
        except ValueError as e:  # an unsupported frame, or maps that do not fit the skeleton
            raise DataError(f"{folder / im['file_name']}: {e}") from None
    return evaluate(dataset, predictions, min_keypoints), predictions


def oracle_folder(folder: str | Path, skeleton: Skeleton, stride: int = 8, limit: int | None = None,
                  min_keypoints: int = 0, config: DecoderConfig | None = None) -> EvalResult:
    """The decoder's ceiling: ground truth encoded to maps (``skeleton``, ``stride``), decoded (with
    ``config``, default the decoder's defaults), evaluated."""
    from toppose.codec.encoder import encode
    from toppose.data.format import people_by_image
    from toppose.preprocess import plan_letterbox

    folder = Path(folder)
    dataset = first_images(load_dataset(folder), limit)
    people = people_by_image(dataset)
    decoder = PoseDecoder(skeleton, stride, config or DecoderConfig())
    predictions = {}
    for im in dataset["images"]:
        box = plan_letterbox((im["height"], im["width"]), stride)
        paf, heat, _ = encode(people.get(im["id"], np.zeros((0, NUM_OPENPOSE, 3))), box.input_hw, skeleton, stride)
        predictions[im["id"]] = decoder(paf, heat)
    return evaluate(dataset, predictions, min_keypoints)
