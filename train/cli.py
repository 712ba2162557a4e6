"""``toppose-train``: fine-tune or train from scratch; ``--gpus N`` launches torchrun.

Options left out keep TrainConfig's defaults (or the --config file's values); only the
options given on the command line are passed on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.errors import App, ConfigError
from toppose.extras import require_extra
from toppose.train.config import TrainConfig

app = App(help="Train an OpenPose-style model.")
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def _opt(help_text: str = "", field: str | None = None, **kw):
    """An option whose shown default is TrainConfig's (the one place defaults live)."""
    shown = "x".join(map(str, _DEFAULTS[field])) if field == "input_size" else _DEFAULTS.get(field)
    return typer.Option(help=help_text, show_default=str(shown) if field else False, **kw)


@app.command()
def main(ctx: typer.Context,
         data: Annotated[Optional[list[str]], _opt("training folder, optionally DIR:WEIGHT; repeat to mix")] = None,
         out: Annotated[Optional[Path], _opt("run folder (checkpoints, curves)")] = None,
         val: Annotated[Optional[list[str]], _opt("validation folder; repeat for several")] = None,
         arch: Annotated[Optional[str], _opt("openpose or lite", "arch")] = None,
         init: Annotated[Optional[Path], _opt("initial weights (any known layout)")] = None,
         epochs: Annotated[Optional[int], _opt("", "epochs")] = None,
         epoch_size: Annotated[Optional[int], _opt("samples per epoch, mixed by weight (default: all images)")] = None,
         batch_size: Annotated[Optional[int], _opt("", "batch_size")] = None,
         lr: Annotated[Optional[float], _opt("", "lr")] = None,
         optimizer: Annotated[Optional[str], _opt("sgd or adamw", "optimizer")] = None,
         input_size: Annotated[Optional[str], _opt("HxW, multiples of 8", "input_size")] = None,
         freeze: Annotated[Optional[str], _opt("all, stages, late-stages or heads", "freeze")] = None,
         train_pattern: Annotated[Optional[list[str]], _opt("also train parameters matching")] = None,
         freeze_pattern: Annotated[Optional[list[str]], _opt("also freeze parameters matching")] = None,
         stem_lr_mult: Annotated[Optional[float], _opt("", "stem_lr_mult")] = None,
         amp: Annotated[Optional[str], _opt("none, bf16 or fp16 (CUDA)", "amp")] = None,
         rotation: Annotated[Optional[float], _opt("+- degrees of rotation augmentation", "rotation")] = None,
         workers: Annotated[Optional[int], _opt("", "workers")] = None,
         seed: Annotated[Optional[int], _opt("", "seed")] = None,
         device: Annotated[Optional[str], _opt("auto, cpu, cuda[:N]", "device")] = None,
         patience: Annotated[Optional[int], _opt("early stop after N epochs without gain", "patience")] = None,
         time_limit: Annotated[Optional[float], _opt("minutes; stop after the epoch that passes it", "time_limit_min")] = None,
         val_images: Annotated[Optional[int], _opt("validation images per epoch", "val_images")] = None,
         channels_last: Annotated[Optional[bool], _opt("channels-last memory format (GPUs)", "channels_last")] = None,
         gpu_augment: Annotated[Optional[bool], _opt("cache depth frames on the device; augment and encode targets there",
                                                      "gpu_augment")] = None,
         resume: Annotated[Optional[Path], typer.Option(help="continue the run in this folder")] = None,
         config: Annotated[Optional[Path], typer.Option(help="JSON config; given options override it")] = None,
         force: Annotated[bool, typer.Option(help="start afresh in a folder holding a run")] = False,
         gpus: Annotated[int, typer.Option(help="launch N processes with torchrun (DDP)")] = 1) -> None:
    """Train; every epoch writes last.pth, best.pth (by val AP), history.csv and curves.png."""
    require_extra("train", "toppose-train")
    from toppose.train.config import config_from_options
    from toppose.train.loop import check_inputs, train

    skip = ("resume", "config", "force", "gpus")
    given = {k: v for k, v in ctx.params.items() if k not in skip and v not in (None, [], ())}
    cfg = config_from_options(given, config, resume)
    if gpus < 1:
        raise ConfigError(f"--gpus must be at least 1, got {gpus}")
    check_inputs(cfg, resume is not None, force)
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "toppose.train.cli", *_without_gpus(sys.argv[1:])]
        raise typer.Exit(subprocess.call(cmd))
    summary = train(cfg, resume=resume is not None, force=force)
    if int(os.environ.get("RANK", 0)) == 0:
        typer.echo(f"done: {summary}")


def _without_gpus(args: list[str]) -> list[str]:
    """The command line minus ``--gpus N`` / ``--gpus=N`` (the launched processes are the GPUs)."""
    out, skip = [], False
    for a in args:
        if skip or a.startswith("--gpus="):
            skip = False
            continue
        skip = a == "--gpus"
        if not skip:
            out.append(a)
    return out


if __name__ == "__main__":
    app()
