"""``toppose-data``: ITOP and COCO converters and the synthetic scene writer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.data.format import DataError
from toppose.errors import App, ConfigError, fail, raise_if_interrupted
from toppose.extras import require_extra

app = App(no_args_is_help=True, help="Build training-format datasets.")
Force = Annotated[bool, typer.Option(help="replace an existing output folder")]


def _progress(label: str):
    def show(done: int, total: int) -> None:
        raise_if_interrupted()   # a Ctrl-C Python swallowed stops the loop here
        if sys.stderr.isatty() and (done == total or done % max(1, total // 100) == 0):
            sys.stderr.write(f"\r{label} {done}/{total} ({100 * done // max(total, 1)}%)")
            if done == total:
                sys.stderr.write("\n")
    return show


def _span(text: Optional[str]) -> tuple[int, Optional[int]]:
    if not text:
        return 0, None
    try:
        a, _, b = text.partition(":")
        start, end = int(a or 0), (int(b) if b else None)
    except ValueError:
        raise ConfigError(f"--range must look like START:END, got {text!r}") from None
    if start < 0 or (end is not None and end <= start):
        raise ConfigError(f"--range must satisfy 0 <= START < END, got {text!r}")
    return start, end


def _people(text: Optional[str]) -> Optional[tuple[int, int]]:
    if text is None:
        return None
    try:
        lo, _, hi = text.partition(":")
        span = (int(lo), int(hi or lo))
    except ValueError:
        raise ConfigError(f"--people must look like MIN:MAX, got {text!r}") from None
    if not 0 <= span[0] <= span[1]:
        raise ConfigError(f"--people must satisfy 0 <= MIN <= MAX, got {text!r}")
    return span


@app.command()
def itop(labels: Annotated[Path, typer.Option(help="ITOP_*_labels.h5")],
         depth: Annotated[Path, typer.Option(help="ITOP_*_depth_map.h5")],
         out: Annotated[Path, typer.Option(help="output folder")],
         range_: Annotated[Optional[str], typer.Option("--range", help="START:END frame indices")] = None,
         every: Annotated[int, typer.Option(help="keep every N-th frame")] = 1,
         persons: Annotated[Optional[str], typer.Option(help="comma-separated person ids, e.g. 04,05")] = None,
         force: Force = False) -> None:
    """Convert ITOP HDF5 labels and depth maps, keeping valid frames; prints the drop report."""
    from toppose.atomic import atomic_dir
    from toppose.data.itop import convert_itop
    from toppose.io import write_json

    start, end = _span(range_)
    if every < 1:
        raise ConfigError(f"--every must be at least 1, got {every}")
    with atomic_dir(out, force) as tmp:
        report = convert_itop(labels, depth, tmp, start, end, every,
                              set(persons.split(",")) if persons else None, _progress("frames"))
        if report.frames_kept == 0:
            raise DataError(f"{labels}: no valid frame to keep ({report.summary()})")
        write_json(tmp / "report.json", report.to_dict(), indent=2)
    typer.echo(report.summary())


@app.command()
def coco(annotations: Annotated[Path, typer.Option(help="person_keypoints_*.json or the textbook's COCO.json")],
         images: Annotated[Path, typer.Option(help="image folder the annotations refer to")],
         out: Annotated[Path, typer.Option(help="output folder")],
         sample: Annotated[Optional[int], typer.Option(help="keep N random images")] = None,
         val_fraction: Annotated[float, typer.Option(help="fraction written to OUT/val")] = 0.0,
         seed: Annotated[int, typer.Option()] = 0,
         force: Force = False) -> None:
    """Convert COCO person keypoints (neck added, ignore masks from crowds and unlabelled people)."""
    require_extra("train", "toppose-data coco", "pycocotools")
    from toppose.atomic import atomic_dir
    from toppose.data.coco import convert_coco

    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    if sample is not None and sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {sample}")
    with atomic_dir(out, force) as tmp:
        counts = convert_coco(annotations, images, tmp, sample, val_fraction, seed)
        if not counts:
            raise DataError(f"{annotations}: no image with labelled (non-crowd) people")
    typer.echo(", ".join(f"{k}: {v} images" for k, v in counts.items()))


def _range(option: str, text: Optional[str]) -> Optional[tuple[float, float]]:
    """'A:B' (or 'A') -> (A, B) floats; None stays None."""
    if text is None:
        return None
    try:
        a, _, b = text.partition(":")
        return float(a), float(b or a)
    except ValueError:
        fail(f"{option} must look like A:B (numbers), got {text!r}")


def _scene_options(sensor: str, clutter: Optional[int], camera_height: str, tilt: str, fov: Optional[str]):
    from toppose.synth.scenes import SceneOptions

    try:
        return SceneOptions(sensor, clutter, _range("--camera-height", camera_height), _range("--tilt", tilt),
                            _range("--fov", fov))
    except ValueError as e:
        fail(f"toppose-data synth: {e}")


Sensor = Annotated[str, typer.Option(help="sensor model: none, generic (default), xtion or d435")]
Clutter = Annotated[Optional[int], typer.Option(help="up to N furniture pieces among the people")]
CameraHeight = Annotated[str, typer.Option(help="A:B metres, top-view camera height range")]
Tilt = Annotated[str, typer.Option(help="A:B degrees from straight down (top view)")]
Fov = Annotated[Optional[str], typer.Option(help="A:B horizontal field of view in degrees (default: ITOP's 58.5)")]


@app.command()
def synth(out: Annotated[Path, typer.Option(help="output folder")],
          view: Annotated[str, typer.Option(help="top or side")] = "top",
          frames: Annotated[int, typer.Option(help="number of frames")] = 100,
          seed: Annotated[int, typer.Option()] = 0,
          people: Annotated[Optional[str], typer.Option(help="MIN:MAX people: write the training format")] = None,
          fully_in_view: Annotated[bool, typer.Option(help="only people entirely inside the frame")] = False,
          walls: Annotated[bool, typer.Option(help="a wall along one side (top) or behind people (side)")] = False,
          split: Annotated[str, typer.Option(help="ITOP file name split (train/test)")] = "train",
          workers: Annotated[int, typer.Option(help="render processes")] = 1,
          sensor: Sensor = "generic", clutter: Clutter = None, camera_height: CameraHeight = "2.5:3.5",
          tilt: Tilt = "0:0", fov: Fov = None,
          sequence: Annotated[bool, typer.Option(help="one continuous scene with track ids (needs --people)")] = False,
          zones: Annotated[Optional[Path], typer.Option(help="with --sequence: write true counts for this zones.json")] = None,
          force: Annotated[bool, typer.Option(help="replace existing outputs")] = False) -> None:
    """Render synthetic depth scenes: ITOP files (single person) or, with --people, the training format."""
    from toppose.atomic import atomic_dir
    from toppose.synth.writers import write_itop, write_training

    span = _people(people)
    if view not in ("top", "side"):
        raise ConfigError(f"--view must be top or side, got {view!r}")
    if not split.isidentifier():
        raise ConfigError(f"--split must be a plain word such as train or test, got {split!r}")
    for name, value in (("--frames", frames), ("--workers", workers)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    options = _scene_options(sensor, clutter, camera_height, tilt, fov)
    if sequence and span is None:
        raise ConfigError("--sequence needs --people MIN:MAX")
    if zones is not None and not sequence:
        raise ConfigError("--zones needs --sequence")
    if sequence and view != "top":
        raise ConfigError("--sequence renders the top view only")
    if sequence:
        _check_sequence_options(span, people, workers, clutter, camera_height, tilt, fov, sensor, walls, fully_in_view,
                                split)
    if span is None and fov is not None:
        raise ConfigError("--fov: ITOP files hold one camera, ITOP's (their real-world coordinates assume it); "
                          "varied fields of view need --people")
    if span is None:
        lp, dp = write_itop(out, view, frames, seed, split, workers, options, force)
        typer.echo(f"wrote {lp} and {dp}")
        return
    if sequence:
        _sequence(out, frames, seed, span, zones, force)
        return
    with atomic_dir(out, force) as tmp:
        dataset = write_training(tmp, view, frames, seed, span, fully_in_view, workers, _progress("frames"), walls,
                                 options)
    typer.echo(f"wrote {len(dataset['images'])} frames, {len(dataset['annotations'])} people to {out}")


def _check_sequence_options(span, people, workers, clutter, camera_height, tilt, fov, sensor, walls, fully_in_view,
                            split) -> None:
    """A sequence is one scene: a camera 3 m up, the generic sensor, no furniture, rendered in one
    process; options it would ignore are refused, as is a sequence nobody walks into."""
    ignored = [name for name, value, default in (
        ("--workers", workers, 1), ("--clutter", clutter, None), ("--camera-height", camera_height, "2.5:3.5"),
        ("--tilt", tilt, "0:0"), ("--fov", fov, None), ("--sensor", sensor, "generic"), ("--walls", walls, False),
        ("--fully-in-view", fully_in_view, False), ("--split", split, "train")) if value != default]
    if ignored:
        raise ConfigError(f"--sequence cannot take {', '.join(ignored)} (a sequence is one scene: a camera 3 m up, "
                          "the generic sensor, no furniture, one render process)")
    if span[1] < 1:
        raise ConfigError(f"--people {people}: a --sequence needs MAX of at least 1 (nobody to track)")


def _sequence(out: Path, frames: int, seed: int, span: tuple[int, int], zones: Optional[Path], force: bool) -> None:
    from toppose.atomic import atomic_dir
    from toppose.runtime.zones import load_zones
    from toppose.synth.sequence import write_sequence

    parsed = load_zones(zones) if zones is not None else None  # ZonesError: one line naming the file
    with atomic_dir(out, force) as tmp:
        dataset = write_sequence(tmp, frames, seed, span, parsed, _progress("frames"))
    ids = {a["track_id"] for a in dataset["annotations"]}
    typer.echo(f"wrote {len(dataset['images'])} frames, {len(dataset['annotations'])} people, {len(ids)} tracks to {out}")


@app.command()
def sheet(out: Annotated[Path, typer.Option(help="PNG file to write")],
          frames: Annotated[int, typer.Option(help="frames per sensor preset")] = 4,
          seed: Annotated[int, typer.Option()] = 0,
          clutter: Annotated[int, typer.Option(help="furniture pieces among people")] = 2,
          tilt: Tilt = "0:20", force: Annotated[bool, typer.Option(help="overwrite OUT")] = False) -> None:
    """A contact sheet: the same scenes through every sensor model (rows), for a person to look at."""
    from toppose.synth.sheet import write_sheet

    if frames < 1:
        fail("--frames must be at least 1")
    if out.exists() and not force:
        fail(f"{out} exists; pass --force to overwrite")
    if out.suffix.lower() != ".png":
        fail(f"--out must name a .png file, got {out}")
    write_sheet(out, frames, seed, clutter, _range("--tilt", tilt))
    typer.echo(f"wrote {out}")
