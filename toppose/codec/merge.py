"""Joining the pieces of one person that no limb joins (issue 14: people at the frame border).

Limb grouping forms a person only from parts joined by limbs with PAF support. A person cut
by the frame edge, or seen from above with limbs foreshortened to nothing, often has labelled
parts in two or three groups with no limb between them (a hand and a foot, both shoulders
and a knee); each group becomes a person of its own with a low OKS, or is dropped. After
grouping, ``merge_pieces`` joins two pieces when they fit one body: every pair of their parts
of different types lies no further apart than ``scale`` x the path between the two part types
through a canonical body (``body_distances``) + ``slack``, where ``scale`` (input pixels per
body height) is the larger of the two pieces' own limb lengths (each limb's length over its
canonical share of the body height) and an image-plane prior (``prior`` x input height).
Pieces may share part types when each shared type's two parts are duplicates of one body
part: no further apart than ``scale`` x ``dup`` + ``slack`` (``DecoderConfig.merge_duplicate``;
negative: only pieces with disjoint types join). The joined person keeps, of each shared type,
the part with the stronger peak, so it never holds two parts of one type. On a network's maps
one person often comes out as pieces sharing a type (a double peak, or a second maximum that
grouping gave its own chain): with duplicates allowed 0.2 body heights apart (about a
forearm), 25 instead of 65 of 155 single-person ITOP-format frames (seed 1700) decode to more
than one person, and the bundled model's AP rose on every tuning set (seeds 9101-9106); 0.3
cost the decoder's ceiling AP on people anywhere. A piece often holds one wrong part (a knee
on the other leg, a second maximum off the body) that keeps it from fitting: when one part is
in every pair that does not fit (or of a single such pair, the weaker peak), the pieces join
without it (``DecoderConfig.merge_drop``; ``fit_drop``), after every clean fit. Two people
side by side fail on many parts and never join. On seed 1700, missed keypoints that another
piece held fell from 42 to 17 and the frames split into more than one person from 25 to 16;
the bundled model's AP rose on every tuning set, most on top_any (+0.018; blaming the smaller
piece's part instead cost the side-view set). Greedy: the best-fitting pair first (smallest
largest distance ratio), then again, until no pair fits. A part left alone by
grouping (a hand whose elbow is outside) may join a piece of two or more parts, never another
single part, and only when its peak is strong (``DecoderConfig.merge_single_score``): on a
network's maps weak lone peaks are mostly noise, and letting them join cost the bundled model
AP on the tuning set (seed 9173).

Glossary as in ``toppose.codec.peaks``; R: rows of the people table (P, J+2).
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit as _jit
from toppose.codec.grouping import keep_people
from toppose.skeleton import Skeleton

# Canonical distance between joints as a share of body height (Drillis and Contini's segment
# proportions; ears and eyes estimated). By keypoint name pair, for any skeleton's limbs.
BODY_SHARES = {
    ("neck", "right_shoulder"): 0.12, ("neck", "left_shoulder"): 0.12,
    ("right_shoulder", "right_elbow"): 0.186, ("left_shoulder", "left_elbow"): 0.186,
    ("right_elbow", "right_wrist"): 0.175, ("left_elbow", "left_wrist"): 0.175,
    ("neck", "right_hip"): 0.31, ("neck", "left_hip"): 0.31,
    ("right_hip", "right_knee"): 0.245, ("left_hip", "left_knee"): 0.245,
    ("right_knee", "right_ankle"): 0.246, ("left_knee", "left_ankle"): 0.246,
    ("neck", "nose"): 0.12, ("nose", "right_eye"): 0.03, ("nose", "left_eye"): 0.03,
    ("right_eye", "right_ear"): 0.05, ("left_eye", "left_ear"): 0.05,
    ("right_shoulder", "right_ear"): 0.13, ("left_shoulder", "left_ear"): 0.13,
    ("right_hip", "left_hip"): 0.116, ("right_shoulder", "right_hip"): 0.28,
    ("left_shoulder", "left_hip"): 0.28, ("right_shoulder", "left_shoulder"): 0.23,
}


def limb_shares(skeleton: Skeleton) -> np.ndarray:
    """(K,) canonical length of each limb as a share of body height (0 = unknown pair)."""
    names = skeleton.keypoints
    out = np.zeros(len(skeleton.limbs))
    for k, (a, b) in enumerate(skeleton.limbs):
        pair = (names[a], names[b])
        out[k] = BODY_SHARES.get(pair, BODY_SHARES.get(pair[::-1], 0.0))
    return out


def body_distances(skeleton: Skeleton) -> np.ndarray:
    """(J, J) shortest path between keypoint types through the skeleton's limbs, in body
    heights (``BODY_SHARES``); inf where no path joins them."""
    J = skeleton.num_keypoints
    d = np.full((J, J), np.inf)
    np.fill_diagonal(d, 0.0)
    for (a, b), share in zip(skeleton.limbs, limb_shares(skeleton)):
        if share > 0:
            d[a, b] = d[b, a] = min(d[a, b], share)
    for m in range(J):  # Floyd-Warshall
        d = np.minimum(d, d[:, m:m + 1] + d[m:m + 1, :])
    return d


@_jit
def piece_scale(subset, row, flat, limbs, shares):
    """Input pixels per body height that the row's own limbs show (their longest share), 0 if none."""
    best = 0.0
    for k in range(limbs.shape[0]):
        pa, pb = subset[row, limbs[k, 0]], subset[row, limbs[k, 1]]
        if pa < 0 or pb < 0 or shares[k] <= 0:
            continue
        best = max(best, _gap(flat, int(pa), int(pb)) / shares[k])
    return best


