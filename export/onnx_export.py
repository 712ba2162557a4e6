"""Weights -> one self-describing ONNX file (metadata JSON), with fp16 and int8 variants."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from toppose import __version__
from toppose.codec.config import DecoderConfig
from toppose.errors import ToposeError
from toppose.io import atomic_path
from toppose.model_spec import METADATA_KEY, ModelSpec

INPUT, OUTPUTS = "image", ("paf", "heatmaps")
CALIBRATION_METHODS = ("percentile", "minmax", "entropy")


class ExportError(ToposeError):
    """An export that cannot be done; the message names the file and the problem."""


class _Final(torch.nn.Module):
    """Only the final PAF and heatmaps are outputs."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        paf, heat, _ = self.model(x)
        return paf, heat


@dataclass(frozen=True)
class ExportOptions:
    height: int = 240
    width: int = 320
    batch: int = 1
    dynamic: bool = False        # dynamic height and width
    dynamic_batch: bool = False
    opset: int = 17

    def __post_init__(self) -> None:
        if self.height % 8 or self.width % 8 or self.height <= 0 or self.width <= 0:
            raise ExportError(f"input size {self.height}x{self.width} must be positive multiples of 8")


def metadata(spec: ModelSpec, provenance: dict, options: ExportOptions, precision: str) -> dict:
    return {"toppose_version": __version__, "format": 1, "spec": spec.to_dict(),
            "decoder": DecoderConfig().to_dict(), "provenance": provenance, "precision": precision,
            "input": {"name": INPUT, "layout": "NCHW", "height": None if options.dynamic else options.height,
                      "width": None if options.dynamic else options.width},
            "outputs": list(OUTPUTS)}


def export_onnx(model: torch.nn.Module, spec: ModelSpec, provenance: dict, out: Path, options: ExportOptions) -> onnx.ModelProto:
    """Trace ``model`` to ONNX at ``out`` (atomically), metadata included; returns the proto."""
    model = _Final(model.float()).eval()  # the exporter restores the wrapper's mode on every child
    x = torch.zeros(options.batch, 3, options.height, options.width)
    axes = {}
    if options.dynamic or options.dynamic_batch:
        dims = {0: "batch"} if options.dynamic_batch else {}
        if options.dynamic:
            dims.update({2: "height", 3: "width"})
        out_dims = {k: v + "_8" if k > 1 else v for k, v in dims.items()}
        axes = {INPUT: dims, OUTPUTS[0]: out_dims, OUTPUTS[1]: out_dims}
    with atomic_path(out) as tmp:
        torch.onnx.export(model, (x,), str(tmp), input_names=[INPUT], output_names=list(OUTPUTS),
                          dynamic_axes=axes or None, opset_version=options.opset, dynamo=False)
        proto = onnx.load(str(tmp))
        set_metadata(proto, metadata(spec, provenance, options, "fp32"))
        onnx.save(proto, str(tmp))
    return proto


def set_metadata(proto: onnx.ModelProto, meta: dict) -> None:
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta, sort_keys=True)
    proto.producer_name, proto.producer_version = "toppose", __version__


def read_metadata(proto_or_path) -> dict:
    proto = onnx.load(str(proto_or_path), load_external_data=False) if not isinstance(proto_or_path, onnx.ModelProto) else proto_or_path
    for p in proto.metadata_props:
        if p.key == METADATA_KEY:
            return json.loads(p.value)
    raise ExportError(f"{proto_or_path}: not a toppose model (no '{METADATA_KEY}' metadata)")


def to_fp16(src: Path, out: Path) -> None:
    """fp16 weights and compute, fp32 inputs and outputs (for GPU execution providers)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(str(src))
    meta = read_metadata(proto)
    half = convert_float_to_float16(proto, keep_io_types=True)
    _topological_sort(half.graph)
    set_metadata(half, {**meta, "precision": "fp16"})
    with atomic_path(out) as tmp:
        onnx.save(half, str(tmp))


def _topological_sort(graph: onnx.GraphProto) -> None:
    """The fp16 converter appends input casts at the end; ONNX requires producers first."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        progress = [n for n in pending if all(i in ready for i in n.input)]
        if not progress:
            raise ExportError("fp16 graph has a cycle or a missing input")
        for n in progress:
            ordered.append(n)
            ready.update(n.output)
        pending = [n for n in pending if n not in progress]
    del graph.node[:]
    graph.node.extend(ordered)


def output_convs(proto: onnx.ModelProto, depth: int = 2) -> list[str]:
    """Names of the last ``depth`` Conv nodes on each path to a graph output (the heads)."""
    producers = {o: n for n in proto.graph.node for o in n.output}
    names: list[str] = []
    for out in proto.graph.output:
        frontier, found = [out.name], 0
        while frontier and found < depth:
            node = producers.get(frontier.pop(0))
            if node is None:
                continue
            if node.op_type == "Conv":
                names.append(node.name)
                found += 1
            frontier.extend(i for i in node.input if i in producers)
    return names


def to_int8(src: Path, out: Path, frames: list[np.ndarray], method: str = "percentile", keep_heads: bool = True) -> None:
    """Static QDQ int8 with per-channel weights, calibrated on preprocessed frames (N x (3, H, W)).

    ``keep_heads`` leaves the last two convolutions before each output in float: they carry
    the fine-grained map values the decoder thresholds. ``method``: minmax, entropy or percentile.
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{INPUT: f[None].astype(np.float32)} for f in frames])

        def get_next(self):
            return next(self.items, None)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in CALIBRATION_METHODS:
        raise ExportError(f"unknown calibration method {method!r}; expected one of {', '.join(CALIBRATION_METHODS)}")
    meta = read_metadata(src)
    excluded = output_convs(onnx.load(str(src))) if keep_heads else []
    with atomic_path(out) as tmp:
        quantize_static(str(src), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method], nodes_to_exclude=excluded)
        proto = onnx.load(str(tmp))
        set_metadata(proto, {**meta, "precision": "int8", "calibration_frames": len(frames),
                             "calibration_method": method, "float_nodes": excluded})
        onnx.save(proto, str(tmp))
