"""Numba kernels of ``toppose.lift`` with their NumPy references (same results, slower).

Glossary: N pixels, P people, L lifted keypoints, S window samples, F = FEATURES per keypoint,
G = GLOBAL per person, H x W depth frame (metres, 0 = no reading). Callers allocate every output.
"""

from __future__ import annotations

import numpy as np

from toppose.codec._jit import jit

NEAR, FAR = 2, 4      # window radii (pixels): the surface median (5x5), the local spread (9x9)
FEATURES = 7          # per keypoint: present, lateral x, y, median, p10, p90 (relative), valid share
GLOBAL = 3            # per person: the ray slopes of its centre (2), its reference depth
CLIP_M = 1.5          # relative depths are clipped to +- this


def _offsets(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)  # (S, 2) dv, du


def _pick(n, q):
    return int(np.floor(q * (n - 1) + 0.5))


def window_stats_reference(depth: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """NumPy reference of ``window_stats``."""
    h, w = depth.shape
    out = np.full((len(uv), 4), np.nan, np.float32)
    centre = np.rint(np.asarray(uv, np.float32)[:, ::-1]).astype(np.int64)  # (N, 2) row, column
    for col, radius, quantiles in ((0, NEAR, (0.5,)), (1, FAR, (0.1, 0.9))):
        offsets = _offsets(radius)
        for i, (r, c) in enumerate(centre):
            rc = np.array([r, c]) + offsets
            inside = (rc[:, 0] >= 0) & (rc[:, 0] < h) & (rc[:, 1] >= 0) & (rc[:, 1] < w)
            vals = depth[rc[inside, 0], rc[inside, 1]]
            vals = np.sort(vals[vals > 0])
            if len(vals):
                for q_i, q in enumerate(quantiles):
                    out[i, col + q_i] = vals[_pick(len(vals), q)]
                if col == 1:
                    out[i, 3] = len(vals) / len(offsets)
    return out


@jit
def _window(depth, row, col, radius, scratch):
    """Valid readings of the (2 radius + 1)^2 window at (row, col) into ``scratch``, sorted; returns their count."""
    h, w = depth.shape
    n = 0
    for r in range(row - radius, row + radius + 1):
        if 0 <= r < h:
            for c in range(col - radius, col + radius + 1):
                if 0 <= c < w and depth[r, c] > 0:
                    scratch[n] = depth[r, c]
                    n += 1
    scratch[:n].sort()
    return n


@jit
def _window_stats(depth, uv, out, scratch):
    """depth (H, W) f32, uv (N, 2) f32 -> out (N, 4) f32; scratch (S,) f32 for the 9x9 window."""
    for i in range(uv.shape[0]):
        row, col = int(np.rint(uv[i, 1])), int(np.rint(uv[i, 0]))
        n = _window(depth, row, col, NEAR, scratch)
        out[i, 0] = scratch[int(np.floor(0.5 * (n - 1) + 0.5))] if n > 0 else np.nan
        n = _window(depth, row, col, FAR, scratch)
        if n > 0:
            out[i, 1] = scratch[int(np.floor(0.1 * (n - 1) + 0.5))]
            out[i, 2] = scratch[int(np.floor(0.9 * (n - 1) + 0.5))]
            out[i, 3] = n / (2 * FAR + 1) ** 2
        else:
            out[i, 1] = out[i, 2] = out[i, 3] = np.nan


def window_stats(depth: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Robust surface readings around pixels ``uv`` (N, 2) in ``depth`` (H, W) metres -> (N, 4):
    median of the 5x5 window, 10th / 90th percentile and valid share of the 9x9 window; NaN
    where a window holds no valid reading (outside the frame, holes)."""
    out = np.empty((len(uv), 4), np.float32)
    _window_stats(np.ascontiguousarray(depth, np.float32), np.ascontiguousarray(uv, np.float32), out,
                  np.empty((2 * FAR + 1) ** 2, np.float32))
    return out


@jit
def assemble(kp, stats, intr, min_surface, feats, anchors, slopes, ok, scratch):
    """kp (P, L, 3) f32, stats (P, L, 4) f32 (``window_stats``), intr (4,) cx, cy, fx, fy ->
    feats (P, L*F + G), anchors (P, L) metres, slopes (P, L, 2), ok (P, L) bool; scratch (L,) f32."""
    P, L = kp.shape[0], kp.shape[1]
    for p in range(P):
        n, cu, cv, npresent = 0, 0.0, 0.0, 0
        for k in range(L):
            slopes[p, k, 0] = (kp[p, k, 0] - intr[0]) / intr[2]
            slopes[p, k, 1] = -(kp[p, k, 1] - intr[1]) / intr[3]
            present = kp[p, k, 2] > 0 and not np.isnan(stats[p, k, 1])
            ok[p, k] = present
            if present:
                npresent += 1
                cu += slopes[p, k, 0]
                cv += slopes[p, k, 1]
                if not np.isnan(stats[p, k, 0]):
                    scratch[n] = stats[p, k, 0]
                    n += 1
        has = n >= min_surface
        ref = 1.0
        if has:
            s = np.sort(scratch[:n])
            ref = 0.5 * (s[(n - 1) // 2] + s[n // 2])
        cu, cv = cu / max(npresent, 1), cv / max(npresent, 1)
        for k in range(L):
            base = k * FEATURES
            w = 1.0 if ok[p, k] else 0.0
            feats[p, base] = w
            feats[p, base + 1] = (slopes[p, k, 0] - cu) * ref * w
            feats[p, base + 2] = (slopes[p, k, 1] - cv) * ref * w
            for j in range(3):
                v = stats[p, k, j] - ref
                feats[p, base + 3 + j] = 0.0 if np.isnan(v) or w == 0 else min(max(v, -CLIP_M), CLIP_M)
            feats[p, base + 6] = stats[p, k, 3] * w if ok[p, k] else 0.0
            anchors[p, k] = stats[p, k, 0] if ok[p, k] and not np.isnan(stats[p, k, 0]) else ref
            ok[p, k] = ok[p, k] and has
        feats[p, L * FEATURES] = cu
        feats[p, L * FEATURES + 1] = cv
        feats[p, L * FEATURES + 2] = ref if has else 0.0


def features_reference(kp: np.ndarray, stats: np.ndarray, intr: np.ndarray, min_surface: int):
    """NumPy reference of ``assemble`` -> (feats, anchors, slopes, ok)."""
    P, L = kp.shape[:2]
    present = (kp[..., 2] > 0) & np.isfinite(stats[..., 1])
    surf = np.where(present & np.isfinite(stats[..., 0]), stats[..., 0], np.nan)
    has = np.isfinite(surf).sum(1) >= min_surface
    ref = np.array([np.median(s[np.isfinite(s)]) if h else 1.0 for s, h in zip(surf, has)], np.float32)
    slopes = np.stack([(kp[..., 0] - intr[0]) / intr[2], -(kp[..., 1] - intr[1]) / intr[3]], -1).astype(np.float32)
    w = present.astype(np.float32)
    centre = (slopes * w[..., None]).sum(1) / np.maximum(w.sum(1), 1)[:, None]
    feats = np.zeros((P, L, FEATURES), np.float32)
    feats[..., 0] = w
    feats[..., 1:3] = (slopes - centre[:, None]) * ref[:, None, None] * w[..., None]
    rel = np.nan_to_num(stats[..., :3] - ref[:, None, None], nan=0.0)
    feats[..., 3:6] = np.clip(rel, -CLIP_M, CLIP_M) * w[..., None]
    feats[..., 6] = np.nan_to_num(stats[..., 3]) * w
    glob = np.concatenate([centre, np.where(has, ref, 0)[:, None]], 1)
    anchors = np.where(np.isfinite(surf), surf, ref[:, None]).astype(np.float32)
    return np.concatenate([feats.reshape(P, -1), glob], 1).astype(np.float32), anchors, slopes, present & has[:, None]
