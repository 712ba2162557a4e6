"""Overlay people on a frame, limbs from the skeleton definition."""

from __future__ import annotations

import cv2
import numpy as np

from toppose.codec.poses import Poses
from toppose.skeleton import Skeleton

_COLORS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
           (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
           (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]


def draw_poses(image: np.ndarray, poses: Poses, skeleton: Skeleton, thickness: int = 2) -> np.ndarray:
    """Draw in place on a (H, W, 3) uint8 image and return it."""
    for person in poses.keypoints:
        for k, ((a, b), redundant) in enumerate(zip(skeleton.limbs, skeleton.redundant)):
            if redundant or person[a, 2] <= 0 or person[b, 2] <= 0:
                continue
            pa = tuple(int(round(v)) for v in person[a, :2])
            pb = tuple(int(round(v)) for v in person[b, :2])
            cv2.line(image, pa, pb, _COLORS[k % len(_COLORS)], thickness, cv2.LINE_AA)
        for j, (x, y, s) in enumerate(person):
            if s > 0:
                cv2.circle(image, (int(round(x)), int(round(y))), thickness + 1, _COLORS[j % len(_COLORS)], -1, cv2.LINE_AA)
    return image


def draw_status(image: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(image, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def draw_heights(image: np.ndarray, poses: Poses, heights: list[dict]) -> np.ndarray:
    """Each person's head height above the floor (metres) beside the head; LYING in red when lying."""
    for person, h in zip(poses.keypoints, heights):
        seen = person[:, 2] > 0
        if not seen.any() or h.get("head") is None and not h.get("lying"):
            continue
        anchor = person[0] if person[0, 2] > 0 else person[seen][0]
        x, y = int(round(anchor[0])) + 6, int(round(anchor[1])) - 6
        text = f"{h['head']:.2f} m" if h.get("head") is not None else ""
        lying = bool(h.get("lying"))
        colour = (0, 0, 255) if lying else (255, 255, 255)
        cv2.putText(image, (text + " LYING").strip() if lying else text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    colour, 1, cv2.LINE_AA)
    return image
