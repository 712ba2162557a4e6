"""Parity of an exported model with its PyTorch source: raw maps and decoded poses."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
import torch

from toppose.codec.decoder import PoseDecoder
from toppose.export.onnx_export import read_metadata
from toppose.model_spec import ModelSpec
from toppose.preprocess import prepare
from toppose.synth.scenes import random_scene

FP32_TOLERANCE = 1e-4


@dataclass
class ParityReport:
    precision: str
    max_abs_paf: float = 0.0
    max_abs_heat: float = 0.0
    poses_equal: int = 0
    inputs: int = 0
    people_torch: int = 0   # people decoded on the rendered inputs (not on noise)
    people_onnx: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        if self.precision == "fp32":
            return max(self.max_abs_paf, self.max_abs_heat) <= FP32_TOLERANCE and self.poses_equal == self.inputs
        return self.people_onnx >= 0.8 * self.people_torch  # judged by the rendered people (and AP in benchmarks)

    def summary(self) -> str:
        return (f"{self.precision}: max |diff| paf {self.max_abs_paf:.2e}, heatmaps {self.max_abs_heat:.2e}; "
                f"decoded poses equal on {self.poses_equal}/{self.inputs} inputs "
                f"(people in the rendered frames: torch {self.people_torch}, onnx {self.people_onnx}) -> "
                f"{'OK' if self.ok else 'FAIL'}")


def parity_inputs(spec: ModelSpec, hw: tuple[int, int], count: int = 4, seed: int = 0
                  ) -> tuple[list[np.ndarray], list[bool]]:
    """Random and rendered frames, preprocessed to (3, H, W) at the export size, and which of them
    are rendered. Noise tests the raw maps; people are counted on rendered frames only (on noise a
    model finds nonsense people, and int8 finds more or fewer of them by chance)."""
    rng = np.random.default_rng(seed)
    out = [rng.normal(0, 1, (3, *hw)).astype(np.float32)]
    for i in range(count - 1):
        frame = random_scene(rng, "top" if i % 2 == 0 else "side", (1, 3))
        out.append(prepare(frame.depth, spec, hw)[0])
    return out, [False] + [True] * (count - 1)


def _same_poses(a, b, tol: float = 1.0) -> bool:
    if len(a) != len(b):
        return False
    if len(a) == 0:
        return True
    ka = a.keypoints[np.lexsort(a.keypoints[:, :, 0].T)]
    kb = b.keypoints[np.lexsort(b.keypoints[:, :, 0].T)]
    return bool(np.all((ka[..., 2] > 0) == (kb[..., 2] > 0)) and np.abs(ka[..., :2] - kb[..., :2]).max() <= tol)


def check_parity(model: torch.nn.Module, spec: ModelSpec, onnx_path, precision: str, inputs: list[np.ndarray],
                 rendered: list[bool] | None = None) -> ParityReport:
    """Raw maps and decoded poses of the export against PyTorch on every input; people counted on
    the ``rendered`` ones (default: all)."""
    onnx.checker.check_model(str(onnx_path), full_check=True)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    decoder = PoseDecoder(spec.skeleton, spec.stride, read_metadata(onnx_path).decoder)  # as the runtime will decode
    report = ParityReport(precision)
    model = model.eval().float()
    for x, scene in zip(inputs, [True] * len(inputs) if rendered is None else rendered):
        with torch.no_grad():
            paf_t, heat_t, _ = model(torch.from_numpy(x[None]))
        paf_o, heat_o = session.run(None, {session.get_inputs()[0].name: x[None]})
        report.max_abs_paf = max(report.max_abs_paf, float(np.abs(paf_t.numpy() - paf_o).max()))
        report.max_abs_heat = max(report.max_abs_heat, float(np.abs(heat_t.numpy() - heat_o).max()))
        pt, po = decoder(paf_t.numpy()[0], heat_t.numpy()[0]), decoder(paf_o[0], heat_o[0])
        if scene:
            report.people_torch += len(pt)
            report.people_onnx += len(po)
        report.poses_equal += _same_poses(pt, po)
        report.inputs += 1
    return report
