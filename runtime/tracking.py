"""A multi-person tracker for decoded poses: constant-velocity Kalman + pose-aware assignment.

Dimensions: T tracks, D detections, J keypoints. Every track's state lives in arrays of this
instance (centre and velocity (T, 4), covariance (T, 4, 4), last keypoints (T, J, 3)); a frame
is a few Numba kernels (``track_kernels``: Kalman steps, costs, merging) and SciPy's
``linear_sum_assignment``.

Cost: 1 - an OKS-style similarity of the detection to the track's last pose shifted by its
predicted motion, summed over the keypoints both have and divided by the number the track has
(at least ``min_count``): a 3-keypoint fragment beside a person is a worse match for their
track than the whole detection of them. A pair is allowed when its shared keypoints agree
(their mean similarity, over at least ``min_count``: one lucky keypoint is not a match). Poses with no
keypoint in common are never matched (from above, the body centre of a person half out of view
is one hand, and a hand of someone leaving lies beside the head of someone entering). Pieces of
one person are merged before assignment, and pieces left over after it are merged into the
tracked person beside them, never two pieces matched to two tracks (``merge_fragments``). A track is tentative until ``min_hits`` consecutive matches,
then gets the next id (ids are never reused); unmatched, it is lost (kept and predicted) for
``max_lost`` frames; a lost track whose prediction leaves the image is dropped before the next
assignment, so a person who left at a border does not hand their id to someone entering there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from toppose.codec.poses import Poses
from toppose.runtime.track_kernels import body_kernel, correct_kernel, cost_kernel, predict_kernel
from toppose.runtime.track_pieces import TORSO_MASK, body_centres, fast_centres, merge_fragments

_BIG = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    min_hits: int = 3           # consecutive matches before a track gets an id
    max_lost: int = 30          # frames a confirmed track survives unmatched
    max_cost: float = 0.75      # pairs whose shared keypoints agree less (1 - mean similarity) are refused
    min_count: int = 2          # keypoint similarity is averaged over at least this many keypoints
    kappa: float = 0.25         # keypoint tolerance as a fraction of the person's size
    centre_tol: float = 0.3     # body-centre gate as a fraction of the person's size
    min_size: float = 120.0     # px; a person's size at least (merge and spawn radii scale with it)
    accel_std: float = 1.0      # px / frame^2, the Kalman process noise
    meas_std: float = 2.0       # px, the measured centre's noise
    coast: int = 5              # frames a lost track still counts for zones
    merge_radius: float = 0.45  # fragments of one person closer than this x min_size are merged
    merge_agree: float = 35.0   # px; pieces whose shared keypoints differ more are two people
    spawn_gap: float = 0.45     # no new track closer than this x min_size to a matched one
    clear_parts: int = 12       # keypoints for a centre to count as clearly seen (line crossings)
    min_parts: int = 3          # keypoints a detection needs to start a track (a hand at the border does not)
    max_var: float = 1600.0     # px^2; a lost track's search area stops growing here
    edge: float = 0.0           # px; a track lost while its centre was this close to the border has left
    #                             (helps on clean poses, hurts on the bundled model's flicker at the border: off)


def _sizes(keypoints: np.ndarray, min_size: float) -> np.ndarray:
    """(N, J, 3) -> (N,) sqrt of the found keypoints' box area in px, at least ``min_size``."""
    found = keypoints[..., 2] > 0
    big = np.where(found[..., None], keypoints[..., :2], np.inf)
    small = np.where(found[..., None], keypoints[..., :2], -np.inf)
    span = np.maximum(small.max(1) - big.min(1), 0.0)
    span = np.where(np.isfinite(span), span, 0.0)
    return np.maximum(np.sqrt(span[:, 0] * span[:, 1]), min_size)


