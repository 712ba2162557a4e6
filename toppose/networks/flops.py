"""Count a network's multiply-adds by hooking its convolutions (FLOPs = 2 x MACs)."""

from __future__ import annotations

import torch
from torch import nn


def count_flops(model: nn.Module, input_hw: tuple[int, int]) -> int:
    """FLOPs of one forward pass on a (1, 3, H, W) input, counting conv layers only."""
    total = 0

    def hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += 2 * k * output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, *input_hw))
    finally:
        for h in handles:
            h.remove()
    return total
