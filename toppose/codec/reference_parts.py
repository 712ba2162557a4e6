"""NumPy references of the kernels that the textbook does not have (used by ``reference``).

- ``bicubic_taps``: OpenCV's bicubic taps, held inside the outermost cell centres;
- ``find_peaks_sparse`` and ``sample_bilinear``: the ``sparse`` decoder's peaks and samples;
- ``assemble_graph``: person assembly for skeletons with more limbs than a tree;
- ``merge_reference``: the piece merging of ``toppose.codec.merge`` on a NumPy people table.
Glossary as in ``toppose.codec.peaks``.
"""

from __future__ import annotations

import numpy as np

from toppose.codec.config import DecoderConfig, cell_offset
from toppose.skeleton import Skeleton


def cubic_weights(t: np.ndarray) -> np.ndarray:
    """(n,) fractions -> (n, 4) float32 OpenCV bicubic weights (A = -0.75)."""
    a, one, x = np.float32(-0.75), np.float32(1.0), np.asarray(t, np.float32)
    w0 = ((a * (x + one) - np.float32(5.0) * a) * (x + one) + np.float32(8.0) * a) * (x + one) - np.float32(4.0) * a
    w1 = ((a + np.float32(2.0)) * x - (a + np.float32(3.0))) * x * x + one
    w2 = ((a + np.float32(2.0)) * (one - x) - (a + np.float32(3.0))) * (one - x) * (one - x) + one
    return np.stack([w0, w1, w2, one - w0 - w1 - w2], axis=1)


