"""A run's history.csv and curves.png."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from toppose.atomic import atomic_path


def pyplot():
    """matplotlib's pyplot on the Agg backend, or None without matplotlib. The trainer imports it
    before its first epoch: imported at the end of the first one, a Ctrl-C landing during that
    second-long import left matplotlib half-initialised and ended the run with an AttributeError
    instead of 130 (seen once in four CI runs of the interrupt test)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_curves(out: Path, history: list[dict]) -> None:
    """history.csv (one row per epoch) and curves.png (losses, val AP), each written atomically."""
    keys = sorted({k for row in history for k in row}, key=lambda k: (k != "epoch", k))
    with atomic_path(out / "history.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, keys)
            writer.writeheader()
            writer.writerows(history)
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    ep = [r["epoch"] for r in history]
    a.plot(ep, [r["train_loss"] for r in history], label="train")
    if "val_loss" in history[-1]:
        a.plot(ep, [r.get("val_loss", np.nan) for r in history], label="val")
        b.plot(ep, [r.get("val_ap", np.nan) for r in history], label="val AP")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    b.set_xlabel("epoch")
    b.set_ylabel("val AP")
    fig.tight_layout()
    with atomic_path(out / "curves.png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
