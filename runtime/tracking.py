"""A multi-person tracker for decoded poses: constant-velocity Kalman + pose-aware assignment.

Dimensions: T tracks, D detections, J keypoints. Every track's state lives in arrays of this
instance (centre and velocity (T, 4), covariance (T, 4, 4), last keypoints (T, J, 3), remembered
keypoints (T, J, 3)); a frame is a few Numba kernels (``track_kernels``: pieces and costs;
``track_state``: Kalman steps, matches, the report; NumPy references in ``track_reference``)
and SciPy's ``linear_sum_assignment``.

Motion: the Kalman filter measures how the keypoints a track and its detection both have moved
(a keypoint coming into view at the border moves the centre of the found keypoints, but is no
velocity). Memory: each track remembers every keypoint it has seen within ``max_age`` frames,
moved along with the body, so a person whom the decoder reports as the upper body in one frame
and the legs in the next still shares keypoints with their track.

Cost: 1 - an OKS-style similarity of the detection to the track's remembered keypoints shifted
by its predicted motion (tolerance growing with each keypoint's age), summed over the keypoints
both have and divided by the number the track has (at least ``min_count``): a 3-keypoint
fragment beside a person is a worse match for their track than the whole detection of them. A
pair is allowed when its shared keypoints agree (their mean similarity, over at least
``min_count``: one lucky keypoint is not a match). Poses with no keypoint in common are never
matched (from above, the body centre of a person half out of view is one hand, and a hand of
someone leaving lies beside the head of someone entering). Pieces of one person are merged
before assignment, and pieces left over after it are merged into the tracked person beside
them, never two pieces matched to two tracks (``merge_fragments``); a piece with fewer than
``min_parts`` keypoints is never merged: it is as likely a person mostly out of view (a foot at
the border beside someone), whose track merging would end. A track is tentative until
``min_hits`` consecutive matches, then gets the next id (ids are never reused). A piece too small
to start a track (under ``min_parts`` keypoints: someone walking in at the border) is followed
as a seedling: its matches count as hits, but it gets an id only in a frame where it shows
``min_parts`` (someone walking in has their id as soon as they are big enough, and is no free
piece beside a tracked person that ``spawn_gap`` keeps away). A remnant (a confirmed track last
seen with fewer than ``min_parts`` keypoints) is assigned with the tentative tracks, and left
unmatched it may take a piece as small within ``relink_px`` of what it remembers, whatever the
keypoints, unless it is moving out (``track_border.relink``). Unmatched, a track is
lost (kept and predicted) for ``max_lost`` frames, or ``edge_lost`` when last seen within
``edge`` px of the border; a lost track whose prediction leaves the image is dropped before the
next assignment, so a person who left at a border does not hand their id to someone entering there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from toppose.codec.poses import Poses
from toppose.runtime.track_border import parts, relink
from toppose.runtime.track_kernels import cost_kernel, pieces_kernel
from toppose.runtime.track_pieces import RIGID_MASK, TORSO_MASK, torso_centres, whole_torsos
from toppose.runtime.track_state import match_kernel, predict_kernel, report_kernel

_BIG = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    """Settings chosen on the tuning sequences (seeds 3, 11-16 and 31-38), never on the benchmark's."""

    min_hits: int = 3           # consecutive matches before a track gets an id
    max_lost: int = 30          # frames a confirmed track survives unmatched
    max_cost: float = 0.75      # pairs whose shared keypoints agree less (1 - mean similarity) are refused
    min_count: int = 2          # keypoint similarity is averaged over at least this many keypoints
    kappa: float = 0.15         # keypoint tolerance (ranking) as a fraction of the person's size
    agree_px: float = 30.0      # px; keypoint tolerance of the agreement test, plus the track's variance
    age_px: float = 3.0         # px per frame; a remembered keypoint's tolerance grows with its age
    max_age: int = 10           # frames a keypoint out of sight is remembered (moved along with the body)
    centre_tol: float = 0.3     # body-centre gate as a fraction of the person's size
    min_size: float = 120.0     # px; a person's size at least (merge and spawn radii scale with it)
    accel_std: float = 1.0      # px / frame^2, the Kalman process noise
    meas_std: float = 2.0       # px, the measured centre's noise
    coast: int = 5              # frames a lost track still counts for zones
    merge_radius: float = 0.45  # fragments of one person closer than this x min_size are merged
    merge_agree: float = 35.0   # px; pieces whose shared keypoints differ more are two people
    spawn_gap: float = 0.45     # no new track closer than this x min_size to a matched one (seen with min_parts)
    clear_parts: int = 12       # keypoints (the whole torso among them) for a centre to count for lines, ...
    fit_parts: int = 3          # ... or torso and head keypoints shared with the last whole pose: the body
    #                             centre of someone partly out of view, turned and moved as those moved ...
    fit_rms: float = 6.0        # ... when they still move as one body: at most this RMS px off after the turn
    min_parts: int = 3          # keypoints a detection needs to start a track (a hand at the border does not)
    #                             and to be merged with another piece (a foot beside someone is a person)
    max_var: float = 1600.0     # px^2; a lost track's search area stops growing here
    edge: float = 30.0          # px; a track lost while its centre was this close to the border ...
    edge_lost: int = 3          # ... is dropped after this many frames: they walked out (the bundled
    #                             model's flicker at the border lasts a frame or two) ...
    edge_parts: int = 12        # ... if last seen with fewer keypoints than this (partly out of view)
    relink_px: float = 80.0     # px; an unmatched remnant (fewer than min_parts keypoints) takes a piece as
    #                             small this close to a keypoint it remembers, whatever the keypoints ...
    relink_out: float = 6.0     # px / frame; ... unless moving out through the border faster than this


