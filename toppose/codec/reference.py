"""The textbook's ``decode_pose`` in plain NumPy: the readable reference for the kernels.

Differences from the textbook, on purpose: maps are decoded at the network input's
resolution (coordinates are mapped back to the original frame afterwards instead of
resizing 57 maps again); heatmaps are upsampled with a mirrored border and without
extrapolation past the outermost cell centres (``upsample_heatmaps``; OpenCV's
replicated border made false peaks at the edge) and peaks are 8-neighbour maxima; a
zero-length candidate limb is skipped instead of dividing by zero; the limb table comes
from the skeleton, and skeletons with more limbs than a tree are assembled as a graph.
The sparse decoder's reference is ``decode_sparse_reference`` (parts in ``reference_parts``).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from toppose.codec.assembly import is_tree
from toppose.codec.config import DecoderConfig, cell_offset
from toppose.codec.peaks import band
from toppose.codec.poses import Poses
from toppose.codec.reference_parts import (assemble_graph, bicubic_taps, find_peaks_sparse, merge_reference,
                                          sample_bilinear)
from toppose.skeleton import Skeleton

__all__ = ["assemble", "assemble_graph", "connect_limbs", "decode_reference", "decode_sparse_reference",
           "find_peaks", "find_peaks_sparse", "upsample", "upsample_heatmaps"]


def resize_maps(maps: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(C, h, w) -> (H, W, C) float32, bicubic (OpenCV)."""
    hwc = np.ascontiguousarray(np.asarray(maps, np.float32).transpose(1, 2, 0))
    out = np.empty((hw[0], hw[1], hwc.shape[2]), np.float32)
    for c0 in range(0, hwc.shape[2], 256):  # OpenCV handles at most 512 channels at once
        part = cv2.resize(hwc[:, :, c0:c0 + 256], (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC)
        out[:, :, c0:c0 + 256] = part.reshape(hw[0], hw[1], -1)
    return out


def upsample(maps: np.ndarray, stride: int) -> np.ndarray:
    """(C, h, w) -> (h*stride, w*stride, C) float32, bicubic (OpenCV)."""
    return resize_maps(maps, (maps.shape[1] * stride, maps.shape[2] * stride))


def upsample_heatmaps(maps: np.ndarray, stride: int) -> np.ndarray:
    """(C, h, w) -> (h*stride, w*stride, C) float32: OpenCV's bicubic between the cell
    centres, with taps beyond the edge mirrored (not replicated), and the edge value (no
    extrapolation) in the half cell beyond the outermost centres.

    Separable like OpenCV (horizontal pass, then vertical, float32, taps in order)."""
    maps = np.asarray(maps, np.float32)
    C, h, w = maps.shape
    ys, wy = bicubic_taps(h, stride)
    xs, wx = bicubic_taps(w, stride)
    rows = np.zeros((C, h, w * stride), np.float32)
    for b in range(4):
        rows += maps[:, :, xs[:, b]] * wx[:, b]
    out = np.zeros((C, h * stride, w * stride), np.float32)
    for a in range(4):
        out += rows[:, ys[:, a], :] * wy[:, a, None]
    return np.ascontiguousarray(out.transpose(1, 2, 0))


def find_peaks(heat: np.ndarray, threshold: float, edge: int = 0) -> list[np.ndarray]:
    """(H, W, J) -> per keypoint an (n, 4) array of x, y, score, id (row-major order).

    Only pixels at least ``edge`` from the border take part (``upsample_heatmaps`` leaves
    a plateau beyond, a copy of the innermost band pixel). A peak exceeds the threshold,
    is > its 8 neighbours before it in row-major order and >= those after it (the textbook
    compares 4 neighbours with >=: two diagonal pixels of one ridge would both win)."""
    peaks, counter = [], 0
    heat = heat[edge:heat.shape[0] - edge, edge:heat.shape[1] - edge]
    H, W = heat.shape[:2]
    for j in range(heat.shape[2]):
        m = heat[:, :, j]
        pad = np.pad(m, 1, constant_values=-np.inf)
        binary = m > threshold
        for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            nb = pad[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]
            binary &= (m > nb) if (dy < 0 or (dy == 0 and dx < 0)) else (m >= nb)
        ys, xs = np.nonzero(binary)
        ids = np.arange(counter, counter + len(xs))
        peaks.append(np.stack([xs + edge, ys + edge, m[ys, xs], ids], axis=1).astype(np.float64).reshape(-1, 4))
        counter += len(xs)
    return peaks


def sample_rounded(paf_hwc: np.ndarray):
    """The textbook's PAF sampler on upsampled (H, W, 2K) maps: the pixel nearest each point."""
    def sample(channel: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        rx = np.array([int(round(x)) for x in xs])
        ry = np.array([int(round(y)) for y in ys])
        return paf_hwc[ry, rx, channel]
    return sample


def connect_limbs(paf, peaks: list[np.ndarray], skeleton: Skeleton,
                  cfg: DecoderConfig, height: int) -> list[np.ndarray]:
    """Per limb an (n, 5) array of id A, id B, score, index A, index B (greedy one-to-one).

    ``paf``: upsampled (H, W, 2K) maps, or a sampler ``(channel, xs, ys) -> values``."""
    sample = sample_rounded(paf) if isinstance(paf, np.ndarray) else paf
    connections = []
    for (a, b), (px, py) in zip(skeleton.limbs, skeleton.paf_channels):
        cand_a, cand_b = peaks[a], peaks[b]
        candidates = []
        for i in range(len(cand_a)):
            for j in range(len(cand_b)):
                vec = cand_b[j, :2] - cand_a[i, :2]
                norm = np.sqrt(vec[0] ** 2 + vec[1] ** 2)
                if norm == 0:
                    continue
                vec = vec / norm
                xs = np.linspace(cand_a[i, 0], cand_b[j, 0], num=cfg.samples)
                ys = np.linspace(cand_a[i, 1], cand_b[j, 1], num=cfg.samples)
                scores = sample(px, xs, ys) * vec[0] + sample(py, xs, ys) * vec[1]
                with_prior = scores.sum() / len(scores) + min(0.5 * height / norm - 1, 0)
                enough = len(np.nonzero(scores > cfg.paf_threshold)[0]) > cfg.min_sample_fraction * len(scores)
                if enough and with_prior > 0:
                    candidates.append([i, j, with_prior])
        candidates.sort(key=lambda c: c[2], reverse=True)
        chosen = np.zeros((0, 5))
        for i, j, s in candidates:
            if i not in chosen[:, 3] and j not in chosen[:, 4]:
                chosen = np.vstack([chosen, [cand_a[i, 3], cand_b[j, 3], s, i, j]])
                if len(chosen) >= min(len(cand_a), len(cand_b)):
                    break
        connections.append(chosen)
    return connections


def assemble(connections: list[np.ndarray], all_peaks: np.ndarray, skeleton: Skeleton,
             cfg: DecoderConfig) -> np.ndarray:
    """Greedy person assembly -> subset (P, J + 2): part ids (-1 = none), total score, count."""
    J = skeleton.num_keypoints
    subset = -1 * np.ones((0, J + 2))
    for k, ((a, b), redundant) in enumerate(zip(skeleton.limbs, skeleton.redundant)):
        for part_a, part_b, score, _, _ in connections[k]:
            found, idx = 0, [-1, -1]
            for s in range(len(subset)):
                if subset[s][a] == part_a or subset[s][b] == part_b:
                    if found < 2:
                        idx[found] = s
                    found += 1
            if found == 1:
                s = idx[0]
                if subset[s][b] != part_b:
                    subset[s][b] = part_b
                    subset[s][-1] += 1
                    subset[s][-2] += all_peaks[int(part_b), 2] + score
            elif found == 2:
                s1, s2 = idx
                membership = ((subset[s1] >= 0).astype(int) + (subset[s2] >= 0).astype(int))[:-2]
                if len(np.nonzero(membership == 2)[0]) == 0:  # disjoint: merge
                    subset[s1][:-2] += subset[s2][:-2] + 1
                    subset[s1][-2:] += subset[s2][-2:]
                    subset[s1][-2] += score
                    subset = np.delete(subset, s2, 0)
                else:
                    subset[s1][b] = part_b
                    subset[s1][-1] += 1
                    subset[s1][-2] += all_peaks[int(part_b), 2] + score
            elif found == 0 and not redundant:
                row = -1 * np.ones(J + 2)
                row[a], row[b] = part_a, part_b
                row[-1] = 2
                row[-2] = all_peaks[int(part_a), 2] + all_peaks[int(part_b), 2] + score
                subset = np.vstack([subset, row])
    keep = [s for s in range(len(subset))
            if subset[s][-1] >= cfg.min_parts and subset[s][-2] / subset[s][-1] >= cfg.min_mean_score]
    return subset[keep]


def decode_reference(paf: np.ndarray, heat: np.ndarray, skeleton: Skeleton, stride: int = 8,
                     cfg: DecoderConfig = DecoderConfig()) -> Poses:
    """paf (2K, h, w), heat (J+1, h, w) at stride -> Poses in input pixels (``fine`` decoder)."""
    J = skeleton.num_keypoints
    heat_up = upsample_heatmaps(heat[:J], stride)
    peaks = find_peaks(heat_up, cfg.peak_threshold, band(stride))
    return _people(upsample(paf, stride), peaks, skeleton, cfg, heat_up.shape[0])


def decode_sparse_reference(paf: np.ndarray, heat: np.ndarray, skeleton: Skeleton, stride: int = 8,
                            cfg: DecoderConfig = DecoderConfig()) -> Poses:
    """The ``sparse`` decoder in NumPy: grid peaks, sub-pixel fit, bilinear PAF samples."""
    J = skeleton.num_keypoints
    peaks = find_peaks_sparse(heat[:J], stride, cfg.peak_threshold)
    off = cell_offset(stride)

    def sample(channel: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return sample_bilinear(paf[channel], (ys - off) / stride, (xs - off) / stride)

    return _people(sample, peaks, skeleton, cfg, heat.shape[1] * stride)


def _people(paf, peaks: list[np.ndarray], skeleton: Skeleton, cfg: DecoderConfig, height: int) -> Poses:
    """Peaks (per keypoint (n, 4) x, y, score, id) -> connections -> Poses."""
    J = skeleton.num_keypoints
    all_peaks = np.concatenate(peaks) if peaks else np.zeros((0, 4))
    connections = connect_limbs(paf, peaks, skeleton, cfg, height)
    # with merging on, every piece survives assembly; the filter runs after the merge
    keep_all = replace(cfg, min_parts=0, min_mean_score=-np.inf) if cfg.merge else cfg
    if is_tree(skeleton):
        subset = assemble(connections, all_peaks, skeleton, keep_all)
    else:
        kinds = np.concatenate([np.full(len(p), j) for j, p in enumerate(peaks)]).astype(int)
        subset = assemble_graph(connections, all_peaks[:, 2], kinds, skeleton, keep_all)
    if cfg.merge:
        subset = merge_reference(subset, all_peaks[:, :3], np.array([len(p) for p in peaks]), skeleton, cfg, height)
    keypoints = np.zeros((len(subset), J, 3), np.float32)
    for p, row in enumerate(subset):
        for j in range(J):
            if row[j] >= 0:
                keypoints[p, j] = all_peaks[int(row[j]), :3]
    return Poses(keypoints, subset[:, -2].astype(np.float32), subset[:, -1].astype(np.int32))
