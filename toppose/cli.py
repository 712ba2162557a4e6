"""``toppose info WEIGHTS``: what a weights file is and what it expects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from toppose.errors import App, fail
from toppose.extras import require_extra

__all__ = ["app", "fail"]

app = App(no_args_is_help=True, help="toppose utilities.")


@app.callback()
def _main() -> None:
    """toppose utilities."""


@app.command()
def info(weights: Annotated[Path, typer.Argument(help="a .pth weights file or toppose checkpoint")]) -> None:
    """Print the detected layout, architecture, parameter count, preprocessing and provenance."""
    require_extra("train", "toppose info", "torch")
    from toppose.weights import load_weights

    loaded = load_weights(weights)
    spec = loaded.spec
    params = sum(p.numel() for p in loaded.model.parameters())
    typer.echo(f"file:          {weights}")
    typer.echo(f"layout:        {loaded.layout}")
    typer.echo(f"architecture:  {spec.arch} ({params:,} parameters, stride {spec.stride})")
    typer.echo(f"skeleton:      {spec.skeleton.name} ({spec.skeleton.num_keypoints} keypoints, "
               f"{len(spec.skeleton.limbs)} limbs)")
    typer.echo(f"preprocessing: {spec.preprocess}" + ("" if loaded.layout == "toppose" else " (default for this layout)"))
    typer.echo(f"input:         {spec.encoding.describe()}")
    if loaded.layout == "toppose":
        typer.echo(f"provenance:    {json.dumps(loaded.provenance, sort_keys=True)}")


@app.command()
def init(out: Annotated[Path, typer.Argument(help="checkpoint to write")],
         arch: Annotated[str, typer.Option(help="openpose or lite")] = "lite",
         preprocess: Annotated[str, typer.Option(help="vgg or rtpose")] = "vgg",
         seed: Annotated[int, typer.Option(help="initialisation seed")] = 0,
         force: Annotated[bool, typer.Option(help="replace an existing OUT")] = False) -> None:
    """Write a freshly initialised network as a toppose checkpoint."""
    require_extra("train", "toppose init")
    import torch

    from toppose.atomic import check_output
    from toppose.errors import ConfigError
    from toppose.model_spec import ModelSpec
    from toppose.networks import build_network
    from toppose.weights import save_checkpoint

    check_output(out, force)
    try:
        spec = ModelSpec(arch=arch, preprocess=preprocess)
        torch.manual_seed(seed)
        model = build_network(spec)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"--arch {arch} / --preprocess {preprocess}: {e}") from None
    save_checkpoint(out, model, spec, {"init": "random", "seed": seed})
    typer.echo(f"wrote {out}")


@app.command()
def graft(src: Annotated[Path, typer.Argument(help="weights in any known layout (19 limbs)")],
          out: Annotated[Path, typer.Argument(help="toppose checkpoint to write")],
          skeleton: Annotated[str, typer.Option(help="target skeleton with extra limbs")] = "topview23",
          force: Annotated[bool, typer.Option(help="overwrite OUT")] = False) -> None:
    """Add a skeleton's extra PAF channels to trained weights; original outputs stay unchanged."""
    require_extra("train", "toppose graft", "torch")
    from toppose.graft import GraftError, graft as graft_weights
    from toppose.skeleton import get_skeleton
    from toppose.weights import WeightsError

    try:
        spec = graft_weights(src, out, get_skeleton(skeleton), force)
    except (GraftError, WeightsError, ValueError, OSError) as e:
        fail(str(e))
    typer.echo(f"wrote {out} ({spec.arch}, {spec.skeleton.name}: {spec.skeleton.num_pafs} PAF channels)")
