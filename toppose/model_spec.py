"""What a model file must say about itself: architecture, preprocessing, input encoding.

A ``ModelSpec`` travels inside every toppose checkpoint and every exported ONNX file
(as JSON), so the runtime never has to be told how to feed a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from toppose.skeleton import OPENPOSE18, Skeleton

METADATA_KEY = "toppose"  # the ONNX metadata_props entry that holds a model's description (JSON)
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
        try:
            return cls(arch=str(d["arch"]), preprocess=str(d["preprocess"]),
                       encoding=InputEncoding(**d["encoding"]), stride=int(d["stride"]),
                       skeleton=Skeleton.from_dict(d["skeleton"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"invalid model description: {e}") from None
