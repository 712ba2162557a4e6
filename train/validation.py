"""Validation in one pass: each image is read once and gives both the loss and the decoded poses."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from toppose.codec.decoder import PoseDecoder
from toppose.evaluation import evaluate
from toppose.model_spec import ModelSpec
from toppose.train.config import TrainConfig
from toppose.train.dataset import PoseDataset
from toppose.train.predict import first_images


def stage_losses(stages, paf_t, heat_t, mask) -> list[torch.Tensor]:
    """Per stage output: MSE(pred * mask, target * mask), as the textbook trains."""
    m = mask[:, None]
    return [F.mse_loss(out.float() * m, (paf_t if i % 2 == 0 else heat_t) * m) for i, out in enumerate(stages)]


class Validation:
    """The run's validation folders, read (and checked) once when the run starts."""

    def __init__(self, cfg: TrainConfig, spec: ModelSpec) -> None:
        self.sets = [PoseDataset(folder, spec, cfg.input_size) for folder in cfg.val]
        self.limit = cfg.val_images
        self.decoder = PoseDecoder(spec.skeleton, spec.stride)

    def __call__(self, model: torch.nn.Module, device: torch.device) -> dict:
        """{} without validation folders, else val_loss, val_ap and val_ap_<folder> per folder."""
        if not self.sets:
            return {}
        model.eval()
        row, losses = {}, []
        for ds in self.sets:
            n = min(len(ds), self.limit)
            predictions = {}
            with torch.no_grad():
                for i in range(n):
                    (x, paf_t, heat_t, m), scale = ds.fitted(i)
                    paf, heat, stages = model(x[None].to(device))
                    targets = (t[None].to(device) for t in (paf_t, heat_t, m))
                    losses.append(sum(l.item() for l in stage_losses(stages, *targets)))
                    poses = self.decoder(paf[0].float().cpu().numpy(), heat[0].float().cpu().numpy())
                    predictions[ds.images[i]["id"]] = poses.scaled(scale)
            result = evaluate(first_images(ds.dataset, n), predictions)
            row[f"val_ap_{ds.folder.name}"] = result.stats["AP"]
        row["val_loss"] = float(np.mean(losses))
        row["val_ap"] = float(np.mean([v for k, v in row.items() if k.startswith("val_ap_")]))
        return row
