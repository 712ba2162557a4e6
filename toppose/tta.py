"""Test-time augmentation on network maps: several scales plus a horizontal flip, averaged.

NumPy and OpenCV only, so ``toppose-infer --tta`` and ``toppose-eval --tta`` share it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from toppose.codec.reference import resize_maps
from toppose.preprocess import Letterbox, letterbox_image, normalize, plan_letterbox
from toppose.skeleton import Skeleton

Infer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (1,3,H,W) -> paf, heat (1,C,h,w)


def _resize_maps(maps: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(C, h, w) -> (C, H, W)."""
    return resize_maps(maps, hw).transpose(2, 0, 1)


def flip_maps(paf: np.ndarray, heat: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Maps of a mirrored image -> maps of the original (channel permutation, x sign, mirror)."""
    perm, sign = skeleton.paf_flip()
    heat_perm = list(skeleton.flip) + [skeleton.num_keypoints]
    return (sign[:, None, None] * paf[perm])[:, :, ::-1], heat[heat_perm][:, :, ::-1]


def tta_maps(image: np.ndarray, infer: Infer, skeleton: Skeleton, stride: int, convention: str,
             scales: tuple[float, ...] = (0.75, 1.0, 1.25), flip: bool = True,
             input_hw: tuple[int, int] | None = None):
    """(H, W, 3) uint8 -> averaged paf (2K, h, w), heat (J+1, h, w) and the base scale.

    Maps are on the grid of the image scaled by the base scale (1, or the fit into a
    fixed-size model's ``input_hw``); poses decoded from them are divided by it. A fixed-size
    model only runs the scales whose content fits its input.
    """
    h, w = image.shape[:2]
    base_scale = 1.0 if input_hw is None else min(input_hw[0] / h, input_hw[1] / w)
    grid = (max(1, round(h * base_scale / stride)), max(1, round(w * base_scale / stride)))
    paf_sum, heat_sum, n = 0.0, 0.0, 0
    for s in scales:
        box = plan_letterbox((h, w), stride, (round(h * base_scale * s), round(w * base_scale * s)))
        if input_hw is not None:
            if box.content_hw[0] > input_hw[0] or box.content_hw[1] > input_hw[1]:
                continue
            box = Letterbox(box.scale, tuple(input_hw), box.content_hw, (h, w))
        for mirrored in ((False, True) if flip else (False,)):
            img = letterbox_image(np.ascontiguousarray(image[:, ::-1]) if mirrored else image, box)
            paf, heat = (np.asarray(m[0], np.float32) for m in infer(normalize(img, convention)[None]))
            ch, cw = -(-box.content_hw[0] // stride), -(-box.content_hw[1] // stride)
            paf, heat = paf[:, :ch, :cw], heat[:, :ch, :cw]
            if mirrored:
                paf, heat = flip_maps(paf, heat, skeleton)
            paf_sum = paf_sum + _resize_maps(paf, grid)
            heat_sum = heat_sum + _resize_maps(heat, grid)
            n += 1
    return paf_sum / n, heat_sum / n, base_scale