@_jit
def _allowed(a, b, dist, scale, slack, dup):
    """Input pixels parts of types a and b may lie apart: ``scale`` x their canonical path (of one
    type: ``dup``, a duplicate of one body part) + ``slack``; -1 for one type when dup < 0."""
    if a == b:
        return scale * dup + slack if dup >= 0 else -1.0
    return scale * dist[a, b] + slack


@_jit
def _gap(flat, pa, pb):
    dx, dy = flat[pa, 0] - flat[pb, 0], flat[pa, 1] - flat[pb, 1]
    return np.sqrt(dx * dx + dy * dy)


@_jit
def _pair_fit(a, b, pa, pb, flat, dist, scale, slack, dup):
    """Peaks pa (type a) and pb (type b): their distance / ``_allowed`` distance, 0 for a pair with
    no canonical path (it limits nothing), inf when they lie further or cannot be one body's."""
    limit, d = _allowed(a, b, dist, scale, slack, dup), _gap(flat, pa, pb)
    if limit < 0 or d > limit:
        return np.inf
    return d / limit if limit > 0 else 0.0


@_jit
def fit_ratio(subset, i, j, flat, dist, scale, slack, dup):
    """Largest (part distance) / (``_allowed`` distance) over the parts of rows i and j; inf when a
    pair lies further (ratio > 1) or the rows share a type and dup < 0; a pair with no canonical
    path limits nothing."""
    J = subset.shape[1] - 2
    worst = 0.0
    for a in range(J):
        if subset[i, a] < 0:
            continue
        pa = int(subset[i, a])
        for b in range(J):
            if subset[j, b] < 0:
                continue
            ratio = _pair_fit(a, b, pa, int(subset[j, b]), flat, dist, scale, slack, dup)
            if ratio == np.inf:
                return np.inf  # no fit: the rest cannot change that, and crowds have many such pairs
            worst = max(worst, ratio)
    return worst


@_jit
def add_singles(subset, rows, flat, offsets, min_score, used):
    """Append a one-part row for each peak of at least ``min_score`` that no row holds; offsets
    (J,) global id of each keypoint's first peak (ids in keypoint order); used (N,) bool scratch.
    Returns rows."""
    J = subset.shape[1] - 2
    used[:] = False
    for r in range(rows):
        for j in range(J):
            if subset[r, j] >= 0:
                used[int(subset[r, j])] = True
    for j in range(J):
        end = offsets[j + 1] if j + 1 < J else flat.shape[0]
        for p in range(offsets[j], end):
            if not used[p] and flat[p, 2] >= min_score and rows < subset.shape[0]:
                subset[rows, :] = -1.0
                subset[rows, j] = p
                subset[rows, J], subset[rows, J + 1] = flat[p, 2], 1
                rows += 1
    return rows


@_jit
def fit_drop(subset, i, j, flat, dist, scale, slack, dup):
    """When one part of rows i and j is in every pair that does not fit (``fit_ratio``) -> (1 +
    the largest ratio of the pairs left without it, its row, its type), else (inf, -1, -1). Of a
    single failing pair the weaker peak is to blame; a part alone in its row is never dropped."""
    J = subset.shape[1] - 2
    ca, cb = -1, -1  # the type in i (in j) that every failing pair so far holds; -2: none
    for a in range(J):
        if subset[i, a] < 0:
            continue
        pa = int(subset[i, a])
        for b in range(J):
            if subset[j, b] < 0:
                continue
            if _pair_fit(a, b, pa, int(subset[j, b]), flat, dist, scale, slack, dup) == np.inf:
                ca = a if ca == -1 or ca == a else -2
                cb = b if cb == -1 or cb == b else -2
                if ca == -2 and cb == -2:
                    return np.inf, -1, -1
    if ca == -1:
        return np.inf, -1, -1  # nothing failed: not a case for dropping
    if ca >= 0 and cb >= 0:
        ca, cb = (ca, -2) if flat[int(subset[i, ca]), 2] <= flat[int(subset[j, cb]), 2] else (-2, cb)
    row, kind = (i, ca) if ca >= 0 else (j, cb)
    if subset[row, J + 1] < 2:
        return np.inf, -1, -1
    part = subset[row, kind]
    subset[row, kind] = -1.0
    worst = fit_ratio(subset, i, j, flat, dist, scale, slack, dup)
    subset[row, kind] = part
    return 1.0 + worst, row, kind


