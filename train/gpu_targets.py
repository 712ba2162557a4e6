"""Batched torch versions of the codec's target encoder (toppose/codec/encoder.py is the reference).

Glossary: B batch, P people (padded, v = 0 for padding), J keypoints, K limbs, h x w the
stride grid of an H x W input. Everything runs on the tensors' device (CUDA or CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from toppose.codec.config import cell_offset
from toppose.codec.encoder import GAUSS_CUTOFF, LIMB_WIDTH, SIGMA, grid_size
from toppose.skeleton import Skeleton


def _grid(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(w, device=device, dtype=torch.float32), torch.arange(h, device=device, dtype=torch.float32)


def heatmaps(people: torch.Tensor, input_hw: tuple[int, int], stride: int = 8, sigma: float = SIGMA) -> torch.Tensor:
    """people (B, P, J, 3) x, y, v in input pixels -> (B, J+1, h, w) float32, as ``encode_heatmaps``."""
    h, w = grid_size(input_hw, stride)
    gx, gy = _grid(h, w, people.device)
    off = cell_offset(stride)
    xs, ys = gx * stride + off, gy * stride + off
    x, y, v = people[..., 0, None], people[..., 1, None], people[..., 2, None]
    ex, ey = (xs - x) ** 2 / (2.0 * sigma * sigma), (ys - y) ** 2 / (2.0 * sigma * sigma)   # (B, P, J, w), (.., h)
    labelled = (v >= 1).float()
    # exp(-(ex + ey)) = exp(-ey) exp(-ex): two small exps and a product instead of a full-size exp
    g = (torch.exp(-ey) * labelled)[..., :, None] * torch.exp(-ex)[..., None, :]        # (B, P, J, h, w)
    g = g.masked_fill(ey[..., :, None] + ex[..., None, :] > GAUSS_CUTOFF, 0.0)
    heat = g.amax(dim=1) if people.shape[1] else torch.zeros(people.shape[0], people.shape[2], h, w,
                                                             device=people.device)
    background = (1.0 - heat.amax(dim=1, keepdim=True)).clamp(min=0.0)
    return torch.cat([heat, background], dim=1)


def pafs(people: torch.Tensor, input_hw: tuple[int, int], skeleton: Skeleton, stride: int = 8,
         limb_width: float = LIMB_WIDTH) -> torch.Tensor:
    """people (B, P, J, 3) -> (B, 2K, h, w) float32 part affinity fields, as ``encode_pafs``.

    A cell belongs to a limb when it lies in the limb's box grown by ``limb_width`` (ends
    rounded like the reference) and within ``limb_width`` cells of the line; overlapping
    people are averaged.
    """
    h, w = grid_size(input_hw, stride)
    B, P = people.shape[:2]
    gx, gy = _grid(h, w, people.device)
    limbs = torch.as_tensor(skeleton.limbs, device=people.device, dtype=torch.long)   # (K, 2)
    a, b = people[:, :, limbs[:, 0]], people[:, :, limbs[:, 1]]                      # (B, P, K, 3)
    off = cell_offset(stride)
    pa, pb = (a[..., :2] - off) / stride, (b[..., :2] - off) / stride
    vec = pb - pa
    norm = torch.linalg.vector_norm(vec, dim=-1, keepdim=True)
    ok = (a[..., 2] >= 1) & (b[..., 2] >= 1) & (norm[..., 0] > 0)
    unit = vec / norm.clamp(min=1e-12)
    lo = torch.round(torch.minimum(pa, pb) - limb_width).clamp(min=0)
    hi = torch.round(torch.maximum(pa, pb) + limb_width)
    cx, cy = gx.view(1, 1, 1, 1, w), gy.view(1, 1, 1, h, 1)
    in_box = ((cx >= lo[..., 0, None, None]) & (cx < hi[..., 0, None, None]) &
              (cy >= lo[..., 1, None, None]) & (cy < hi[..., 1, None, None]))
    ux, uy = unit[..., 0], unit[..., 1]                                              # (B, P, K)
    dist = ((cx - pa[..., 0, None, None]) * uy[..., None, None] - (cy - pa[..., 1, None, None]) * ux[..., None, None]).abs()
    on = (in_box & (dist <= limb_width) & ok[..., None, None]).float()              # (B, P, K, h, w)
    count = on.sum(dim=1)
    sx, sy = torch.einsum("bpkhw,bpk->bkhw", on, ux), torch.einsum("bpkhw,bpk->bkhw", on, uy)
    safe = count.clamp(min=1.0)
    field = torch.stack([sx / safe, sy / safe], dim=2)                               # (B, K, 2, h, w)
    out = torch.zeros(B, skeleton.num_pafs, h, w, device=people.device)
    chans = torch.as_tensor(skeleton.paf_channels, device=people.device, dtype=torch.long)
    out[:, chans[:, 0]] = field[:, :, 0]
    out[:, chans[:, 1]] = field[:, :, 1]
    return out


def masks(ignore: torch.Tensor | None, batch: int, input_hw: tuple[int, int], stride: int = 8,
          device=None) -> torch.Tensor:
    """ignore (B, H, W) bool (True = unannotated person) or None -> (B, h, w) loss weights,
    the area average of the usable pixels per cell, as ``encode_mask``."""
    h, w = grid_size(input_hw, stride)
    if ignore is None:
        return torch.ones(batch, h, w, device=device)
    use = (~ignore[:, : h * stride, : w * stride]).float()[:, None]
    return F.avg_pool2d(use, stride)[:, 0]
