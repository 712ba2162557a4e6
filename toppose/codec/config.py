"""Decoder parameters; textbook values by default (see shared spec keypoints.md)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

from toppose.records import known_fields

METHODS = ("sparse", "fine", "reference")
# Old method names still found in scripts, configs and model metadata -> today's name.
# Accepted with a DeprecationWarning until toppose 0.3, then refused.
DEPRECATED_METHODS = {"numba": "fine"}


def resolve_method(name: str) -> str:
    """A decoder method name, old names mapped (with a DeprecationWarning); ValueError if unknown."""
    if name in DEPRECATED_METHODS:
        new = DEPRECATED_METHODS[name]
        warnings.warn(f"decoder method {name!r} is deprecated (both fast decoders are Numba); use {new!r}",
                      DeprecationWarning, stacklevel=3)
        return new
    if name not in METHODS:
        raise ValueError(f"unknown decoder method {name!r}; expected one of {METHODS}")
    return name


@dataclass(frozen=True)
class DecoderConfig:
    peak_threshold: float = 0.1     # thre1: heatmap peak must exceed this
    paf_threshold: float = 0.05     # thre2: a PAF sample counts when its projection exceeds this
    samples: int = 10               # PAF samples per candidate limb
    min_sample_fraction: float = 0.8  # more than this fraction of samples must count
    min_parts: int = 3              # people with fewer parts are dropped
    min_mean_score: float = 0.2     # people whose total score / parts is lower are dropped
    merge: bool = True              # join pieces of one body that no limb joins (``toppose.codec.merge``)
    merge_prior: float = 0.5        # body height seen at least, as a share of the input height
    merge_slack: float = 8.0        # input pixels added to every allowed distance
    merge_single_score: float = 0.5  # a part alone joins a piece only with this peak score or more
    merge_duplicate: float = 0.2    # pieces sharing a part type may join when each such pair lies within this
                                    # share of body height (+ merge_slack); negative: never
    merge_drop: bool = True         # pieces that fit but for one part join without it (``merge.fit_drop``)

    def __post_init__(self) -> None:
        if self.samples < 2:
            raise ValueError("samples must be at least 2")
        if not 0.0 <= self.min_sample_fraction <= 1.0:
            raise ValueError("min_sample_fraction must be in [0, 1]")
        if self.merge_prior < 0 or self.merge_slack < 0:
            raise ValueError("merge_prior and merge_slack must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DecoderConfig":
        """Missing settings take their defaults; unknown ones are refused (``toppose.records``)."""
        return cls(**known_fields(cls, d, "decoder settings"))


def cell_offset(stride: int) -> float:
    """Input-pixel position of heatmap cell 0's centre: cell j sits at j * stride + offset."""
    return stride / 2.0 - 0.5
