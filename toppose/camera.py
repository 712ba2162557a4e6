"""Depth camera intrinsics, beside the skeleton: the renderer draws with them, the converters check against them.

Camera frame as in ITOP: x right, y up, z away from the camera (metres);
u = cx + x / (k z), v = cy - y / (k z), with k = 1 / f (pixels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# ITOP's sensor (a structured-light depth camera, 320 x 240): k = 0.0035, f = 285.714 px.
ITOP_WIDTH, ITOP_HEIGHT = 320, 240
ITOP_K_INV_F = 0.0035
ITOP_CX, ITOP_CY = 160.0, 120.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels and the frame size they belong to."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def hw(self) -> tuple[int, int]:
        return self.height, self.width

    def to_dict(self) -> dict:
        return asdict(self)


ITOP = Intrinsics(fx=1.0 / ITOP_K_INV_F, fy=1.0 / ITOP_K_INV_F, cx=ITOP_CX, cy=ITOP_CY,
                  width=ITOP_WIDTH, height=ITOP_HEIGHT)
