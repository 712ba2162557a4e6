"""GT-like network outputs rendered independently of ``toppose.codec.encoder``.

Written from the OpenPose paper, not from the project's encoder, so decoder tests do not
only check the encoder against its own inverse: untruncated Gaussian heatmaps (max over
people), PAF bands of unit vectors within ``band`` pixels of the limb segment (averaged
where people overlap), optional Gaussian noise. Keypoints outside the frame still draw
their maps (a network sees the visible part of an arm leaving the frame) but are not
labelled (v = 0), as in the data.

Glossary: P people, J = 18 keypoints, K limbs, h x w the stride grid of an H x W input.
"""

from __future__ import annotations

import numpy as np

# A standing person seen from above, unit height: OpenPose-18 order, x right, y down.
_BODY = np.array([
    (0.00, -0.42), (0.00, -0.30), (-0.16, -0.28), (-0.24, -0.08), (-0.28, 0.10),
    (0.16, -0.28), (0.24, -0.08), (0.28, 0.10), (-0.10, 0.05), (-0.11, 0.28),
    (-0.12, 0.50), (0.10, 0.05), (0.11, 0.28), (0.12, 0.50),
    (-0.04, -0.45), (0.04, -0.45), (-0.08, -0.43), (0.08, -0.43)], np.float64)


def person(rng: np.random.Generator, centre: tuple[float, float], size: float,
           angle: float | None = None) -> np.ndarray:
    """(18, 3) x, y, v=2 of one jittered person ``size`` pixels tall, rotated by ``angle``
    (radians; 0 = head up, random when None)."""
    a = rng.uniform(0, 2 * np.pi) if angle is None else angle
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = (_BODY + rng.normal(0, 0.02, _BODY.shape)) * size @ rot.T + np.asarray(centre)
    return np.concatenate([pts, np.full((18, 1), 2.0)], axis=1).astype(np.float32)


def label_inside(people: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(P, 18, 3) with v = 0 for keypoints outside the H x W frame."""
    out = people.copy()
    inside = (out[..., 0] >= 0) & (out[..., 0] <= hw[1] - 1) & (out[..., 1] >= 0) & (out[..., 1] <= hw[0] - 1)
    out[..., 2] = np.where(inside, out[..., 2], 0.0)
    return out


def render(people: np.ndarray, hw: tuple[int, int], limbs, stride: int = 8, sigma: float = 7.0,
           band: float = 8.0, noise: float = 0.0, rng: np.random.Generator | None = None):
    """people (P, 18, 3) in input pixels (all drawn, labelled or not) -> (paf (2K, h, w), heat (19, h, w)).

    ``limbs``: ((a, b), (x channel, y channel)) pairs; ``noise``: std of added Gaussian noise.
    """
    h, w = hw[0] // stride, hw[1] // stride
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) * stride + (stride - 1) / 2.0
    heat = np.zeros((19, h, w))
    for p in people:
        for j in range(18):
            g = np.exp(-((xs - p[j, 0]) ** 2 + (ys - p[j, 1]) ** 2) / (2 * sigma ** 2))
            heat[j] = np.maximum(heat[j], g)
    heat[18] = 1.0 - heat[:18].max(axis=0)
    paf = np.zeros((2 * len(limbs), h, w))
    for (a, b), (cx, cy) in limbs:
        count = np.zeros((h, w))
        for p in people:
            d = p[b, :2] - p[a, :2]
            length = np.hypot(*d)
            u = d / length
            along = (xs - p[a, 0]) * u[0] + (ys - p[a, 1]) * u[1]
            across = np.abs((xs - p[a, 0]) * u[1] - (ys - p[a, 1]) * u[0])
            on = (along >= 0) & (along <= length) & (across <= band)
            paf[cx] += on * u[0]
            paf[cy] += on * u[1]
            count += on
        paf[[cx, cy]] /= np.maximum(count, 1)
    if noise:
        heat = heat + rng.normal(0, noise, heat.shape)
        paf = paf + rng.normal(0, noise, paf.shape)
    return paf.astype(np.float32), heat.astype(np.float32)
