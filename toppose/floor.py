"""The floor plane from a depth frame (RANSAC), refreshed slowly, and heights above it.

Plane (4,) = a, b, c, d in the camera frame (``toppose.camera``): a x + b y + c z + d = 0 with
(a, b, c) a unit normal pointing from the floor toward the camera, so a point's height above the
floor is n . p + d and the camera's own height is d. N points, H x W frames.

A small NumPy RANSAC rather than a library: scikit-learn's RANSACRegressor fits z = f(x, y)
(vertical, not orthogonal residuals) and open3d is hundreds of MB; neither is in the edge
install, and this one constrains the normal to face the camera (walls are planes too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toppose.camera import Intrinsics
from toppose.lift import L_HIP, NECK, R_HIP

# Lying: the torso (pelvis -> neck) is low and near level. On rendered people of every pose family
# this separates lying (torso at most ~0.56 m high, within ~7 deg of level) from crouching (torso
# 41 deg or more from level) and bending (torso 0.77 m high or more).
LYING_TORSO_M = 0.65
LYING_LEVEL_DEG = 30.0


def points_from_depth(depth: np.ndarray, intr: Intrinsics, step: int = 4) -> np.ndarray:
    """(H, W) metres -> (N, 3) camera points of the valid pixels on a ``step`` grid."""
    v, u = np.mgrid[0:depth.shape[0]:step, 0:depth.shape[1]:step]
    z = depth[v, u]
    ok = z > 0
    z, u, v = z[ok], u[ok], v[ok]
    return np.stack([(u - intr.cx) * z / intr.fx, -(v - intr.cy) * z / intr.fy, z], -1).astype(np.float64)


def fit_plane(points: np.ndarray, rng: np.random.Generator, iterations: int = 200, tolerance: float = 0.04,
              max_tilt_deg: float = 60.0, min_inliers: int = 200) -> np.ndarray | None:
    """RANSAC plane through (N, 3) points facing the camera within ``max_tilt_deg`` of the optical axis,
    refined by least squares on its inliers -> (4,) plane, or None (too few points or no plane).

    Among candidates the one with most inliers wins; ``tolerance`` (m) should cover the sensor noise."""
    if len(points) < max(3, min_inliers):
        return None
    tri = points[rng.integers(0, len(points), (iterations, 3))]        # (I, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1)
    good = norm > 1e-9
    n = n[good] / norm[good, None]
    n *= -np.sign(n[:, 2:3] + 1e-12)                                    # face the camera (toward -z)
    d = -(n * tri[good, 0]).sum(1)
    facing = -n[:, 2] >= np.cos(np.radians(max_tilt_deg))
    n, d = n[facing], d[facing]
    if not len(n):
        return None
    counts = (np.abs(points @ n.T + d) <= tolerance).sum(0)            # (I,)
    best = int(np.argmax(counts))
    if counts[best] < min_inliers:
        return None
    plane = _refine(points[np.abs(points @ n[best] + d[best]) <= tolerance])
    return plane if plane[3] > 0 else None


def _refine(inliers: np.ndarray) -> np.ndarray:
    """Least-squares (orthogonal) plane through (N, 3) inliers, normal facing the camera."""
    centre = inliers.mean(0)
    normal = np.linalg.svd(inliers - centre, full_matrices=False)[2][-1]
    if normal[2] > 0:
        normal = -normal
    return np.append(normal, -normal @ centre)


def heights(points: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """(..., 3) camera points -> (...) metres above the floor (NaN stays NaN)."""
    return points @ plane[:3] + plane[3]


@dataclass
class FloorTracker:
    """The floor of one camera: fitted on the first frames until found, then refitted every
    ``refresh`` frames and blended in slowly (``blend`` of the new fit), so people passing by
    and sensor noise do not shake it."""

    intrinsics: Intrinsics | None = None
    refresh: int = 150
    blend: float = 0.2
    seed: int = 0
    plane: np.ndarray | None = None
    frames: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def update(self, depth: np.ndarray, intr: Intrinsics) -> np.ndarray | None:
        """One (H, W) depth frame in metres -> the current plane (4,) or None while unknown."""
        due = self.plane is None or self.frames % self.refresh == 0
        self.frames += 1
        if not due:
            return self.plane
        fitted = fit_plane(points_from_depth(depth, intr), self.rng)
        if fitted is None:
            return self.plane
        if self.plane is None:
            self.plane = fitted
        else:
            mixed = (1 - self.blend) * self.plane + self.blend * fitted
            self.plane = mixed / np.linalg.norm(mixed[:3])
        return self.plane


def person_heights(points: np.ndarray, plane: np.ndarray) -> dict:
    """(K, 3) one person's OpenPose-order camera points (NaN = unknown) -> {"head", "pelvis": metres
    above the floor or None, "lying": bool, or None without a neck and a hip}. Head: the nose;
    pelvis: the hips' midpoint (one hip when the other is unknown)."""
    h = heights(points, plane)
    hips = points[[R_HIP, L_HIP]]
    known = np.isfinite(hips).all(1)
    pelvis = hips[known].mean(0) if known.any() else np.full(3, np.nan)
    neck, lying = points[NECK], None
    if np.isfinite(pelvis).all() and np.isfinite(neck).all():
        axis = neck - pelvis
        rise = abs(axis @ plane[:3]) / max(float(np.linalg.norm(axis)), 1e-6)
        low = max(heights(neck, plane), heights(pelvis, plane)) < LYING_TORSO_M
        lying = bool(low and np.degrees(np.arcsin(min(rise, 1.0))) < LYING_LEVEL_DEG)
    return {"head": _metres(h[0]), "pelvis": _metres(heights(pelvis, plane)), "lying": lying}


def _metres(v: float) -> float | None:
    return round(float(v), 3) if np.isfinite(v) else None
