"""Depth sensor models applied to a clean rendered depth map.

Every model maps a clean (H, W) depth in metres (0 = nothing hit) and the camera's
horizontal focal length in pixels to a measured depth map, invalid readings = 0.

- ``none``: the clean map.
- ``generic``: the renderer's original model (noise growing with z², drop-outs at depth
  edges, a few random holes), kept bit-identical so existing data recipes reproduce.
- ``xtion``: structured light like ITOP's Asus Xtion / Kinect v1 (PrimeSense).
- ``d435``: active stereo like the Intel RealSense D435.

Figures are cited where they are used; see /work/shared/spec/depth-sensors.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from toppose.synth.render import sensor_effects

SENSORS = ("none", "generic", "xtion", "d435")


@dataclass(frozen=True)
class StructuredLight:
    """PrimeSense-class sensor (Asus Xtion PRO, Kinect v1)."""

    baseline_m: float = 0.075    # projector - IR camera distance (Khoshelham & Oude Elberink 2012, ~7.5 cm)
    native_width: int = 640      # disparity is measured on the native 640x480 IR image
    disparity_step: float = 1 / 8  # sub-pixel disparity resolution: with f=580 px, b=7.5 cm it gives
    #                              ~7 cm depth resolution at 5 m, as Khoshelham & Oude Elberink report
    disparity_sigma: float = 0.07  # random disparity error (px): ~4 cm depth error at 5 m (same paper)
    min_range_m: float = 0.5     # Kinect v1 / Xtion operating range 0.5(0.8)-4.5(3.5) m
    max_range_m: float = 4.5
    speckle_p: float = 0.002     # isolated drop-outs (dark, shiny, oblique spots)


@dataclass(frozen=True)
class ActiveStereo:
    """Intel RealSense D435 (D400 family)."""

    baseline_m: float = 0.050    # D435 stereo baseline 50 mm (Intel D400 datasheet)
    hfov_deg: float = 87.0       # D435 depth field of view ~87 x 58 degrees (datasheet)
    native_width: int = 640      # RMS model evaluated at 640 wide, as in Intel's tuning white paper
    subpixel: float = 0.08       # sub-pixel accuracy s (px) of a good scene (Intel tuning white paper)
    flying_p: float = 0.6        # share of edge pixels smeared between the two surfaces
    texture_holes: float = 0.04  # area share of low-texture holes, weighted toward far surfaces
    speckle_p: float = 0.001
    min_range_m: float = 0.105   # D435 minimum Z at 848x480 (datasheet)
    max_range_m: float = 10.0

    def focal_px(self) -> float:
        return self.native_width * 0.5 / np.tan(np.radians(self.hfov_deg) / 2)

    def rms_m(self, z: np.ndarray) -> np.ndarray:
        """Intel's RMS error model: z² · s / (f · B) (metres), about 1 % at 2 m (datasheet: <= 2 %)."""
        return z * z * self.subpixel / (self.focal_px() * self.baseline_m)


XTION = StructuredLight()
D435 = ActiveStereo()


def occluded_from_offset(depth: np.ndarray, focal_px: float, baseline_m: float) -> np.ndarray:
    """(H, W) bool: points hidden from a second viewpoint ``baseline_m`` to the camera's right.

    A point at column u with disparity d = f·b/z projects to column u - d there; along each
    row it is hidden when a point to its right lands at a smaller column (a 1-D z-buffer).
    This gives the shadow band on the left side of every near object.
    """
    H, W = depth.shape
    valid = depth > 0
    disp = np.where(valid, focal_px * baseline_m / np.where(valid, depth, 1.0), 0.0)
    col = np.where(valid, np.arange(W)[None, :] - disp, np.inf)
    right_min = np.minimum.accumulate(col[:, ::-1], axis=1)[:, ::-1]
    beyond = np.concatenate([right_min[:, 1:], np.full((H, 1), np.inf)], axis=1)
    return valid & (col > beyond + 0.5)


def depth_edges(depth: np.ndarray, jump_m: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """-> (H, W) bool edge pixels (the far side of a jump > ``jump_m`` to a 4-neighbour), and the
    (H, W) depth of the nearest neighbour across the edge."""
    pad = np.pad(depth, 1, mode="edge")
    near = depth.copy()
    for dv, du in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        nb = pad[1 + dv:1 + dv + depth.shape[0], 1 + du:1 + du + depth.shape[1]]
        take = (nb > 0) & (nb < near - jump_m)
        near = np.where(take, nb, near)
    return (near < depth) & (depth > 0), near


def xtion(clean: np.ndarray, fx: float, rng: np.random.Generator, p: StructuredLight = XTION) -> np.ndarray:
    """Structured light: projector shadows, disparity noise and 1/8 px disparity quantisation."""
    f = fx * p.native_width / clean.shape[1]
    fb = f * p.baseline_m
    shadow = occluded_from_offset(clean, fx, p.baseline_m)
    disp = np.where(clean > 0, fb / np.where(clean > 0, clean, 1.0), 0.0)
    disp = disp + rng.standard_normal(clean.shape) * p.disparity_sigma
    disp = np.round(disp / p.disparity_step) * p.disparity_step
    out = np.where(disp > 0, fb / np.where(disp > 0, disp, 1.0), 0.0)
    bad = shadow | (clean <= 0) | (out < p.min_range_m) | (out > p.max_range_m)
    bad |= rng.random(clean.shape) < p.speckle_p
    return np.where(bad, 0.0, out)


def _low_texture(shape: tuple[int, int], z: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool blotches covering about ``share`` of the frame, more likely on far surfaces."""
    coarse = rng.standard_normal((max(shape[0] // 16, 2), max(shape[1] // 16, 2))).astype(np.float32)
    field = cv2.resize(cv2.GaussianBlur(coarse, (0, 0), 1.0), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    field = field / (field.std() + 1e-6) + 0.5 * (z - z[z > 0].mean() if (z > 0).any() else 0.0)
    return field > np.quantile(field, 1.0 - share)


def d435(clean: np.ndarray, fx: float, rng: np.random.Generator, p: ActiveStereo = D435) -> np.ndarray:
    """Active stereo: RMS noise ~ z², flying pixels across edges, holes where the right imager
    cannot see the point and on low-texture regions."""
    occluded = occluded_from_offset(clean, fx, p.baseline_m)
    edge, near = depth_edges(clean)
    fly = edge & (rng.random(clean.shape) < p.flying_p)
    mix = rng.random(clean.shape)
    z = np.where(fly, near + mix * (clean - near), clean)
    z = z + rng.standard_normal(clean.shape) * p.rms_m(z)
    bad = occluded | (clean <= 0) | (z < p.min_range_m) | (z > p.max_range_m)
    bad |= _low_texture(clean.shape, clean, p.texture_holes, rng) | (rng.random(clean.shape) < p.speckle_p)
    return np.where(bad, 0.0, z)


def generic(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    depth = clean.astype(np.float64).copy()
    sensor_effects(depth, rng.standard_normal(depth.shape), rng.random(depth.shape), 6.0, 0.15)
    return depth


def apply_sensor(name: str, clean: np.ndarray, fx: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) clean metres -> (H, W) float64 measured metres (0 = invalid) for sensor ``name``."""
    if name == "none":
        return clean.astype(np.float64).copy()
    if name == "generic":
        return generic(clean, rng)
    if name == "xtion":
        return xtion(clean, fx, rng)
    if name == "d435":
        return d435(clean, fx, rng)
    raise ValueError(f"unknown sensor {name!r}; known: {', '.join(SENSORS)}")
