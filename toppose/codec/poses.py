"""Decoded people and their conversions (COCO-17 results, CMU OpenPose JSON)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toppose.skeleton import COCO17_FROM_OPENPOSE


@dataclass
class Poses:
    """People found in one frame.

    keypoints: (P, J, 3) float32 x, y, score in pixels; a missing part is (0, 0, 0).
    scores: (P,) float32, total of part and limb scores (CMU's person score).
    parts: (P,) int32, number of parts found.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    parts: np.ndarray

    @classmethod
    def empty(cls, num_keypoints: int = 18) -> "Poses":
        return cls(np.zeros((0, num_keypoints, 3), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.scores)

    def scaled(self, scale: float) -> "Poses":
        """Coordinates divided by ``scale`` (input pixels -> original pixels); missing stay 0."""
        kp = self.keypoints.copy()
        kp[..., :2] /= scale
        kp[kp[..., 2] <= 0] = 0.0
        return Poses(kp, self.scores.copy(), self.parts.copy())

    def to_coco17(self, offset: float = 0.0) -> np.ndarray:
        """(P, 17, 3): COCO-17 order, x, y (+ offset) and v = 1 for found parts, zeros otherwise."""
        kp = self.keypoints[:, list(COCO17_FROM_OPENPOSE), :]
        out = np.zeros(kp.shape, np.float32)
        found = kp[..., 2] > 0
        out[..., :2] = np.where(found[..., None], kp[..., :2] + offset, 0.0)
        out[..., 2] = found
        return out

    def coco_results(self, image_id: int, offset: float = 0.0) -> list[dict]:
        """pycocotools results; a person scores total score x part count (public evaluation)."""
        coco = self.to_coco17(offset)
        return [{"image_id": int(image_id), "category_id": 1,
                 "keypoints": [round(float(v), 3) for v in coco[p].ravel()],
                 "score": float(self.scores[p] * self.parts[p])} for p in range(len(self))]

    def openpose_json(self) -> dict:
        """CMU OpenPose's per-frame JSON (version 1.3 layout, ``pose_keypoints_2d``)."""
        return {"version": 1.3, "people": [
            {"person_id": [-1], "pose_keypoints_2d": [round(float(v), 3) for v in self.keypoints[p].ravel()],
             "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
             "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
             "hand_right_keypoints_3d": []} for p in range(len(self))]}
