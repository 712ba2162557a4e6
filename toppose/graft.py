"""Graft a skeleton's extra limbs onto trained weights: ``toppose graft IN OUT --skeleton topview23``.

The extra PAF channels are appended after the original ones (as ``topview23`` defines
them). Every PAF output layer gains rows for them (small random weights, zero bias, so
the new maps start near zero); every stage that reads the previous stage's maps gains
input columns for them, all zero, so every original output channel is computed from
exactly the same weights and the original outputs are unchanged until training.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.skeleton import Skeleton
from toppose.weights import load_weights, save_checkpoint


class GraftError(ValueError):
    """A graft that cannot be made; the message names the file or skeleton and the problem."""


def _extends(old: Skeleton, new: Skeleton) -> bool:
    k = len(old.limbs)
    return (new.keypoints == old.keypoints and new.limbs[:k] == old.limbs
            and new.paf_channels[:k] == old.paf_channels and len(new.limbs) > k)


def _insert_at(spec: ModelSpec, cin_old: int) -> int:
    """Input channel of a stage's concatenated maps where the new PAF channels go (after the old PAFs)."""
    num_pafs, num_heat = spec.skeleton.num_pafs, spec.skeleton.num_heatmaps
    if spec.arch == "openpose":   # cat([paf, heat, features])
        return num_pafs
    return cin_old - num_heat    # lite: cat([features, paf, heat])


def graft_state(old: dict[str, torch.Tensor], spec: ModelSpec, target: dict[str, torch.Tensor],
                seed: int = 0) -> dict[str, torch.Tensor]:
    """Old state dict (``spec``'s skeleton) -> state dict shaped like ``target`` (more PAFs).

    Tensors whose shapes agree are copied; a PAF output layer (more output channels) keeps
    its rows and gets new ones ~N(0, 1e-3), bias 0; a stage input layer (more input
    channels) keeps its columns and gets zero columns after the old PAF block."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, t_new in target.items():
        t_old = old[name]
        if t_old.shape == t_new.shape:
            out[name] = t_old.clone()
            continue
        grown = torch.zeros(t_new.shape, dtype=t_old.dtype)
        if t_old.shape[0] != t_new.shape[0]:   # output rows: [old PAFs, new PAFs]
            n = t_old.shape[0]
            grown[:n] = t_old
            if t_new.dim() > 1:
                grown[n:] = torch.randn(grown[n:].shape, generator=gen, dtype=t_old.dtype) * 1e-3
        else:                                   # input columns: insert zeros after the old PAFs
            at, extra = _insert_at(spec, t_old.shape[1]), t_new.shape[1] - t_old.shape[1]
            grown[:, :at] = t_old[:, :at]
            grown[:, at + extra:] = t_old[:, at:]
        out[name] = grown
    return out


def graft(src: str | Path, dst: str | Path, skeleton: Skeleton, force: bool = False) -> ModelSpec:
    """Write ``dst``: the weights of ``src`` (any known layout) with ``skeleton``'s extra PAFs."""
    dst = Path(dst)
    if dst.exists() and not force:
        raise GraftError(f"{dst}: exists (use --force to overwrite)")
    loaded = load_weights(src)
    if not _extends(loaded.spec.skeleton, skeleton):
        raise GraftError(f"{src}: skeleton {loaded.spec.skeleton.name} ({len(loaded.spec.skeleton.limbs)} limbs) "
                         f"is not a prefix of {skeleton.name} ({len(skeleton.limbs)} limbs)")
    spec = replace(loaded.spec, skeleton=skeleton)
    model = build_network(spec)
    model.load_state_dict(graft_state(loaded.model.state_dict(), loaded.spec, model.state_dict()))
    provenance = {**loaded.provenance, "grafted_from": str(src), "graft_layout": loaded.layout,
                  "graft_skeleton": f"{loaded.spec.skeleton.name} -> {skeleton.name}"}
    save_checkpoint(dst, model, spec, provenance)
    return spec
