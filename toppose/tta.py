"""Test-time augmentation on network maps: several scales plus a horizontal flip, averaged.

NumPy and OpenCV only, so ``toppose-infer --tta`` and ``toppose-eval --tta`` share it.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from toppose.preprocess import letterbox_image, normalize, plan_letterbox
from toppose.skeleton import Skeleton

Infer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # (1,3,H,W) -> paf, heat (1,C,h,w)


def _resize_maps(maps: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    hwc = np.ascontiguousarray(maps.transpose(1, 2, 0))
    out = np.stack([cv2.resize(hwc[:, :, c], (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
                    for c in range(hwc.shape[2])])
    return out.astype(np.float32)


def flip_maps(paf: np.ndarray, heat: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Maps of a mirrored image -> maps of the original (channel permutation, x sign, mirror)."""
    perm, sign = skeleton.paf_flip()
    heat_perm = list(skeleton.flip) + [skeleton.num_keypoints]
    return (sign[:, None, None] * paf[perm])[:, :, ::-1], heat[heat_perm][:, :, ::-1]


def tta_maps(image: np.ndarray, infer: Infer, skeleton: Skeleton, stride: int, convention: str,
             scales: tuple[float, ...] = (0.75, 1.0, 1.25), flip: bool = True):
    """(H, W, 3) uint8 -> averaged paf (2K, h, w), heat (J+1, h, w) on the scale-1 grid."""
    base = plan_letterbox(image.shape[:2], stride)
    grid = (base.content_hw[0] / stride, base.content_hw[1] / stride)
    paf_sum, heat_sum, n = 0.0, 0.0, 0
    for s in scales:
        box = plan_letterbox(image.shape[:2], stride, (round(image.shape[0] * s), round(image.shape[1] * s)))
        for mirrored in ((False, True) if flip else (False,)):
            img = letterbox_image(np.ascontiguousarray(image[:, ::-1]) if mirrored else image, box)
            paf, heat = (np.asarray(m[0], np.float32) for m in infer(normalize(img, convention)[None]))
            ch, cw = -(-box.content_hw[0] // stride), -(-box.content_hw[1] // stride)
            paf, heat = paf[:, :ch, :cw], heat[:, :ch, :cw]
            if mirrored:
                paf, heat = flip_maps(paf, heat, skeleton)
            target = (max(1, round(grid[0])), max(1, round(grid[1])))
            paf_sum = paf_sum + _resize_maps(paf, target)
            heat_sum = heat_sum + _resize_maps(heat, target)
            n += 1
    return paf_sum / n, heat_sum / n
