"""One frozen, validated configuration for a training run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from toppose.records import known_fields

FREEZE_PRESETS = ("all", "stages", "late-stages", "heads")


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[tuple[str, float], ...]          # (folder, mixing weight)
    out: str
    val: tuple[str, ...] = ()
    arch: str = "lite"
    init: str | None = None
    epochs: int = 10
    epoch_size: int = 2000                       # samples drawn per epoch (mixed by weight)
    batch_size: int = 8
    lr: float = 1e-2
    optimizer: str = "sgd"                       # sgd (textbook) or adamw
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    schedule: str = "cosine"                     # cosine or step
    clip: float = 0.0                            # max grad norm, 0 = off
    amp: str = "none"                            # none, bf16, fp16 (CUDA only)
    input_size: tuple[int, int] = (240, 320)
    freeze: str = "all"                          # a FREEZE_PRESETS entry
    train_patterns: tuple[str, ...] = ()         # extra trainable parameter name patterns
    freeze_patterns: tuple[str, ...] = ()        # extra frozen parameter name patterns
    stem_lr_mult: float = 1.0
    rotation: float = 180.0                      # +- degrees (180 = full circle, for top views)
    scale: tuple[float, float] = (0.75, 1.25)
    flip: bool = True
    depth_jitter: float = 0.02                   # relative depth scale jitter
    encoding: str = "depth"                      # rgb or depth, for a new model
    depth_range: tuple[float, float] = (0.5, 4.5)
    preprocess: str = "vgg"
    skeleton: str = "openpose18"
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    val_images: int = 200                        # images decoded for validation AP
    patience: int = 0                            # early stopping on val AP, 0 = off
    time_limit_min: float = 0.0                  # stop after the epoch that passes this, 0 = off
    channels_last: bool = False

    def __post_init__(self) -> None:
        checks = [
            (bool(self.data), "at least one --data folder is needed"),
            (all(w > 0 for _, w in self.data), "dataset weights must be positive"),
            (self.epochs >= 1 and self.epoch_size >= 1 and self.batch_size >= 1, "epochs, epoch size and batch size must be positive"),
            (self.lr > 0, "learning rate must be positive"),
            (self.optimizer in ("sgd", "adamw"), f"unknown optimizer {self.optimizer!r}"),
            (self.schedule in ("cosine", "step"), f"unknown schedule {self.schedule!r}"),
            (self.amp in ("none", "bf16", "fp16"), f"unknown AMP mode {self.amp!r}"),
            (self.freeze in FREEZE_PRESETS, f"unknown freeze preset {self.freeze!r}; known: {', '.join(FREEZE_PRESETS)}"),
            (all(v > 0 and v % 8 == 0 for v in self.input_size), "input size must be positive multiples of 8"),
            (self.encoding in ("rgb", "depth"), f"unknown encoding {self.encoding!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = known_fields(cls, d, "config")
        tuples = {"data": lambda v: tuple((str(a), float(b)) for a, b in v), "val": tuple,
                  "input_size": tuple, "train_patterns": tuple, "freeze_patterns": tuple,
                  "scale": tuple, "depth_range": tuple}
        return cls(**{k: tuples[k](v) if k in tuples else v for k, v in d.items()})

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


def parse_data_arg(text: str) -> tuple[str, float]:
    """'DIR' or 'DIR:WEIGHT' -> (DIR, weight)."""
    folder, sep, weight = text.rpartition(":")
    if sep and folder:
        try:
            return folder, float(weight)
        except ValueError:
            pass
    return text, 1.0
