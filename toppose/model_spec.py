"""What a model file must say about itself: architecture, preprocessing, input encoding.

A ``ModelSpec`` travels inside every toppose checkpoint and every exported ONNX file
(as JSON), so the runtime never has to be told how to feed a model. ``ModelMetadata`` is the
one codec for the ONNX side: export writes it, export's variants and the runtime read it.
Unknown keys anywhere in it are refused (``toppose.records`` says why).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Mapping

from toppose import __version__
from toppose.codec.config import DecoderConfig
from toppose.records import known_fields
from toppose.skeleton import OPENPOSE18, Skeleton

METADATA_KEY = "toppose"  # the ONNX metadata_props entry that holds a model's description (JSON)
METADATA_FORMAT = 1
PREPROCESS_CONVENTIONS = ("vgg", "rtpose")
ENCODINGS = ("rgb", "depth")
COLORMAPS = ("grey", "jet")


@dataclass(frozen=True)
class InputEncoding:
    """How a frame becomes the 3-channel 8-bit image the network sees.

    ``rgb``: a colour image as it is. ``depth``: metres in [near_m, far_m] are mapped to
    255..0 (nearer is brighter; 0 = no reading), then grey on 3 channels or a colormap.
    """

    kind: str = "rgb"
    near_m: float = 0.5
    far_m: float = 4.5
    colormap: str = "grey"

    def __post_init__(self) -> None:
        if self.kind not in ENCODINGS:
            raise ValueError(f"unknown input encoding {self.kind!r}; expected one of {ENCODINGS}")
        if self.colormap not in COLORMAPS:
            raise ValueError(f"unknown colormap {self.colormap!r}; expected one of {COLORMAPS}")
        if not 0.0 <= self.near_m < self.far_m:
            raise ValueError(f"depth range must satisfy 0 <= near < far, got {self.near_m}..{self.far_m}")

    def describe(self) -> str:
        if self.kind == "rgb":
            return "rgb"
        return f"depth {self.near_m:g}-{self.far_m:g} m, {self.colormap}"


@dataclass(frozen=True)
class ModelSpec:
    """A model's architecture and the input it expects."""

    arch: str
    preprocess: str = "vgg"
    encoding: InputEncoding = field(default_factory=InputEncoding)
    stride: int = 8
    skeleton: Skeleton = OPENPOSE18

    def __post_init__(self) -> None:
        if self.preprocess not in PREPROCESS_CONVENTIONS:
            raise ValueError(f"unknown preprocessing {self.preprocess!r}; expected one of {PREPROCESS_CONVENTIONS}")
        if self.stride <= 0:
            raise ValueError(f"stride must be positive, got {self.stride}")

    def to_dict(self) -> dict:
        return {"arch": self.arch, "preprocess": self.preprocess,
                "encoding": asdict(self.encoding), "stride": self.stride,
                "skeleton": self.skeleton.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        d = known_fields(cls, d, "model description", required=[f for f in cls.__dataclass_fields__])
        try:
            return cls(arch=str(d["arch"]), preprocess=str(d["preprocess"]),
                       encoding=InputEncoding(**known_fields(InputEncoding, d["encoding"], "encoding")),
                       stride=int(d["stride"]), skeleton=Skeleton.from_dict(d["skeleton"]))
        except TypeError as e:
            raise ValueError(f"invalid model description: {e}") from None


class MetadataError(ValueError):
    """An ONNX file whose toppose metadata is absent or unreadable (the caller adds the path)."""


@dataclass(frozen=True)
class ModelInput:
    """The network input: one NCHW float32 tensor; height and width None when dynamic."""

    height: int | None
    width: int | None
    name: str = "image"
    layout: str = "NCHW"


@dataclass(frozen=True)
class ModelMetadata:
    """Everything an exported file says about itself (JSON under ``METADATA_KEY``)."""

    spec: ModelSpec
    input: ModelInput
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    precision: str = "fp32"
    provenance: dict = field(default_factory=dict)  # free-form: how the weights came to be
    outputs: tuple[str, ...] = ("paf", "heatmaps")
    toppose_version: str = __version__
    format: int = METADATA_FORMAT
    calibration_frames: int | None = None  # int8 only, like the two below
    calibration_method: str | None = None
    float_nodes: tuple[str, ...] | None = None

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """The fixed (H, W) input size, or None for a dynamic-size model."""
        h, w = self.input.height, self.input.width
        return (int(h), int(w)) if h and w else None

    def variant(self, precision: str, **fields) -> "ModelMetadata":
        """The same description for a converted copy (fp16, int8 with its calibration)."""
        return replace(self, precision=precision, **fields)

    def to_json(self) -> str:
        d = {"spec": self.spec.to_dict(), "input": asdict(self.input), "decoder": self.decoder.to_dict(),
             "precision": self.precision, "provenance": self.provenance, "outputs": list(self.outputs),
             "toppose_version": self.toppose_version, "format": self.format}
        for key in ("calibration_frames", "calibration_method", "float_nodes"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> "ModelMetadata":
        """Parse and validate; ValueError (one line) for bad JSON, unknown or missing keys, bad values."""
        d = known_fields(cls, json.loads(raw), "metadata", required=("spec", "input"))
        try:
            extra = {k: d[k] for k in ("precision", "toppose_version", "format", "calibration_frames",
                                       "calibration_method") if k in d}
            return cls(spec=ModelSpec.from_dict(d["spec"]), input=ModelInput(**known_fields(ModelInput, d["input"], "input")),
                       decoder=DecoderConfig.from_dict(d.get("decoder", {})), provenance=dict(d.get("provenance", {})),
                       outputs=tuple(d.get("outputs", cls.outputs)),
                       float_nodes=tuple(d["float_nodes"]) if "float_nodes" in d else None, **extra)
        except TypeError as e:
            raise ValueError(f"invalid metadata: {e}") from None


def metadata_from_props(props: Mapping[str, str]) -> ModelMetadata:
    """An ONNX file's ``metadata_props`` (key -> value) -> its ModelMetadata, or MetadataError."""
    raw = props.get(METADATA_KEY)
    if raw is None:
        raise MetadataError(f"not a toppose model (no '{METADATA_KEY}' metadata; export it with toppose-export)")
    try:
        return ModelMetadata.from_json(raw)
    except ValueError as e:
        raise MetadataError(f"invalid toppose metadata ({e})") from None
