"""Numba person assembly: connections (K, Q, 3) -> people (P, J+2). Glossary in ``peaks``.

``assemble_tree``: the CMU/textbook greedy pass for tree skeletons (openpose18).
``assemble_graph``: for skeletons with more limbs than a tree (topview23); see ``grouping``.
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit as _jit
from toppose.codec._jit import jit_inline
from toppose.codec.grouping import keep_people


def is_tree(skeleton) -> bool:
    """Whether the skeleton's non-redundant limbs form a forest (no cycle): the textbook case."""
    parent = list(range(skeleton.num_keypoints))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for (a, b), redundant in zip(skeleton.limbs, skeleton.redundant):
        if redundant:
            continue
        ra, rb = root(a), root(b)
        if ra == rb:
            return False
        parent[ra] = rb
    return True


@jit_inline
def _add_part(subset, row, part, kind, peak_score, limb_score):
    J = subset.shape[1] - 2
    subset[row, kind] = part
    subset[row, J + 1] += 1
    subset[row, J] += peak_score + limb_score


@_jit
def assemble_tree(conns, conn_counts, limbs, redundant, offsets, peak_scores, min_parts,
                  min_mean_score, subset):
    """Greedy person assembly (CMU/textbook), limb by limb, then filtering; returns the count.

    conns (K, Q, 3); offsets (J,) global id of each keypoint's first peak; peak_scores (N,);
    subset (P, J+2) out: global part ids (-1 = none), total score, part count.
    Returns -1 when P is too small.
    """
    J = subset.shape[1] - 2
    rows = 0
    for k in range(limbs.shape[0]):
        a, b = limbs[k, 0], limbs[k, 1]
        for q in range(conn_counts[k]):
            pa, pb = offsets[a] + int(conns[k, q, 0]), offsets[b] + int(conns[k, q, 1])
            score = conns[k, q, 2]
            found, s1, s2 = 0, -1, -1
            for s in range(rows):
                if subset[s, a] == pa or subset[s, b] == pb:
                    if found == 0:
                        s1 = s
                    elif found == 1:
                        s2 = s
                    found += 1
            if found == 1:
                if subset[s1, b] != pb:
                    _add_part(subset, s1, pb, b, peak_scores[pb], score)
            elif found == 2:
                overlap = False
                for j in range(J):
                    if subset[s1, j] >= 0 and subset[s2, j] >= 0:
                        overlap = True
                if overlap:
                    _add_part(subset, s1, pb, b, peak_scores[pb], score)
                    continue
                for j in range(J):
                    subset[s1, j] += subset[s2, j] + 1
                subset[s1, J] += subset[s2, J] + score
                subset[s1, J + 1] += subset[s2, J + 1]
                for s in range(s2, rows - 1):
                    subset[s, :] = subset[s + 1, :]
                rows -= 1
            elif found == 0 and not redundant[k]:
                if rows >= subset.shape[0]:
                    return -1
                subset[rows, :] = -1.0
                subset[rows, a], subset[rows, b] = pa, pb
                subset[rows, J], subset[rows, J + 1] = peak_scores[pa] + peak_scores[pb] + score, 2
                rows += 1
    return keep_people(subset, rows, min_parts, min_mean_score)


@_jit
def graph_edges(conns, conn_counts, limbs, redundant, offsets, edges):
    """edges (E, 4) out: global id A, global id B, score, redundant; non-redundant first,
    then each group strongest first (ties keep limb order). Returns E."""
    n = 0
    for group in range(2):
        start = n
        for k in range(limbs.shape[0]):
            if redundant[k] != (group == 1):
                continue
            for q in range(conn_counts[k]):
                edges[n, 0] = offsets[limbs[k, 0]] + conns[k, q, 0]
                edges[n, 1] = offsets[limbs[k, 1]] + conns[k, q, 1]
                edges[n, 2] = conns[k, q, 2]
                edges[n, 3] = group
                n += 1
        order = np.argsort(-edges[start:n, 2], kind="mergesort")
        edges[start:n] = edges[start:n][order]
    return n


@_jit
def _merge(subset, owner, keep, drop, score):
    """Person ``drop`` joins ``keep`` (disjoint part types) through a limb of ``score``."""
    J = subset.shape[1] - 2
    for j in range(J):
        if subset[drop, j] >= 0:
            subset[keep, j] = subset[drop, j]
            owner[int(subset[drop, j])] = keep
    subset[keep, J] += subset[drop, J] + score
    subset[keep, J + 1] += subset[drop, J + 1]
    subset[drop, J + 1] = 0


@_jit
def assemble_graph(edges, n_edges, kinds, peak_scores, min_parts, min_mean_score, owner, subset):
    """Join parts through the edges in order unless a person would get two parts of a type.

    edges (E, 4) from ``graph_edges``; kinds (N,) keypoint of each global peak id;
    owner (N,) scratch; subset (P, J+2) out as in ``assemble_tree``. A redundant edge never
    starts a person. Returns the people count, -1 when P is too small.
    """
    J = subset.shape[1] - 2
    owner[:] = -1
    rows = 0
    for e in range(n_edges):
        pa, pb, score = int(edges[e, 0]), int(edges[e, 1]), edges[e, 2]
        ra, rb = owner[pa], owner[pb]
        if ra < 0 and rb < 0:
            if edges[e, 3] > 0:
                continue
            if rows >= subset.shape[0]:
                return -1
            subset[rows, :] = -1.0
            subset[rows, J], subset[rows, J + 1] = peak_scores[pa] + peak_scores[pb] + score, 2
            subset[rows, kinds[pa]], subset[rows, kinds[pb]] = pa, pb
            owner[pa], owner[pb] = rows, rows
            rows += 1
        elif ra < 0 or rb < 0:
            row, part = (rb, pa) if ra < 0 else (ra, pb)
            if subset[row, kinds[part]] < 0:
                _add_part(subset, row, part, kinds[part], peak_scores[part], score)
                owner[part] = row
        elif ra != rb:
            disjoint = True
            for j in range(J):
                if subset[ra, j] >= 0 and subset[rb, j] >= 0:
                    disjoint = False
            if disjoint:
                _merge(subset, owner, min(ra, rb), max(ra, rb), score)
    return keep_people(subset, rows, min_parts, min_mean_score)