def bicubic_taps(n: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(n*stride, 4) source indices and float32 weights of each fine index of an n-cell axis.

    OpenCV's mapping (source position (f + 0.5) / stride - 0.5) and weights, except at the
    border: taps beyond the edge mirror the cells inside it (BORDER_REFLECT_101, where
    OpenCV replicates the edge cell) and positions outside [0, n-1] are held at the edge,
    so the border half cell is not extrapolated."""
    s = ((np.arange(n * stride) + 0.5) * (1.0 / stride) - 0.5).astype(np.float32)
    i = np.floor(s).astype(np.int64)
    t = (s - i).astype(np.float32)
    outside = (i < 0) | (i >= n - 1)
    i = np.clip(i, 0, n - 1)
    t[outside] = 0.0
    taps = np.abs(i[:, None] + np.arange(-1, 3)[None, :])
    taps = np.clip(np.where(taps > n - 1, 2 * (n - 1) - taps, taps), 0, n - 1)
    return taps, cubic_weights(t)


def _log_parabola(l: float, c: float, r: float) -> tuple[float, float]:
    """Offset in [-0.5, 0.5] and log gain of the Gaussian through three samples."""
    if min(l, c, r) <= 0:
        return 0.0, 0.0
    L, C, R = np.log(l), np.log(c), np.log(r)
    den = L - 2.0 * C + R
    if den >= 0:
        return 0.0, 0.0
    d = min(max(0.5 * (L - R) / den, -0.5), 0.5)
    return d, 0.5 * (R - L) * d + 0.5 * den * d * d


def _grid_peaks(m: np.ndarray, threshold: float) -> dict:
    """(h, w) -> {(y, x): (refined y, refined x, score)} of 4-neighbour maxima (>=) above
    threshold / 2, refined per axis by a log-parabola (offset 0 at the grid's edge)."""
    h, w = m.shape
    pad = np.pad(np.asarray(m, np.float64), 1, constant_values=-np.inf)
    out = {}
    for y, x in zip(*np.nonzero(m > threshold * 0.5)):
        c = pad[y + 1, x + 1]
        if max(pad[y, x + 1], pad[y + 2, x + 1], pad[y + 1, x], pad[y + 1, x + 2]) > c:
            continue
        dx, gx = _log_parabola(pad[y + 1, x], c, pad[y + 1, x + 2]) if 0 < x < w - 1 else (0.0, 0.0)
        dy, gy = _log_parabola(pad[y, x + 1], c, pad[y + 2, x + 1]) if 0 < y < h - 1 else (0.0, 0.0)
        out[(int(y), int(x))] = (y + dy, x + dx, c * np.exp(gx + gy))
    return out


def find_peaks_sparse(heat: np.ndarray, stride: int, threshold: float) -> list[np.ndarray]:
    """(J, h, w) grid heatmaps -> per keypoint an (n, 4) array of x, y, score, id (row-major).

    A 4-neighbour maximum whose fitted score exceeds the threshold is a peak unless a
    stronger maximum among its 8 neighbours (higher score, or equal and first in row-major
    order) refines to within half a cell of it: then they are one peak seen twice."""
    off, peaks, counter = cell_offset(stride), [], 0
    for j in range(heat.shape[0]):
        grid, found = _grid_peaks(heat[j], threshold), []
        for (y, x), (py, px, score) in grid.items():
            if score <= threshold:
                continue
            stronger = [(oy, ox) for (yy, xx), (oy, ox, other) in grid.items()
                        if max(abs(yy - y), abs(xx - x)) == 1
                        and (other > score or (other == score and (yy, xx) < (y, x)))]
            if not any((oy - py) ** 2 + (ox - px) ** 2 < 0.25 for oy, ox in stronger):
                found.append((px * stride + off, py * stride + off, score))
        ids = np.arange(counter, counter + len(found))
        peaks.append(np.column_stack([np.reshape(found, (-1, 3)), ids]).astype(np.float64))
        counter += len(found)
    return peaks


def sample_bilinear(m: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """Bilinear values of m (h, w) at grid positions gy, gx (n,), clamped to the grid."""
    h, w = m.shape
    gy, gx = np.clip(gy, 0.0, h - 1.0), np.clip(gx, 0.0, w - 1.0)
    y0, x0 = gy.astype(int), gx.astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = gy - y0, gx - x0
    top = m[y0, x0] * (1 - fx) + m[y0, x1] * fx
    bottom = m[y1, x0] * (1 - fx) + m[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def assemble_graph(connections: list[np.ndarray], peak_scores: np.ndarray, kinds: np.ndarray,
                   skeleton: Skeleton, cfg: DecoderConfig) -> np.ndarray:
    """Connections (per limb (n, 5): id A, id B, score, ...) -> subset (P, J + 2).

    Non-redundant connections first, each group strongest first: a connection joins the
    people of its two parts unless one person would get two parts of a type (the stronger
    connection already decided); a redundant connection only adds to existing people."""
    J = skeleton.num_keypoints
    edges = [(bool(red), -c[2], int(c[0]), int(c[1]), c[2])
             for conns, red in zip(connections, skeleton.redundant) for c in conns]
    edges.sort(key=lambda e: (e[0], e[1]))
    people: list[np.ndarray] = []   # rows: part ids (-1 = none), total score, part count
    owner: dict[int, int] = {}
    for redundant, _, pa, pb, score in edges:
        ra, rb = owner.get(pa), owner.get(pb)
        if ra is None and rb is None:
            if not redundant:
                row = np.full(J + 2, -1.0)
                row[kinds[pa]], row[kinds[pb]] = pa, pb
                row[J], row[J + 1] = peak_scores[pa] + peak_scores[pb] + score, 2
                owner[pa] = owner[pb] = len(people)
                people.append(row)
        elif ra is None or rb is None:
            r, part = (rb, pa) if ra is None else (ra, pb)
            if people[r][kinds[part]] < 0:
                people[r][kinds[part]] = part
                people[r][J + 1] += 1
                people[r][J] += peak_scores[part] + score
                owner[part] = r
        elif ra != rb and not ((people[ra][:J] >= 0) & (people[rb][:J] >= 0)).any():
            keep, drop = min(ra, rb), max(ra, rb)
            for j in np.nonzero(people[drop][:J] >= 0)[0]:
                people[keep][j] = people[drop][j]
                owner[int(people[drop][j])] = keep
            people[keep][J] += people[drop][J] + score
            people[keep][J + 1] += people[drop][J + 1]
            people[drop][J + 1] = 0
    keep = [p for p in people if p[J + 1] > 0 and p[J + 1] >= cfg.min_parts and p[J] / p[J + 1] >= cfg.min_mean_score]
    return np.array(keep).reshape(-1, J + 2)


def merge_reference(subset: np.ndarray, peaks: np.ndarray, counts: np.ndarray, skeleton: Skeleton,
                    cfg: DecoderConfig, height: int) -> np.ndarray:
    """subset (R, J + 2) of every piece -> people (P, J + 2) after ``merge_pieces`` and the
    filters (``min_parts``, ``min_mean_score``); peaks (N, 3) x, y, score in keypoint order,
    counts (J,) peaks per keypoint.

    The merge is the compiled kernel itself: it is plain loops, and one copy of the rule
    keeps the decoders' people identical."""
    from toppose.codec.merge import body_distances, limb_shares, merge_pieces

    J, N = skeleton.num_keypoints, len(peaks)
    table = np.full((len(subset) + N + 1, J + 2), -1.0)
    table[:len(subset)] = subset
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    rows = merge_pieces(table, len(subset), np.ascontiguousarray(peaks, np.float64), offsets, skeleton.limb_array(),
                        limb_shares(skeleton), body_distances(skeleton), cfg.merge_prior * height, cfg.merge_slack,
                        cfg.merge_duplicate, cfg.merge_drop, cfg.merge_single_score,
                        np.zeros(N, np.bool_), np.zeros(len(table)), np.zeros((len(table), len(table))))
    table = table[:rows]
    n = table[:, J + 1]
    keep = (n > 0) & (n >= cfg.min_parts) & (table[:, J] / np.maximum(n, 1) >= cfg.min_mean_score)
    return table[keep]
