"""Depth cameras with ITOP's intrinsics (``toppose.camera``) and a Numba ray caster for capsule people.

Camera frame as in ITOP: x right, y up, z away from the camera (metres);
u = cx + x / (k z), v = cy - y / (k z) with k = 0.0035 (f = 285.714 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toppose.codec._jit import jit

from toppose.camera import (ITOP, ITOP_CX as CX, ITOP_CY as CY, ITOP_HEIGHT as HEIGHT, ITOP_K_INV_F as K_INV_F,
                            ITOP_WIDTH as WIDTH, Intrinsics)

INTRINSICS = ITOP.to_dict()  # the rendered frames' camera, as a dict (recordings and tests write it)
ITOP_INTR = (CX, CY, K_INV_F, K_INV_F)  # (cx, cy, 1/fx, 1/fy): the renderer's compact intrinsics
# the generic sensor's noise sigma in metres: a + b (z - z0)^2 (also gpu_augment's on-the-fly noise)
GENERIC_NOISE = (0.0012, 0.0019, 0.4)


def intrinsics_for_fov(hfov_deg: float) -> tuple[float, float, float, float]:
    """(cx, cy, 1/fx, 1/fy) of a WIDTH x HEIGHT camera with square pixels and horizontal FOV (degrees)."""
    k = np.tan(np.radians(hfov_deg) / 2) / CX
    return (CX, CY, float(k), float(k))


def intrinsics_dict(intr: tuple[float, float, float, float]) -> dict:
    """The compact (cx, cy, 1/fx, 1/fy) as datasets record a camera."""
    return Intrinsics(WIDTH, HEIGHT, 1.0 / intr[2], 1.0 / intr[3], intr[0], intr[1]).to_dict()


@dataclass(frozen=True)
class Camera:
    """world -> camera: p_cam = R @ (p_world - position). ``view`` is "top" or "side"."""

    view: str
    position: np.ndarray
    rotation: np.ndarray
    intr: tuple[float, float, float, float] = ITOP_INTR

    @classmethod
    def top(cls, height: float, xy: tuple[float, float] = (0.0, 0.0), tilt_deg: float = 0.0,
            azimuth: float = 0.0, intr: tuple[float, float, float, float] = ITOP_INTR) -> "Camera":
        # Looking straight down: x_cam = X, y_cam = Y, z_cam = -Z (right-handed); then pitched by
        # ``tilt_deg`` about the camera's x axis after turning the room by ``azimuth`` (radians).
        down = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]])
        t, a = np.radians(tilt_deg), azimuth
        pitch = np.array([[1.0, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
        yaw = np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
        return cls("top", np.array([xy[0], xy[1], height]), pitch @ down @ yaw, tuple(intr))

    @classmethod
    def side(cls, height: float, distance: float) -> "Camera":
        # At (0, -distance, height) looking along +Y: x_cam = X, y_cam = Z, z_cam = Y.
        rot = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])
        return cls("side", np.array([0.0, -distance, height]), rot)

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        return (np.asarray(p) - self.position) @ self.rotation.T

    def floor_plane(self) -> np.ndarray:
        """(4,) n, d with n . p_cam = d for the floor Z = 0."""
        n = self.rotation @ np.array([0, 0, 1.0])
        return np.append(n, n @ self.to_camera(np.zeros(3)))

    def footprint(self, depth: float) -> tuple[float, float]:
        """Half extents (x, y) in metres of the view at ``depth``."""
        cx, cy, kx, ky = self.intr
        return cx * kx * depth, cy * ky * depth

    def floor_centre(self) -> np.ndarray:
        """(2,) world XY where the optical axis meets the floor (the camera's XY when not tilted)."""
        axis = self.rotation.T @ np.array([0, 0, 1.0])
        if axis[2] >= -1e-6:
            return self.position[:2].copy()
        return self.position[:2] + axis[:2] * (self.position[2] / -axis[2])

    def project(self, p_cam: np.ndarray) -> np.ndarray:
        return project(p_cam, self.intr)


def project(p_cam: np.ndarray, intr: tuple[float, float, float, float] = ITOP_INTR) -> np.ndarray:
    """(..., 3) camera metres -> (..., 2) pixel u, v (ITOP's equations; ``intr`` = cx, cy, 1/fx, 1/fy)."""
    cx, cy, kx, ky = intr
    z = np.maximum(p_cam[..., 2], 1e-6)
    return np.stack([cx + p_cam[..., 0] / (kx * z), cy - p_cam[..., 1] / (ky * z)], axis=-1)


@jit
def _ray(u, v, intr):
    dx, dy = (u - intr[0]) * intr[2], -(v - intr[1]) * intr[3]
    n = np.sqrt(dx * dx + dy * dy + 1.0)
    return dx / n, dy / n, 1.0 / n


@jit
def _capsule_t(dx, dy, dz, ax, ay, az, bx, by, bz, r):
    """Distance along the unit ray from the origin to the capsule A-B of radius r (inf = miss)."""
    bax, bay, baz = bx - ax, by - ay, bz - az
    oax, oay, oaz = -ax, -ay, -az
    baba = bax * bax + bay * bay + baz * baz
    bard = bax * dx + bay * dy + baz * dz
    baoa = bax * oax + bay * oay + baz * oaz
    rdoa = dx * oax + dy * oay + dz * oaz
    oaoa = oax * oax + oay * oay + oaz * oaz
    a = baba - bard * bard
    b = baba * rdoa - baoa * bard
    c = baba * oaoa - baoa * baoa - r * r * baba
    h = b * b - a * c
    if a > 1e-12 and h >= 0.0:
        t = (-b - np.sqrt(h)) / a
        y = baoa + t * bard
        if 0.0 < y < baba and t > 0:
            return t
    # caps
    best = np.inf
    for k in range(2):
        cx, cy, cz = (oax, oay, oaz) if k == 0 else (-bx, -by, -bz)
        bb = dx * cx + dy * cy + dz * cz
        cc = cx * cx + cy * cy + cz * cz - r * r
        hh = bb * bb - cc
        if hh >= 0.0:
            t = -bb - np.sqrt(hh)
            if 0 < t < best:
                best = t
    return best


@jit
def _box_t(box, wd, origin):
    """Ray parameter where the world-frame ray ``wd`` (3,) from ``origin`` (3,) enters the
    axis-aligned ``box`` (7,): min xyz, max xyz, label (metres); inf when it misses."""
    t0, t1 = 0.0, np.inf
    for ax in range(3):
        d = wd[ax]
        lo, hi = box[ax] - origin[ax], box[3 + ax] - origin[ax]
        if abs(d) < 1e-12:
            if not (lo <= 0.0 <= hi):
                return np.inf
        else:
            ta, tb = lo / d, hi / d
            if ta > tb:
                ta, tb = tb, ta
            t0, t1 = max(t0, ta), min(t1, tb)
    return t0 if t0 <= t1 and t0 > 0 else np.inf


@jit
def render_scene(capsules, boxes, floor, depth, label, intr, rot, origin):
    """Z-buffer render. capsules (N, 8): A xyz, B xyz, radius, label (camera metres);
    boxes (B, 7): min xyz, max xyz, label (world frame, axis-aligned); floor (4,): n, d;
    intr (4,) cx, cy, 1/fx, 1/fy; rot (3, 3) world -> camera; origin (3,) camera in world.
    Out: depth (H, W) z in metres (0 = nothing), label (H, W) int32 (-1 = floor/none).
    """
    H, W = depth.shape
    for v in range(H):
        for u in range(W):
            dx, dy, dz = _ray(u, v, intr)
            wd = (rot[0, 0] * dx + rot[1, 0] * dy + rot[2, 0] * dz, rot[0, 1] * dx + rot[1, 1] * dy + rot[2, 1] * dz,
                  rot[0, 2] * dx + rot[1, 2] * dy + rot[2, 2] * dz)
            best = np.inf
            lab = -1
            den = floor[0] * dx + floor[1] * dy + floor[2] * dz
            if abs(den) > 1e-9:
                t = floor[3] / den
                if t > 0:
                    best = t
            for i in range(boxes.shape[0]):
                t = _box_t(boxes[i], wd, origin)
                if t < best:
                    best = t
                    lab = int(boxes[i, 6])
            depth[v, u] = best * dz if best < np.inf else 0.0
            label[v, u] = lab
    for i in range(capsules.shape[0]):
        ax, ay, az, bx, by, bz, r = capsules[i, 0], capsules[i, 1], capsules[i, 2], capsules[i, 3], capsules[i, 4], capsules[i, 5], capsules[i, 6]
        zmin = min(az, bz) - r
        if zmin <= 0.05:
            continue
        # screen bounding box of the capsule (conservative)
        u0, u1, v0, v1 = W, -1, H, -1
        for (px, py, pz) in ((ax, ay, az), (bx, by, bz)):
            zz = max(pz - r, 0.05)
            for sx in (-1.0, 1.0):
                for sy in (-1.0, 1.0):
                    uu = intr[0] + (px + sx * r) / (intr[2] * zz)
                    vv = intr[1] - (py + sy * r) / (intr[3] * zz)
                    u0, u1 = min(u0, int(uu) - 1), max(u1, int(uu) + 2)
                    v0, v1 = min(v0, int(vv) - 1), max(v1, int(vv) + 2)
        lab = int(capsules[i, 7])
        for v in range(max(v0, 0), min(v1, H)):
            for u in range(max(u0, 0), min(u1, W)):
                dx, dy, dz = _ray(u, v, intr)
                t = _capsule_t(dx, dy, dz, ax, ay, az, bx, by, bz, r)
                if t < np.inf:
                    z = t * dz
                    if depth[v, u] == 0.0 or z < depth[v, u]:
                        depth[v, u] = z
                        label[v, u] = lab


@jit
def sensor_effects(depth, noise, drop, max_range, edge_jump):
    """In place: add noise (H, W) scaled by z^2, drop readings at depth edges where
    drop (H, W) uniform < 0.5, drop beyond max_range."""
    H, W = depth.shape
    a, b, z0 = GENERIC_NOISE
    src = depth.copy()
    for v in range(H):
        for u in range(W):
            z = src[v, u]
            if z <= 0.0 or z > max_range:
                depth[v, u] = 0.0
                continue
            edge = False
            for dv, du in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                vv, uu = v + dv, u + du
                if 0 <= vv < H and 0 <= uu < W and abs(src[vv, uu] - z) > edge_jump:
                    edge = True
            if (edge and drop[v, u] < 0.5) or drop[v, u] < 0.002:
                depth[v, u] = 0.0
            else:
                depth[v, u] = z + noise[v, u] * (a + b * (z - z0) ** 2)
