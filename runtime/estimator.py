"""Frame -> people: preprocessing, session and decoder, each timed (the whole single-image API)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from toppose.codec.decoder import PoseDecoder
from toppose.codec.poses import Poses
from toppose.preprocess import prepare, to_input_image
from toppose.runtime.session import PoseSession
from toppose.tta import tta_maps


@dataclass
class Timings:
    """Milliseconds per stage of one frame."""

    preprocess: float = 0.0
    inference: float = 0.0
    decode: float = 0.0


class PoseEstimator:
    """``poses, timings = estimator(frame)``; frame: BGR uint8, grey, or a depth frame (uint16 mm / float m)."""

    def __init__(self, session: PoseSession, method: str = "sparse") -> None:
        self.session = session
        self.spec = session.spec
        self.decoder = PoseDecoder(self.spec.skeleton, self.spec.stride, session.decoder_config, method).warmup()

    def preprocess(self, frame: np.ndarray):
        """frame -> ((H, W, 3) uint8 image as the model sees it, (3, H', W') input, Letterbox)."""
        image = to_input_image(frame, self.spec.encoding)
        x, box = prepare(image, self.spec, self.session.input_hw)
        return image, x, box

    def infer(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        paf, heat = self.session.infer_maps(x[None])
        return paf[0], heat[0]

    def decode(self, paf: np.ndarray, heat: np.ndarray, box) -> Poses:
        return self.decoder(paf, heat).scaled(box.scale)

    def __call__(self, frame: np.ndarray, tta: bool = False) -> tuple[Poses, Timings]:
        t = Timings()
        t0 = time.perf_counter()
        if tta:
            paf, heat, scale = tta_maps(to_input_image(frame, self.spec.encoding), self.session.infer_maps,
                                        self.spec.skeleton, self.spec.stride, self.spec.preprocess,
                                        input_hw=self.session.input_hw)
            t1 = time.perf_counter()
            poses = self.decoder(paf, heat).scaled(scale)
            t.inference, t.decode = 1000 * (t1 - t0), 1000 * (time.perf_counter() - t1)
            return poses, t
        _, x, box = self.preprocess(frame)
        t1 = time.perf_counter()
        paf, heat = self.infer(x)
        t2 = time.perf_counter()
        poses = self.decode(paf, heat, box)
        t.preprocess, t.inference, t.decode = 1000 * (t1 - t0), 1000 * (t2 - t1), 1000 * (time.perf_counter() - t2)
        return poses, t
