"""Weights -> one self-describing ONNX file (metadata JSON), with fp16 and int8 variants."""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from toppose import __version__
from toppose.errors import ToposeError
from toppose.io import atomic_path
from toppose.model_spec import METADATA_KEY, MetadataError, ModelInput, ModelMetadata, ModelSpec, metadata_from_props

INPUT, OUTPUTS = "image", ("paf", "heatmaps")
CALIBRATION_METHODS = ("percentile", "minmax", "entropy")
MIN_OPSET = 17  # the exporter writes opset 18 and converts down; below 17 the conversion fails


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
        if not MIN_OPSET <= self.opset <= onnx.defs.onnx_opset_version():
            raise ExportError(f"--opset {self.opset}: must be {MIN_OPSET} to {onnx.defs.onnx_opset_version()} "
                              f"(the torch.export-based exporter cannot write older opsets)")


def metadata(spec: ModelSpec, provenance: dict, options: ExportOptions) -> ModelMetadata:
    """The fp32 export's description (default decoder settings)."""
    size = (None, None) if options.dynamic else (options.height, options.width)
    return ModelMetadata(spec=spec, input=ModelInput(*size, name=INPUT), provenance=provenance, outputs=OUTPUTS)


def export_onnx(model: torch.nn.Module, spec: ModelSpec, provenance: dict, out: Path, options: ExportOptions) -> onnx.ModelProto:
    """Export ``model`` to ONNX at ``out`` (atomically), metadata included; returns the proto.

    Through torch's supported exporter (``torch.export``, ``dynamo=True``; it needs onnxscript):
    the TorchScript exporter it replaces warns that it will be removed.
    """
    model = _Final(model.float()).eval()
    x = torch.zeros(options.batch, 3, options.height, options.width)
    dims = {}
    if options.dynamic_batch:
        dims[0] = torch.export.Dim("batch")
    if options.dynamic:
        dims.update({2: torch.export.Dim("height"), 3: torch.export.Dim("width")})
    with _quiet_exporter():
        program = torch.onnx.export(model, (x,), None, input_names=[INPUT], output_names=list(OUTPUTS),
                                    dynamic_shapes=(dims,) if dims else None, opset_version=options.opset,
                                    dynamo=True, verbose=False)
    proto = program.model_proto
    written = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if written != options.opset:  # the exporter keeps its own opset when it cannot convert down
        raise ExportError(f"--opset {options.opset}: the exporter could only write opset {written}")
    set_metadata(proto, metadata(spec, provenance, options))
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    return proto


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's progress notes (opset conversion, optional torchvision ops) are not the user's concern."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def set_metadata(proto: onnx.ModelProto, meta: ModelMetadata) -> None:
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    proto.producer_name, proto.producer_version = "toppose", __version__


def read_metadata(proto_or_path) -> ModelMetadata:
    """A proto's (or an ONNX file's) toppose metadata, through the one codec in ``toppose.model_spec``."""
    proto = onnx.load(str(proto_or_path), load_external_data=False) if not isinstance(proto_or_path, onnx.ModelProto) else proto_or_path
    try:
        return metadata_from_props({p.key: p.value for p in proto.metadata_props})
    except MetadataError as e:
        where = "model" if isinstance(proto_or_path, onnx.ModelProto) else proto_or_path
        raise ExportError(f"{where}: {e}") from None


def to_fp16(src: Path, out: Path) -> None:
    """fp16 weights and compute, fp32 inputs and outputs (for GPU execution providers)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load(str(src))
    meta = read_metadata(proto)
    half = convert_float_to_float16(proto, keep_io_types=True)
    _topological_sort(half.graph)
    set_metadata(half, meta.variant("fp16"))
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
        set_metadata(proto, meta.variant("int8", calibration_frames=len(frames), calibration_method=method,
                                         float_nodes=tuple(excluded)))
        onnx.save(proto, str(tmp))
