"""People -> training targets, exactly as the textbook's training code defines them.

Glossary: P people, J keypoints, K limbs, h x w the stride-8 grid of an H x W input.
"""

from __future__ import annotations

import cv2
import numpy as np

from toppose.codec.config import cell_offset
from toppose.skeleton import OPENPOSE18, Skeleton

SIGMA = 7.0          # Gaussian sigma in input pixels
GAUSS_CUTOFF = 4.6052  # exp(-4.6052) = 0.01: cells beyond are 0
LIMB_WIDTH = 1.0     # PAF half-width in grid cells


def grid_size(input_hw: tuple[int, int], stride: int) -> tuple[int, int]:
    return input_hw[0] // stride, input_hw[1] // stride


def encode_heatmaps(people: np.ndarray, input_hw: tuple[int, int], skeleton: Skeleton = OPENPOSE18,
                    stride: int = 8, sigma: float = SIGMA) -> np.ndarray:
    """people (P, J, 3) x, y, v (COCO visibility) -> (J+1, h, w) float32.

    A Gaussian per labelled keypoint (v >= 1) centred in input pixels, cells at
    j * stride + stride/2 - 0.5, combined over people by max; the last channel is the
    background max(1 - max_j, 0).
    """
    h, w = grid_size(input_hw, stride)
    J = skeleton.num_keypoints
    heat = np.zeros((J + 1, h, w), np.float32)
    off = cell_offset(stride)
    xs = np.arange(w, dtype=np.float32) * stride + off
    ys = np.arange(h, dtype=np.float32) * stride + off
    radius = np.sqrt(2.0 * GAUSS_CUTOFF) * sigma
    for person in np.asarray(people, np.float32).reshape(-1, J, 3):
        for j in range(J):
            x, y, v = person[j]
            if v < 1:
                continue
            x0, x1 = np.searchsorted(xs, x - radius), np.searchsorted(xs, x + radius, side="right")
            y0, y1 = np.searchsorted(ys, y - radius), np.searchsorted(ys, y + radius, side="right")
            if x0 >= x1 or y0 >= y1:
                continue
            e = ((xs[x0:x1][None, :] - x) ** 2 + (ys[y0:y1][:, None] - y) ** 2) / (2.0 * sigma * sigma)
            g = np.where(e > GAUSS_CUTOFF, 0.0, np.exp(-e)).astype(np.float32)
            np.maximum(heat[j, y0:y1, x0:x1], g, out=heat[j, y0:y1, x0:x1])
    heat[J] = np.maximum(1.0 - heat[:J].max(axis=0), 0.0) if J else 1.0
    return heat


def encode_pafs(people: np.ndarray, input_hw: tuple[int, int], skeleton: Skeleton = OPENPOSE18,
                stride: int = 8, limb_width: float = LIMB_WIDTH) -> np.ndarray:
    """people (P, J, 3) -> (2K, h, w) float32 part affinity fields.

    Unit vector A -> B on every cell of the limb's box (grown by ``limb_width``) within
    ``limb_width`` cells of the line; overlapping people are averaged by a per-cell count.
    """
    h, w = grid_size(input_hw, stride)
    paf = np.zeros((skeleton.num_pafs, h, w), np.float32)
    off = cell_offset(stride)
    gx = np.arange(w, dtype=np.float32)
    gy = np.arange(h, dtype=np.float32)
    people = np.asarray(people, np.float32).reshape(-1, skeleton.num_keypoints, 3)
    for (a, b), (cx, cy) in zip(skeleton.limbs, skeleton.paf_channels):
        count = np.zeros((h, w), np.float32)
        for person in people:
            if person[a, 2] < 1 or person[b, 2] < 1:
                continue
            ax, ay = (person[a, :2] - off) / stride
            bx, by = (person[b, :2] - off) / stride
            vx, vy = bx - ax, by - ay
            norm = np.hypot(vx, vy)
            if norm == 0:
                continue
            vx, vy = vx / norm, vy / norm
            x0 = max(int(round(min(ax, bx) - limb_width)), 0)
            x1 = min(int(round(max(ax, bx) + limb_width)), w)
            y0 = max(int(round(min(ay, by) - limb_width)), 0)
            y1 = min(int(round(max(ay, by) + limb_width)), h)
            if x0 >= x1 or y0 >= y1:
                continue
            dist = np.abs((gx[x0:x1][None, :] - ax) * vy - (gy[y0:y1][:, None] - ay) * vx)
            on = dist <= limb_width
            paf[cx, y0:y1, x0:x1][on] += vx
            paf[cy, y0:y1, x0:x1][on] += vy
            count[y0:y1, x0:x1][on] += 1
        nz = count > 0
        paf[cx][nz] /= count[nz]
        paf[cy][nz] /= count[nz]
    return paf


def encode_mask(ignore: np.ndarray | None, input_hw: tuple[int, int], stride: int = 8) -> np.ndarray:
    """(H, W) ignore map (nonzero = unannotated person) -> (h, w) float32 loss weight in [0, 1]."""
    h, w = grid_size(input_hw, stride)
    if ignore is None:
        return np.ones((h, w), np.float32)
    use = (np.asarray(ignore) == 0).astype(np.float32)[: h * stride, : w * stride]
    return cv2.resize(use, (w, h), interpolation=cv2.INTER_AREA)


def encode(people: np.ndarray, input_hw: tuple[int, int], skeleton: Skeleton = OPENPOSE18,
           stride: int = 8, ignore: np.ndarray | None = None):
    """-> (paf (2K, h, w), heatmaps (J+1, h, w), mask (h, w)), the trainer's three targets."""
    return (encode_pafs(people, input_hw, skeleton, stride),
            encode_heatmaps(people, input_hw, skeleton, stride),
            encode_mask(ignore, input_hw, stride))
