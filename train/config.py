"""One frozen, validated configuration for a training run, and how command-line options build it."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from toppose.errors import ConfigError
from toppose.records import known_fields

FREEZE_PRESETS = ("all", "stages", "late-stages", "heads")
ARCHS = ("openpose", "lite")
RUN_FILES = ("config.json", "last.pth", "best.pth", "history.csv", "curves.png", "summary.json")


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[tuple[str, float], ...]          # (folder, mixing weight)
    out: str
    val: tuple[str, ...] = ()
    arch: str = "lite"
    init: str | None = None
    epochs: int = 10
    epoch_size: int | None = None                # samples per epoch (mixed by weight); None = the data's size
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
    gpu_augment: bool = False                    # cached frames, augmentation and targets on the device

    def __post_init__(self) -> None:
        for ok, message in self._checks():
            if not ok:
                raise ConfigError(message)

    def _checks(self) -> list[tuple[bool, str]]:
        def at_least(value, low) -> bool:
            return isinstance(value, (int, float)) and math.isfinite(value) and value >= low
        return [
            (bool(self.data), "at least one --data folder is needed"),
            (all(f and at_least(w, 0) and w > 0 for f, w in self.data), f"--data weights must be positive: {self.data}"),
            (at_least(self.epochs, 1), f"--epochs must be at least 1, got {self.epochs}"),
            (self.epoch_size is None or at_least(self.epoch_size, 1), f"--epoch-size must be at least 1, got {self.epoch_size}"),
            (at_least(self.batch_size, 1), f"--batch-size must be at least 1, got {self.batch_size}"),
            (at_least(self.lr, 0) and self.lr > 0, f"--lr must be a positive number, got {self.lr}"),
            (at_least(self.workers, 0), f"--workers must be 0 or more, got {self.workers}"),
            (at_least(self.val_images, 1), f"--val-images must be at least 1, got {self.val_images}"),
            (at_least(self.patience, 0), f"--patience must be 0 or more, got {self.patience}"),
            (at_least(self.time_limit_min, 0), f"--time-limit must be 0 or more minutes, got {self.time_limit_min}"),
            (at_least(self.rotation, 0) and self.rotation <= 180, f"--rotation must be in [0, 180], got {self.rotation}"),
            (at_least(self.stem_lr_mult, 0), f"--stem-lr-mult must be 0 or more, got {self.stem_lr_mult}"),
            (self.arch in ARCHS, f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}"),
            (self.optimizer in ("sgd", "adamw"), f"unknown optimizer {self.optimizer!r} (--optimizer sgd or adamw)"),
            (self.schedule in ("cosine", "step"), f"unknown schedule {self.schedule!r}"),
            (self.amp in ("none", "bf16", "fp16"), f"unknown AMP mode {self.amp!r} (--amp none, bf16 or fp16)"),
            (self.freeze in FREEZE_PRESETS, f"unknown freeze preset {self.freeze!r}; known: {', '.join(FREEZE_PRESETS)}"),
            (len(self.input_size) == 2 and all(isinstance(v, int) and v > 0 and v % 8 == 0 for v in self.input_size),
             f"--input-size must be HxW, positive multiples of 8, got {self.input_size}"),
            (self.encoding in ("rgb", "depth"), f"unknown encoding {self.encoding!r}"),
            (bool(re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(self.device))), f"--device must be auto, cpu or cuda[:N], got {self.device!r}"),
        ]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str | None = None) -> "TrainConfig":
        where = f"{source}: " if source else ""
        try:
            d = known_fields(cls, d, "config")
        except ValueError as e:
            raise ConfigError(f"{where}{e}") from None
        tuples = {"data": lambda v: tuple((str(a), float(b)) for a, b in v), "val": tuple,
                  "input_size": tuple, "train_patterns": tuple, "freeze_patterns": tuple,
                  "scale": tuple, "depth_range": tuple}
        try:
            return cls(**{k: tuples[k](v) if k in tuples else v for k, v in d.items()})
        except ConfigError as e:
            raise ConfigError(f"{where}{e}") from None
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}invalid value ({e})") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()), str(path))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None


def parse_data_arg(text: str) -> tuple[str, float]:
    """'DIR' or 'DIR:WEIGHT' -> (DIR, weight)."""
    folder, sep, weight = text.rpartition(":")
    if sep and folder:
        try:
            return folder, float(weight)
        except ValueError:
            pass
    return text, 1.0


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        return h, w
    except ValueError:
        raise ConfigError(f"--input-size must look like HxW (e.g. 240x320), got {text!r}") from None


# command-line option -> (config field, conversion)
_OPTIONS = {"data": ("data", lambda v: tuple(parse_data_arg(d) for d in v)), "val": ("val", tuple),
            "out": ("out", str), "init": ("init", str), "input_size": ("input_size", parse_size),
            "train_pattern": ("train_patterns", tuple), "freeze_pattern": ("freeze_patterns", tuple),
            "time_limit": ("time_limit_min", float)}


def config_from_options(options: dict, config: Path | None = None, resume: Path | None = None) -> TrainConfig:
    """The run's config from the options given on the command line (only those given).

    ``resume``: DIR/config.json with ``out`` = DIR; any other option is refused, since a
    resumed run continues as configured. ``config``: a JSON file whose fields the given
    options override. Otherwise the options over TrainConfig's defaults.
    """
    if resume is not None:
        if options:
            raise ConfigError(f"--resume {resume} continues the run as recorded in its config.json; drop "
                              + ", ".join("--" + k.replace("_", "-") for k in sorted(options)))
        if not (resume / "config.json").is_file():
            raise ConfigError(f"--resume {resume}: not a training run folder (no config.json)")
        return TrainConfig.from_dict({**TrainConfig.from_file(resume / "config.json").to_dict(), "out": str(resume)},
                                     str(resume / "config.json"))
    base = TrainConfig.from_file(config).to_dict() if config is not None else {}
    given = {}
    for name, value in options.items():
        field, convert = _OPTIONS.get(name, (name, lambda v: v))
        given[field] = convert(value)
    if "data" not in {**base, **given} or "out" not in {**base, **given}:
        raise ConfigError("--data and --out are required (or --config FILE / --resume DIR)")
    return TrainConfig.from_dict({**base, **given}, str(config) if config else None)
