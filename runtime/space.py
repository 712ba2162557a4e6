"""``toppose-stream --3d``: each person's keypoints in metres (camera frame), the floor, heights above it.

One ``Space`` per source (each camera has its own floor). NumPy only: the lifting offsets are a
small MLP stored as ``models/toppose-lift.npz`` beside the bundled pose model.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from toppose.camera import Intrinsics
from toppose.codec.poses import Poses
from toppose.floor import FloorTracker, person_heights
from toppose.lift import LiftModel, depth_metres


def bundled_lifter() -> Path:
    """The lifting model shipped beside the bundled pose model (``toppose.train.lift`` writes it)."""
    return Path(str(resources.files("toppose.runtime") / "models" / "toppose-lift.npz"))


@dataclass
class Space3D:
    """One frame in 3-D: points (P, K, 3) camera metres (NaN = unknown), floor (4,) or None,
    heights: per person {"head", "pelvis", "lying"} (None where unknown)."""

    points: np.ndarray
    floor: np.ndarray | None
    heights: list[dict]

    def person_records(self) -> list[dict]:
        """Per person: keypoints_3d (K x [x, y, z] metres or null), height (head, pelvis), lying."""
        known = np.isfinite(self.points).all(-1).tolist()                      # (P, K)
        coords = np.round(self.points.astype(np.float64), 3).tolist()          # one conversion, not one per keypoint
        out = []
        for p, (pts, ok) in enumerate(zip(coords, known)):
            h = self.heights[p] if self.heights else {"head": None, "pelvis": None, "lying": None}
            out.append({"keypoints_3d": [q if k else None for q, k in zip(pts, ok)],
                        "height": {"head": h["head"], "pelvis": h["pelvis"]}, "lying": h["lying"]})
        return out

    def floor_record(self) -> list[float] | None:
        """The floor plane as JSON: [a, b, c, d] (unit normal toward the camera, d = the camera's
        height in metres), or None."""
        return None if self.floor is None else [round(float(c), 5) for c in self.floor]


class Space:
    """Lifts each frame's people and keeps the camera's floor; ``space(poses, frame, intrinsics)``."""

    def __init__(self, lifter: LiftModel | None = None, refresh: int = 150) -> None:
        self.lifter = lifter or LiftModel.load(bundled_lifter())
        self.floor = FloorTracker(refresh=refresh)

    def __call__(self, poses: Poses, frame: np.ndarray, intrinsics: Intrinsics | None) -> Space3D:
        """(H, W) depth frame (uint16 mm or float metres) and its camera -> Space3D."""
        k = poses.keypoints.shape[1]
        if intrinsics is None or frame.ndim != 2 or frame.dtype == np.uint8:
            return Space3D(np.full((len(poses), k, 3), np.nan, np.float32), None, [])
        depth = depth_metres(frame)
        points = self.lifter.lift(poses.keypoints, depth, intrinsics)
        plane = self.floor.update(depth, intrinsics)
        heights = [person_heights(p, plane) for p in points] if plane is not None else []
        return Space3D(points, plane, heights)
