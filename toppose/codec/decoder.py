"""``PoseDecoder``: maps -> people, with buffers allocated once per decoder, not per frame."""

from __future__ import annotations

import numpy as np

from toppose.codec import assembly, grouping, merge, peaks, sparse
from toppose.codec.config import METHODS, DecoderConfig, resolve_method
from toppose.codec.poses import Poses
from toppose.codec.reference import decode_reference
from toppose.skeleton import OPENPOSE18, Skeleton

__all__ = ["METHODS", "PoseDecoder"]


class PoseDecoder:
    """Greedy PAF grouping. ``method``: ``sparse`` (grid peaks, sub-pixel, fastest),
    ``fine`` (the textbook algorithm at input resolution, compiled; formerly ``numba``) or
    ``reference`` (the textbook algorithm in NumPy). Skeletons with more limbs than a tree
    are assembled as a graph (see ``toppose.codec.grouping``); then pieces of one body that
    no limb joins are merged (``DecoderConfig.merge``, see ``toppose.codec.merge``).

    ``decoder(paf, heat)`` takes paf (2K, h, w) and heat (J+1, h, w) float32 and returns
    Poses in network-input pixels.
    """

    def __init__(self, skeleton: Skeleton = OPENPOSE18, stride: int = 8,
                 config: DecoderConfig = DecoderConfig(), method: str = "sparse") -> None:
        self.skeleton, self.stride, self.config = skeleton, stride, config
        self.method = resolve_method(method)
        self.graph = not assembly.is_tree(skeleton)
        self._limbs = skeleton.limb_array()
        self._redundant = skeleton.redundant_array()
        self._shares, self._dist = merge.limb_shares(skeleton), merge.body_distances(skeleton)
        self._fine_grid, self._fine_scratch = None, None  # per grid size, not per peak capacity
        self._grow(peaks_per_part=32)

    def _grow(self, peaks_per_part: int) -> None:
        J, K, M = self.skeleton.num_keypoints, len(self.skeleton.limbs), peaks_per_part
        self._peaks = np.zeros((J, M, 3), np.float64)
        self._counts = np.zeros(J, np.int64)
        self._scratch = grouping.group_scratch(J, K, M)

    def _check(self, paf: np.ndarray, heat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sk = self.skeleton
        if heat.ndim != 3 or heat.shape[0] != sk.num_heatmaps:
            raise ValueError(f"heatmaps must be ({sk.num_heatmaps}, h, w), got {heat.shape}")
        if paf.ndim != 3 or paf.shape[0] != sk.num_pafs:
            raise ValueError(f"PAFs must be ({sk.num_pafs}, h, w), got {paf.shape}")
        if paf.shape[1:] != heat.shape[1:]:
            raise ValueError(f"PAF grid {paf.shape[1:]} differs from heatmap grid {heat.shape[1:]}")
        paf = np.ascontiguousarray(paf, np.float32)
        heat = np.ascontiguousarray(heat, np.float32)
        if not (np.isfinite(heat).all() and np.isfinite(paf).all()):
            raise ValueError("maps contain NaN or inf")
        return paf, heat

    def __call__(self, paf: np.ndarray, heat: np.ndarray) -> Poses:
        paf, heat = self._check(paf, heat)
        J = self.skeleton.num_keypoints
        if heat.shape[1] == 0 or heat.shape[2] == 0:
            return Poses.empty(J)
        if self.method == "reference":
            return decode_reference(paf, heat, self.skeleton, self.stride, self.config)
        self._find_peaks(heat)
        while self._counts.max(initial=0) > self._peaks.shape[1]:
            self._grow(int(self._counts.max()) * 2)
            self._find_peaks(heat)
        return self._group(paf, heat.shape[1] * self.stride)

    def _find_peaks(self, heat: np.ndarray) -> None:
        cfg, J = self.config, self.skeleton.num_keypoints
        if self.method == "fine":
            h, w = heat.shape[1:]
            if self._fine_grid != (h, w):
                self._fine_grid, self._fine_scratch = (h, w), peaks.fine_scratch(h, w, self.stride)
            peaks.find_peaks_fine(heat, J, cfg.peak_threshold, peaks.band(self.stride), self._fine_scratch,
                                  self._peaks, self._counts)
        else:
            sparse.find_peaks_sparse(heat, J, self.stride, cfg.peak_threshold, self._peaks, self._counts)

    def _group(self, paf: np.ndarray, height: int) -> Poses:
        cfg, J, s = self.config, self.skeleton.num_keypoints, self._scratch
        mode = grouping.FINE if self.method == "fine" else grouping.SPARSE
        grouping.score_limbs(paf, self._peaks, self._counts, self._limbs, self.stride, float(height),
                             cfg.samples, cfg.paf_threshold, cfg.min_sample_fraction, mode, s)
        total = grouping.flatten(self._peaks, self._counts, s.offsets, s.flat)
        flat = s.flat[:total]
        # with merging on, every piece survives assembly; the filter runs after the merge
        parts, mean = (0, -np.inf) if cfg.merge else (cfg.min_parts, cfg.min_mean_score)
        if self.graph:
            kinds = np.repeat(np.arange(J, dtype=np.int64), self._counts)
            n_edges = assembly.graph_edges(s.conns, s.conn_counts, self._limbs, self._redundant, s.offsets, s.edges)
            n = assembly.assemble_graph(s.edges, n_edges, kinds, flat[:, 2], parts, mean, s.owner[:total], s.subset)
        else:
            n = assembly.assemble_tree(s.conns, s.conn_counts, self._limbs, self._redundant, s.offsets, flat[:, 2],
                                       parts, mean, s.subset)
        if cfg.merge:
            n = merge.merge_and_keep(s.subset, n, flat, s.offsets, self._limbs, self._shares, self._dist,
                                     cfg.merge_prior * height, cfg.merge_slack, cfg.merge_duplicate,
                                     cfg.merge_drop, cfg.merge_single_score,
                                     s.used[:total], s.scales, s.ratios, cfg.min_parts, cfg.min_mean_score)
        if n < 0:
            raise RuntimeError("people capacity exceeded")  # cannot happen: capacity = all peaks
        rows = s.subset[:n]
        keypoints = np.zeros((n, J, 3), np.float32)
        ids = rows[:, :J].astype(np.int64)
        has = ids >= 0
        keypoints[has] = flat[ids[has]]
        return Poses(keypoints, rows[:, J].astype(np.float32), rows[:, J + 1].astype(np.int32))

    def warmup(self) -> "PoseDecoder":
        """Compile (or load from cache) the kernels before the first real frame."""
        h, w = 4, 4
        heat = np.zeros((self.skeleton.num_heatmaps, h, w), np.float32)
        heat[:self.skeleton.num_keypoints, 1, 1] = 1.0
        self(np.zeros((self.skeleton.num_pafs, h, w), np.float32), heat)
        return self
