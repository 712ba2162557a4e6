"""Frame -> poses: the one path that evaluation, ``toppose-infer`` and the streaming pipeline share.

``PosePredictor(infer, spec, config)`` owns preprocessing, the network call and decoding,
and times each stage into one ``Timings``. Callers that run the stages on different
threads (the pipeline) call the three stage methods themselves with the frame's Timings.
NumPy, OpenCV and Numba only: ``infer`` is any callable (onnxruntime session, PyTorch model).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterator

import numpy as np

from toppose.codec.config import DecoderConfig
from toppose.codec.decoder import PoseDecoder
from toppose.codec.poses import Poses
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.preprocess import Letterbox, prepare, to_input_image
from toppose.tta import tta_maps

# (N, 3, H, W) float32 network input -> paf (N, 2K, H/8, W/8), heatmaps (N, J+1, H/8, W/8)
Infer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Timings:
    """Milliseconds per stage of one frame; ``latency`` is capture start to outputs written."""

    capture: float = 0.0
    preprocess: float = 0.0
    inference: float = 0.0
    decode: float = 0.0
    output: float = 0.0
    latency: float = 0.0

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block into ``stage``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, stage, 1000 * (time.perf_counter() - t0))

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)  # not dataclasses.asdict: it deep-copies, twice per streamed frame


@dataclass
class Prepared:
    """A frame ready for the network."""

    frame: np.ndarray   # as captured
    x: np.ndarray       # (3, H', W') float32 network input
    box: Letterbox      # how the frame maps into ``x``
    encoding: InputEncoding

    @cached_property
    def image(self) -> np.ndarray:
        """(H, W, 3) uint8 BGR, the frame as the model sees it before resizing; made when first
        asked for (overlays), not for every frame."""
        return to_input_image(self.frame, self.encoding)


class PosePredictor:
    """``poses, timings = predictor(frame)``; frame: BGR uint8, grey uint8, or depth (uint16 mm / float m).

    ``input_hw``: a fixed-size model's input (frames are scaled to fit); None: each frame's
    own size, padded to the stride. ``method``: the decoder (see ``PoseDecoder``).
    """

    def __init__(self, infer: Infer, spec: ModelSpec, config: DecoderConfig = DecoderConfig(),
                 method: str = "sparse", input_hw: tuple[int, int] | None = None) -> None:
        self.infer_batch, self.spec, self.input_hw = infer, spec, input_hw
        self.decoder = PoseDecoder(spec.skeleton, spec.stride, config, method).warmup()

    def preprocess(self, frame: np.ndarray, timings: Timings) -> Prepared:
        """A frame ((H, W, 3) uint8 BGR, (H, W) uint8 grey, uint16 mm or float metres) -> Prepared,
        its (3, H', W') float32 input; timed as "preprocess"."""
        with timings.measure("preprocess"):
            x, box = prepare(frame, self.spec, self.input_hw)
        return Prepared(frame, x, box, self.spec.encoding)

    def infer(self, x: np.ndarray, timings: Timings) -> tuple[np.ndarray, np.ndarray]:
        """(3, H', W') -> paf (2K, h, w), heatmaps (J+1, h, w)."""
        with timings.measure("inference"):
            paf, heat = self.infer_batch(x[None])
        return paf[0], heat[0]

    def decode(self, paf: np.ndarray, heat: np.ndarray, scale: float, timings: Timings) -> Poses:
        """Maps -> Poses in the original frame's pixels (network pixels / ``scale``)."""
        with timings.measure("decode"):
            return self.decoder(paf, heat).scaled(scale)

    def __call__(self, frame: np.ndarray, tta: bool = False) -> tuple[Poses, Timings]:
        """One frame -> (Poses in the frame's pixels, Timings). ``tta``: scales 0.75/1/1.25 + flip,
        averaged (preprocessing is then counted as inference)."""
        timings = Timings()
        if tta:
            with timings.measure("inference"):
                paf, heat, scale = tta_maps(to_input_image(frame, self.spec.encoding), self.infer_batch,
                                            self.spec.skeleton, self.spec.stride, self.spec.preprocess,
                                            input_hw=self.input_hw)
            return self.decode(paf, heat, scale, timings), timings
        prepared = self.preprocess(frame, timings)
        paf, heat = self.infer(prepared.x, timings)
        return self.decode(paf, heat, prepared.box.scale, timings), timings