@dataclass
class TrackFrame:
    """One frame's result. poses: the people after merging fragments, D of them; ids (D,) int,
    -1 = not (yet) a confirmed track; tracks: confirmed tracks seen within ``coast`` frames, as
    track_ids (N,) and body centres (N, 2) px (as measured, or predicted while coasting); ended:
    ids dropped this frame; seen (N,): measured this frame (not only predicted) with ``clear_parts``
    keypoints or more, or with ``fit_parts`` torso and head keypoints its last whole pose shares and
    that move as one body with it (its body centre then found from those), so its centre is not that
    of the part of a body in view."""

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
        self.mem = np.zeros((0, 18, 3), np.float32)   # each keypoint's last position, moved along; 1 + its age
        self.centre_kp = np.zeros((0, 2))   # the centre of ``kp`` (its position when last seen)
        self.whole_kp = np.zeros((0, 18, 3), np.float32)   # the last pose with the whole torso found
        self.whole_c = np.zeros((0, 2))      # its body centre (``torso_centres``)
        self.offset = np.zeros((0, 2))       # body centre - centre of ``kp`` (a half-seen body's centre is off)
        self.ids = np.zeros(0, np.int64)     # -1 while tentative
        self.hits = np.zeros(0, np.int64)
        self.misses = np.zeros(0, np.int64)
        self.next_id = 1
        c = config
        self._params = np.array([c.kappa, c.centre_tol, c.min_size, c.min_count, c.max_cost, c.max_var, _BIG, c.agree_px, c.age_px])

    def update(self, poses: Poses, image_hw: tuple[int, int]) -> TrackFrame:
        """poses: the frame's decoded people (P, J, 3) px; image (H, W)."""
        cfg = self.cfg
        kp = np.ascontiguousarray(poses.keypoints, np.float32)
        if len(self.kp) == 0 and self.kp.shape[1] != kp.shape[1]:
            self.kp = self.whole_kp = self.mem = np.zeros((0, kp.shape[1], 3), np.float32)
        poses, kp, centres, ok, _ = self._pieces(poses, kp, np.zeros(len(kp), bool))
        predict_kernel(self.x, self.P, self._q)
        gone = self._drop(self._outside(image_hw) & (self.misses > 0)) if self.misses.any() else []
        t, d = self._associate(kp, centres, ok)   # lost and predicted out above: they left
        t, d = relink(self, kp, ok, t, d, image_hw)   # remnants at the border and small pieces
        fixed = np.zeros(len(kp), bool)
        fixed[d] = True
        if len(t) and len(t) < len(kp):   # leftover pieces go into the tracked people beside them
            poses, kp, centres, ok, alive = self._pieces(poses, kp, fixed)
            if len(kp) < len(fixed):
                d, fixed = (np.cumsum(alive) - 1)[d], fixed[alive]
        det_ids = np.full(len(kp), -1, np.int64)
        tentative = self.ids[t] < 0
        if tentative.any():   # a seedling is followed, but gets no id before it is big enough to start a track
            rows = t[tentative & (parts(kp[d]) < cfg.min_parts)]
            self.hits[rows] = np.minimum(self.hits[rows], cfg.min_hits - 2)
        j = kp.shape[1]
        self.next_id = match_kernel(t, d, kp, centres, TORSO_MASK[:j], RIGID_MASK[:j], cfg.meas_std ** 2, cfg.max_age,
                                    image_hw, self._state(),
                                    self.ids, self.hits, self.misses, self.next_id, cfg.min_hits, det_ids)
        ended = gone + (self._prune(image_hw) if len(t) < len(self.ids) else [])
        free = ok & ~fixed
        if free.any():
            self._start(kp, centres, free, len(t) > 0)
        n = len(self.ids)
        ids, out, clear = np.empty(n, np.int64), np.empty((n, 2)), np.empty(n, bool)
        n = report_kernel(self.ids, self.misses, cfg.coast, cfg.clear_parts, cfg.fit_parts, cfg.fit_rms,
                          TORSO_MASK[:j], RIGID_MASK[:j], self._state(), ids, out, clear)
        return TrackFrame(poses, det_ids, ids[:n], out[:n], ended, clear[:n])

    def _state(self) -> tuple:
        return self.x, self.P, self.kp, self.centre_kp, self.whole_kp, self.whole_c, self.offset, self.mem

    def _pieces(self, poses: Poses, kp: np.ndarray, fixed: np.ndarray):
        """Merge pieces of one person (``merge_fragments``) -> poses, kp (D, J, 3), centres
        (D, 2), ok (D,), which of the given pieces are kept (D0,) bool."""
        cfg = self.cfg
        work, scores = kp.copy(), poses.scores.astype(np.float32)
        alive, centres, ok = np.ones(len(kp), bool), np.empty((len(kp), 2)), np.empty(len(kp), bool)
        if not pieces_kernel(work, scores, TORSO_MASK[:kp.shape[1]], cfg.merge_radius * cfg.min_size,
                             cfg.merge_agree, cfg.min_parts, fixed, alive, centres, ok):
            return poses, kp, centres, ok, alive
        work = work[alive]
        return (Poses(work, scores[alive], parts(work).astype(np.int32)), work, centres[alive],
                ok[alive], alive)

    def _start(self, kp: np.ndarray, centres: np.ndarray, free: np.ndarray, any_matched: bool) -> None:
        """New tentative tracks from unmatched detections free (D,) bool with ``min_parts``
        keypoints, none closer than ``spawn_gap`` to a track matched this frame to ``min_parts``
        keypoints or more (a leftover piece beside a tracked person is not a newcomer; one
        beside a foot or a hand of someone mostly out of view may be); seedlings from those
        with fewer keypoints, wherever they are."""
        seeds = free.copy()
        matched = (self.misses == 0) & (parts(self.kp) >= self.cfg.min_parts)
        if any_matched and matched.any():
            near = ((centres[:, None] - self.x[None, matched, :2]) ** 2).sum(-1).min(1)
            free = free & (near >= (self.cfg.spawn_gap * self.cfg.min_size) ** 2)
        shown = parts(kp)
        free = (free & (shown >= self.cfg.min_parts)) | (seeds & (shown < self.cfg.min_parts))
        if free.any():
            small = shown[free] < self.cfg.min_parts   # a seedling's first frame counts, but gives no id
            self._spawn(kp[free], centres[free], np.where(small, min(1, self.cfg.min_hits - 1), 1))

    def _predict(self) -> None:
        predict_kernel(self.x, self.P, self._q)

    def _cost(self, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """(len(tracks), D) cost = 1 - similarity, _BIG where assignment is not allowed (Numba)."""
        out = np.empty((len(tracks), len(kp)))
        cost_kernel(tracks, self.mem, self.centre_kp, self.x, self.P, kp, centres, ok, self._params, out)
        return out

    def _associate(self, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Matched tracks (M,) and detections (M,): confirmed tracks first, then tentative ones
        together with confirmed remnants (last seen with fewer than ``min_parts`` keypoints: of
        someone leaving at a corner, one keypoint is no better a claim on the next small piece
        there than the newcomer's own seedling)."""
        confirmed = (self.ids >= 0) & (parts(self.kp) >= self.cfg.min_parts)
        if not len(kp) or not len(confirmed):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if confirmed.all() or not confirmed.any():
            return self._assign(kp, centres, ok, np.arange(len(confirmed)))
        t1, d1 = self._assign(kp, centres, ok, np.flatnonzero(confirmed))
        free = ok.copy()
        free[d1] = False
        dets = np.flatnonzero(free)
        if not len(dets):
            return t1, d1
        t2, d2 = self._assign(kp[dets], centres[dets], ok[dets], np.flatnonzero(~confirmed))
        return np.concatenate([t1, t2]), np.concatenate([d1, dets[d2]])

    def _assign(self, kp: np.ndarray, centres: np.ndarray, ok: np.ndarray, tracks: np.ndarray):
        """One optimal assignment (SciPy) of ``tracks`` to the detections -> (M,) tracks, (M,) detections."""
        cost = self._cost(kp, centres, ok, tracks)
        rows, cols = linear_sum_assignment(cost)
        keep = cost[rows, cols] < _BIG
        return tracks[rows[keep]], cols[keep]

    def _outside(self, image_hw: tuple[int, int]) -> np.ndarray:
        h, w = image_hw
        x, y = self.x[:, 0], self.x[:, 1]
        return (x < 0) | (y < 0) | (x >= w) | (y >= h)

    def _prune(self, image_hw: tuple[int, int]) -> list[int]:
        """Drop unmatched tentative tracks, tracks lost for longer than ``max_lost`` and tracks
        lost for longer than ``edge_lost`` while last seen within ``edge`` px of the border with
        fewer than ``edge_parts`` keypoints in view (they walked out; someone whole in view there
        is more likely hidden, or merged with a neighbour for a few frames)."""
        h, w = image_hw
        x, y = self.centre_kp[:, 0], self.centre_kp[:, 1]
        e = self.cfg.edge
        at_edge = ((x < e) | (y < e) | (x >= w - e) | (y >= h - e)) & \
            (parts(self.kp) < self.cfg.edge_parts)
        return self._drop((self.misses > 0) & ((self.ids < 0) | (self.misses > self.cfg.max_lost)
                                               | (at_edge & (self.misses > self.cfg.edge_lost))))

    def _drop(self, drop: np.ndarray) -> list[int]:
        """Remove tracks ``drop`` (T,) bool; returns the confirmed ids among them."""
        if not drop.any():
            return []
        ended = [int(i) for i in self.ids[drop & (self.ids >= 0)]]
        keep = ~drop
        for name in ("x", "P", "kp", "centre_kp", "whole_kp", "whole_c", "offset", "mem", "ids", "hits", "misses"):
            setattr(self, name, getattr(self, name)[keep])
        return ended

    def _spawn(self, kp: np.ndarray, centres: np.ndarray, hits: np.ndarray | None = None) -> None:
        """New tentative tracks from kp (n, J, 3) with centres (n, 2) px and hits (n,) (default 1);
        those with ``min_hits`` get ids."""
        n = len(kp)
        hits = np.ones(n, np.int64) if hits is None else hits
        if not n:
            return
        x = np.zeros((n, 4))
        x[:, :2] = centres
        P = np.tile(np.diag([self.cfg.meas_std ** 2, self.cfg.meas_std ** 2, 25.0, 25.0]), (n, 1, 1))
        self.x, self.P = np.concatenate([self.x, x]), np.concatenate([self.P, P])
        self.kp = np.concatenate([self.kp, kp.astype(np.float32)])
        mem = kp.astype(np.float32)
        mem[..., 2] = mem[..., 2] > 0
        self.mem = np.concatenate([self.mem, mem])
        self.centre_kp = np.concatenate([self.centre_kp, centres])
        is_whole = whole_torsos(kp)
        whole = kp.astype(np.float32)                      # the last pose with the whole torso (none yet if partial)
        whole[~is_whole] = 0
        body = np.array(centres, np.float64)               # a whole torso's centre, a missing shoulder filled in
        body[is_whole] = torso_centres(kp[is_whole])
        self.whole_kp = np.concatenate([self.whole_kp, whole])
        self.whole_c = np.concatenate([self.whole_c, body])
        self.offset = np.concatenate([self.offset, body - centres])
        self.ids = np.concatenate([self.ids, np.full(n, -1, np.int64)])
        self.hits = np.concatenate([self.hits, hits])
        self.misses = np.concatenate([self.misses, np.zeros(n, np.int64)])
        new = np.arange(len(self.ids) - n, len(self.ids))[hits >= self.cfg.min_hits]
        self.ids[new] = np.arange(self.next_id, self.next_id + len(new))
        self.next_id += len(new)