@_jit
def _pair_ratio(subset, i, j, flat, dist, scales, prior, slack, dup, drop):
    """Rows i and j's fit: ``fit_ratio`` (<= 1), else with ``drop`` ``fit_drop``'s (1, 2], else inf."""
    if subset[i, -1] <= 0 or subset[j, -1] <= 0 or (subset[i, -1] < 2 and subset[j, -1] < 2):
        return np.inf
    scale = max(scales[i], scales[j], prior)
    ratio = fit_ratio(subset, i, j, flat, dist, scale, slack, dup)
    if ratio > 1.0 and drop:
        ratio = fit_drop(subset, i, j, flat, dist, scale, slack, dup)[0]
    return ratio


@_jit
def _join(subset, keep, drop, flat):
    """Row ``drop`` moves into ``keep`` and is emptied; of a type both hold, the part with the
    higher peak score stays (total score and count lose the other)."""
    J = subset.shape[1] - 2
    for a in range(J):
        pd = subset[drop, a]
        if pd < 0:
            continue
        pk = subset[keep, a]
        if pk >= 0:
            weaker = min(flat[int(pk), 2], flat[int(pd), 2])
            subset[keep, J] -= weaker
            subset[keep, J + 1] -= 1
            if flat[int(pd), 2] <= flat[int(pk), 2]:
                continue
        subset[keep, a] = pd
    subset[keep, J] += subset[drop, J]
    subset[keep, J + 1] += subset[drop, J + 1]
    subset[drop, J + 1] = 0


@_jit
def merge_pieces(subset, rows, flat, offsets, limbs, shares, dist, prior, slack, dup, drop, single, used, scales,
                 ratios):
    """Join rows of subset (P, J+2) that fit one body (module docstring), greedily best first.

    flat (N, 3) x, y, score of every peak by global id, in keypoint order from offsets (J,);
    limbs (K, >=2); shares (K,) and dist (J, J) from ``limb_shares`` / ``body_distances``;
    prior: input pixels per body height assumed at least; slack: pixels; dup: how far apart (body
    heights, plus slack) two parts of one type may lie and count as one (< 0: never); drop: whether
    two rows that fit but for one part may join without it (``fit_drop``); single: the peak score
    a part that no row holds needs to join a row (inf: none joins). Scratch: used (N,)
    bool, scales (P,), ratios (P, P). Rows with one part that joined nothing are emptied
    (count 0); returns rows.
    """
    J = subset.shape[1] - 2
    first_single = rows
    rows = add_singles(subset, rows, flat, offsets, single, used)
    for r in range(rows):
        scales[r] = piece_scale(subset, r, flat, limbs, shares)
    for i in range(rows):
        for j in range(i + 1, rows):
            ratios[i, j] = _pair_ratio(subset, i, j, flat, dist, scales, prior, slack, dup, drop)
    while True:
        best, bi, bj = 2.0, -1, -1  # ratios in (1, 2] drop a part: they wait for every clean fit
        for i in range(rows):
            for j in range(i + 1, rows):
                if ratios[i, j] <= best:
                    best, bi, bj = ratios[i, j], i, j
        if bi < 0:
            break
        if best > 1.0:
            _, row, kind = fit_drop(subset, bi, bj, flat, dist, max(scales[bi], scales[bj], prior), slack, dup)
            subset[row, J] -= flat[int(subset[row, kind]), 2]
            subset[row, J + 1] -= 1
            subset[row, kind] = -1.0
        _join(subset, bi, bj, flat)
        scales[bi] = piece_scale(subset, bi, flat, limbs, shares)
        for r in range(rows):
            ratios[min(r, bj), max(r, bj)] = np.inf  # bj is empty now
            if r != bi:
                ratios[min(r, bi), max(r, bi)] = _pair_ratio(subset, min(r, bi), max(r, bi), flat, dist, scales,
                                                             prior, slack, dup, drop)
    for r in range(first_single, rows):
        if subset[r, J + 1] == 1:
            subset[r, J + 1] = 0
    return rows


@_jit
def merge_and_keep(subset, rows, flat, offsets, limbs, shares, dist, prior, slack, dup, drop, single, used, scales,
                   ratios, min_parts, min_mean_score):
    """``merge_pieces`` then ``keep_people`` in one call (one dispatch per frame); returns people."""
    if rows < 0:
        return rows
    rows = merge_pieces(subset, rows, flat, offsets, limbs, shares, dist, prior, slack, dup, drop, single, used, scales,
                        ratios)
    return keep_people(subset, rows, min_parts, min_mean_score)
