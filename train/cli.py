"""``toppose-train``: fine-tune or train from scratch; ``--gpus N`` launches torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.cli import fail
from toppose.extras import require_extra

app = typer.Typer(add_completion=False, help="Train an OpenPose-style model.")


@app.command()
def main(data: Annotated[Optional[list[str]], typer.Option(help="training folder, optionally DIR:WEIGHT; repeat to mix")] = None,
         out: Annotated[Optional[Path], typer.Option(help="run folder (checkpoints, curves)")] = None,
         val: Annotated[Optional[list[str]], typer.Option(help="validation folder; repeat for several")] = None,
         arch: Annotated[str, typer.Option(help="openpose or lite")] = "lite",
         init: Annotated[Optional[Path], typer.Option(help="initial weights (any known layout)")] = None,
         epochs: Annotated[int, typer.Option()] = 10,
         epoch_size: Annotated[int, typer.Option(help="samples per epoch, mixed by weight")] = 2000,
         batch_size: Annotated[int, typer.Option()] = 8,
         lr: Annotated[float, typer.Option()] = 1e-2,
         optimizer: Annotated[str, typer.Option(help="sgd or adamw")] = "sgd",
         input_size: Annotated[str, typer.Option(help="HxW, multiples of 8")] = "240x320",
         freeze: Annotated[str, typer.Option(help="all, stages, late-stages or heads")] = "all",
         train_pattern: Annotated[Optional[list[str]], typer.Option(help="also train parameters matching")] = None,
         freeze_pattern: Annotated[Optional[list[str]], typer.Option(help="also freeze parameters matching")] = None,
         stem_lr_mult: Annotated[float, typer.Option()] = 1.0,
         amp: Annotated[str, typer.Option(help="none, bf16 or fp16 (CUDA)")] = "none",
         rotation: Annotated[float, typer.Option(help="+- degrees of rotation augmentation")] = 180.0,
         workers: Annotated[int, typer.Option()] = 2,
         seed: Annotated[int, typer.Option()] = 0,
         device: Annotated[str, typer.Option(help="auto, cpu, cuda")] = "auto",
         patience: Annotated[int, typer.Option(help="early stop after N epochs without val AP gain")] = 0,
         time_limit: Annotated[float, typer.Option(help="minutes; stop after the epoch that passes it")] = 0.0,
         val_images: Annotated[int, typer.Option(help="validation images decoded per epoch")] = 200,
         channels_last: Annotated[bool, typer.Option(help="channels-last memory format (faster on GPUs)")] = False,
         resume: Annotated[Optional[Path], typer.Option(help="resume the run in this folder")] = None,
         config: Annotated[Optional[Path], typer.Option(help="JSON config with the same fields")] = None,
         gpus: Annotated[int, typer.Option(help="launch N processes with torchrun (DDP)")] = 1) -> None:
    """Train; every epoch writes last.pth, best.pth (by val AP), history.csv and curves.png."""
    require_extra("train", "toppose-train")
    from toppose.data.format import DataError
    from toppose.train.config import TrainConfig, parse_data_arg
    from toppose.weights import WeightsError

    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        args = [a for a in sys.argv[1:]]
        i = args.index("--gpus")
        del args[i:i + 2]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "toppose.train.cli", *args]
        raise typer.Exit(subprocess.call(cmd))
    try:
        if resume is not None:
            cfg = TrainConfig.from_file(resume / "config.json")
        elif config is not None:
            cfg = TrainConfig.from_file(config)
        else:
            if not data or out is None:
                raise ValueError("--data and --out are required (or --config / --resume)")
            h, _, w = input_size.lower().partition("x")
            cfg = TrainConfig(data=tuple(parse_data_arg(d) for d in data), out=str(out), val=tuple(val or ()),
                              arch=arch, init=str(init) if init else None, epochs=epochs, epoch_size=epoch_size,
                              batch_size=batch_size, lr=lr, optimizer=optimizer, input_size=(int(h), int(w)),
                              freeze=freeze, train_patterns=tuple(train_pattern or ()),
                              freeze_patterns=tuple(freeze_pattern or ()), stem_lr_mult=stem_lr_mult, amp=amp,
                              rotation=rotation, workers=workers, seed=seed, device=device, patience=patience,
                              time_limit_min=time_limit, val_images=val_images, channels_last=channels_last)
        from toppose.train.loop import train
        summary = train(cfg)
    except (ValueError, DataError, WeightsError, FileNotFoundError) as e:
        fail(str(e))
    if int(os.environ.get("RANK", 0)) == 0:
        typer.echo(f"done: {summary}")


if __name__ == "__main__":
    app()
