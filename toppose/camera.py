"""Depth camera intrinsics, beside the skeleton: the renderer draws with them, the converters check against them.

Camera frame as in ITOP: x right, y up, z away from the camera (metres);
u = cx + x / (k z), v = cy - y / (k z), with k = 1 / f (pixels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from toppose.records import known_fields

# ITOP's sensor (a structured-light depth camera, 320 x 240): k = 0.0035, f = 285.714 px.
ITOP_WIDTH, ITOP_HEIGHT = 320, 240
ITOP_K_INV_F = 0.0035
ITOP_CX, ITOP_CY = 160.0, 120.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of a depth frame: focal lengths and principal point in pixels.

    ``model``/``coeffs``: the sensor's distortion model and its 5 coefficients ("none": zeros).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    model: str = "none"
    coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def hw(self) -> tuple[int, int]:
        return self.height, self.width

    def to_dict(self) -> dict:
        """As datasets record it; the distortion only when there is one."""
        d = asdict(self)
        if self.model == "none":
            del d["model"], d["coeffs"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        d = known_fields(cls, d, "camera intrinsics")
        return cls(int(d["width"]), int(d["height"]), float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]),
                   str(d.get("model", "none")), tuple(float(c) for c in d.get("coeffs", (0.0,) * 5)))


ITOP = Intrinsics(fx=1.0 / ITOP_K_INV_F, fy=1.0 / ITOP_K_INV_F, cx=ITOP_CX, cy=ITOP_CY,
                  width=ITOP_WIDTH, height=ITOP_HEIGHT)