@dataclass
class TrackFrame:
    """One frame's result. poses: the people after merging fragments, D of them; ids (D,) int,
    -1 = not (yet) a confirmed track; tracks: confirmed tracks seen within ``coast`` frames, as
    track_ids (N,) and body centres (N, 2) px (as measured, or predicted while coasting); ended:
    ids dropped this frame; seen (N,): measured this frame (not only predicted) with ``clear_parts`` keypoints or more, so its
    centre is not that of a half-seen body at the image edge."""

    poses: Poses
    ids: np.ndarray
    track_ids: np.ndarray
    centres: np.ndarray
    ended: list[int]
    seen: np.ndarray


class Tracker:
    """``Tracker().update(poses, (H, W))`` once per frame, in order."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.cfg = config
        q = config.accel_std ** 2
        self._q = q * np.array([[.25, 0, .5, 0], [0, .25, 0, .5], [.5, 0, 1, 0], [0, .5, 0, 1]])
        self.x = np.zeros((0, 4))
        self.P = np.zeros((0, 4, 4))
        self.kp = np.zeros((0, 18, 3), np.float32)
        self.centre_kp = np.zeros((0, 2))   # the centre of ``kp`` (its position when last seen)
        self.whole_kp = np.zeros((0, 18, 3), np.float32)   # the last pose with the whole torso found
        self.whole_c = np.zeros((0, 2))      # its torso centre
        self.offset = np.zeros((0, 2))       # body centre - centre of ``kp`` (a half-seen body's centre is off)
        self.ids = np.zeros(0, np.int64)     # -1 while tentative
        self.hits = np.zeros(0, np.int64)
        self.misses = np.zeros(0, np.int64)
        self.next_id = 1

    def update(self, poses: Poses, image_hw: tuple[int, int]) -> TrackFrame:
        """poses: the frame's decoded people (P, J, 3) px; image (H, W)."""
        kp = np.ascontiguousarray(poses.keypoints, np.float32)
        centres, ok = fast_centres(kp)
        merged, _ = merge_fragments(poses, self.cfg.merge_radius * self.cfg.min_size, centres,
                                    self.cfg.merge_agree)
        if merged is not poses:
            poses, kp = merged, np.ascontiguousarray(merged.keypoints, np.float32)
            centres, ok = fast_centres(kp)
        if len(self.kp) == 0 and self.kp.shape[1] != kp.shape[1]:
            self.kp = self.whole_kp = np.zeros((0, kp.shape[1], 3), np.float32)
        self._predict()
        gone = self._drop(self._outside(image_hw) & (self.misses > 0))   # lost and predicted out: they left
        pairs = self._associate(kp, centres, ok)
        fixed = np.zeros(len(kp), bool)
        fixed[pairs[:, 1]] = True
        merged = poses
        if len(pairs) and not fixed.all():
            merged, alive = merge_fragments(poses, self.cfg.merge_radius * self.cfg.min_size, centres,
                                            self.cfg.merge_agree, fixed)
        if merged is not poses:   # leftover pieces went into the tracked people beside them
            poses, kp = merged, np.ascontiguousarray(merged.keypoints, np.float32)
            centres, ok = fast_centres(kp)
            pairs = np.stack([pairs[:, 0], (np.cumsum(alive) - 1)[pairs[:, 1]]], 1)
        det_ids = np.full(len(kp), -1, np.int64)
        matched = np.zeros(len(self.x), bool)
        free = ok.copy()
        if len(pairs):
            t, d = pairs[:, 0], pairs[:, 1]
            self._correct(t, centres[d])
            self.kp[t], self.centre_kp[t] = kp[d], centres[d]
            body_kernel(t, kp[d], centres[d], TORSO_MASK[:kp.shape[1]], self.whole_kp, self.whole_c, self.offset)
            self.hits[t] += 1
            self.misses[t] = 0
            matched[t], free[d] = True, False
            new = t[(self.ids[t] < 0) & (self.hits[t] >= self.cfg.min_hits)]
            if len(new):
                self.ids[new] = np.arange(self.next_id, self.next_id + len(new))
                self.next_id += len(new)
            det_ids[d] = self.ids[t]
        self.misses[~matched] += 1
        if free.any() and matched.any():   # a leftover piece right beside a tracked person is not a newcomer
            near = ((centres[:, None] - self.x[None, matched, :2]) ** 2).sum(-1).min(1)
            free &= near >= (self.cfg.spawn_gap * self.cfg.min_size) ** 2
        ended = gone + (self._prune(image_hw) if not matched.all() else [])
        free &= (kp[:, :, 2] > 0).sum(1) >= self.cfg.min_parts
        if free.any():
            self._spawn(kp[free], centres[free])
        live = (self.ids >= 0) & (self.misses <= self.cfg.coast)
        clear = (self.misses[live] == 0) & ((self.kp[live, :, 2] > 0).sum(1) >= self.cfg.clear_parts)
        seen = (self.misses[live] == 0)[:, None]   # measured: the body centre itself; coasting: predicted
        centres = np.where(seen, self.centre_kp[live], self.x[live, :2]) + self.offset[live]
        return TrackFrame(poses, det_ids, self.ids[live], centres, ended, clear)

    def body_reference(self, t: np.ndarray, kp: np.ndarray, centres: np.ndarray) -> None:
        """NumPy reference of ``body_kernel``: tracks t (M,) matched detections (M, J, 3) with
        centres (M, 2). With the whole torso found, its centre is the body's and the pose is kept;
        otherwise the body centre is the kept pose's centre moved as the keypoints both have
        moved, so the centre of someone half out of view (or whose hip comes and goes) does not
        jump to the part in view (and count line crossings nobody made)."""
        torso = TORSO_MASK[:kp.shape[1]]
        whole = (kp[:, torso, 2] > 0).all(1)
        shared = (kp[..., 2] > 0) & (self.whole_kp[t, :, 2] > 0)                    # (M, J)
        n = shared.sum(1)
        moved = ((kp[..., :2] - self.whole_kp[t, :, :2]) * shared[..., None]).sum(1) / np.maximum(n, 1)[:, None]
        body = np.where((whole | (n == 0))[:, None], centres, self.whole_c[t] + moved)
        self.offset[t] = body - centres
        self.whole_kp[t[whole]], self.whole_c[t[whole]] = kp[whole], centres[whole]

    def _predict(self) -> None:
        predict_kernel(self.x, self.P, self._q)

    def _correct(self, t: np.ndarray, z: np.ndarray) -> None:
        """Kalman update of tracks ``t`` with measured centres z (M, 2)."""
        correct_kernel(self.x, self.P, t, z, self.cfg.meas_std ** 2)

    def _cost(self, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """(len(tracks), D) cost = 1 - similarity, _BIG where assignment is not allowed (Numba)."""
        cfg = self.cfg
        out = np.empty((len(tracks), len(kp)))
        xy = self.x[tracks, :2]
        var = np.minimum(self.P[tracks, 0, 0] + self.P[tracks, 1, 1], cfg.max_var)
        cost_kernel(self.kp[tracks], xy - self.centre_kp[tracks], xy, var, kp, centres, ok, cfg.kappa,
                    cfg.centre_tol, cfg.min_size, cfg.min_count, cfg.max_cost, _BIG, out)
        return out

    def cost_reference(self, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """NumPy reference of ``_cost``."""
        cfg = self.cfg
        shift = self.x[tracks, :2] - self.centre_kp[tracks]          # predicted motion since last seen
        tk = self.kp[tracks]
        pred = tk[:, None, :, :2] + shift[:, None, None, :]          # (T, 1, J, 2)
        shared = (tk[:, None, :, 2] > 0) & (kp[None, :, :, 2] > 0)  # (T, D, J)
        d2 = ((pred - kp[None, :, :, :2]) ** 2).sum(-1)
        size = _sizes(tk, cfg.min_size)
        tol2 = 2 * (cfg.kappa * size) ** 2
        n = shared.sum(-1)
        own = (tk[:, None, :, 2] > 0).sum(-1)                        # (T, 1) keypoints the track has
        sim = (np.exp(-d2 / tol2[:, None, None]) * shared).sum(-1) / np.maximum(own, cfg.min_count)
        dc2 = ((self.x[tracks, None, :2] - centres[None]) ** 2).sum(-1)
        spread = 2 * (cfg.centre_tol * size) ** 2 + np.minimum(np.trace(self.P[tracks, :2, :2], axis1=1, axis2=2),
                                                                 cfg.max_var)
        agree = (np.exp(-d2 / tol2[:, None, None]) * shared).sum(-1) / np.maximum(n, cfg.min_count)
        cost = 1.0 - sim
        cost[:, ~ok] = _BIG
        cost[(n == 0) | (1.0 - agree > cfg.max_cost) | (dc2 > 4 * spread[:, None])] = _BIG
        return cost

    def _associate(self, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """(M, 2) matched (track, detection): confirmed tracks first, then tentative ones."""
        pairs = []
        free = np.ones(len(kp), bool)
        confirmed = self.ids >= 0
        for tracks in (np.flatnonzero(confirmed), np.flatnonzero(~confirmed)):
            if not len(tracks):
                continue
            dets = np.flatnonzero(free & ok)
            if not len(dets):
                break
            cost = self._cost(kp[dets], centres[dets], ok[dets], tracks) if len(dets) < len(kp) else \
                self._cost(kp, centres, ok, tracks)
            rows, cols = linear_sum_assignment(cost)
            keep = cost[rows, cols] < _BIG
            pairs.append(np.stack([tracks[rows[keep]], dets[cols[keep]]], 1))
            free[dets[cols[keep]]] = False
        return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)

    def _outside(self, image_hw: tuple[int, int]) -> np.ndarray:
        h, w = image_hw
        x, y = self.x[:, 0], self.x[:, 1]
        return (x < 0) | (y < 0) | (x >= w) | (y >= h)

    def _prune(self, image_hw: tuple[int, int]) -> list[int]:
        """Drop unmatched tentative tracks, tracks lost for longer than ``max_lost`` and tracks
        lost while last seen within ``edge`` px of the border (they walked out)."""
        h, w = image_hw
        x, y = self.centre_kp[:, 0], self.centre_kp[:, 1]
        e = self.cfg.edge
        at_edge = (x < e) | (y < e) | (x >= w - e) | (y >= h - e)
        return self._drop((self.misses > 0) & ((self.ids < 0) | (self.misses > self.cfg.max_lost) | at_edge))

    def _drop(self, drop: np.ndarray) -> list[int]:
        """Remove tracks ``drop`` (T,) bool; returns the confirmed ids among them."""
        if not drop.any():
            return []
        ended = [int(i) for i in self.ids[drop & (self.ids >= 0)]]
        keep = ~drop
        for name in ("x", "P", "kp", "centre_kp", "whole_kp", "whole_c", "offset", "ids", "hits", "misses"):
            setattr(self, name, getattr(self, name)[keep])
        return ended

    def _spawn(self, kp: np.ndarray, centres: np.ndarray) -> None:
        n = len(kp)
        if not n:
            return
        x = np.zeros((n, 4))
        x[:, :2] = centres
        P = np.tile(np.diag([self.cfg.meas_std ** 2, self.cfg.meas_std ** 2, 25.0, 25.0]), (n, 1, 1))
        self.x, self.P = np.concatenate([self.x, x]), np.concatenate([self.P, P])
        self.kp = np.concatenate([self.kp, kp.astype(np.float32)])
        self.centre_kp = np.concatenate([self.centre_kp, centres])
        self.whole_kp = np.concatenate([self.whole_kp, kp.astype(np.float32)])
        self.whole_c = np.concatenate([self.whole_c, centres])
        self.offset = np.concatenate([self.offset, np.zeros((n, 2))])
        self.ids = np.concatenate([self.ids, np.full(n, -1, np.int64)])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.misses = np.concatenate([self.misses, np.zeros(n, np.int64)])
        if self.cfg.min_hits <= 1:
            new = np.arange(len(self.ids) - n, len(self.ids))
            self.ids[new] = np.arange(self.next_id, self.next_id + n)
            self.next_id += n
