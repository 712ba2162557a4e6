"""Plausible 2-D people seen from any direction, for codec tests and benchmarks.

Not a renderer (see ``toppose.synth.render``): keypoints only, in OpenPose order, placed
without overlap, rotated freely as a ceiling camera sees them.
"""

from __future__ import annotations

import numpy as np

from toppose.data.format import person_annotation
from toppose.skeleton import ITOP_LABELLED, NUM_OPENPOSE

# A standing person, front view, unit height ~ 1 (x right, y down): the ITOP-labelled OpenPose
# keypoints (ITOP_LABELLED, nose to left ankle); eyes and ears unlabelled, as in depth data.
_TEMPLATE = np.array([[0.0, -0.43], [0.0, -0.33], [-0.12, -0.32], [-0.16, -0.14], [-0.18, 0.02],
                      [0.12, -0.32], [0.16, -0.14], [0.18, 0.02], [-0.07, 0.02], [-0.08, 0.26],
                      [-0.08, 0.5], [0.07, 0.02], [0.08, 0.26], [0.08, 0.5]], np.float32)


def random_people(rng: np.random.Generator, count: int, hw: tuple[int, int],
                  size: tuple[float, float] = (60.0, 120.0), margin: float = 4.0,
                  max_tries: int = 2000) -> np.ndarray:
    """(P, 18, 3) x, y, v=2 keypoints of up to ``count`` non-overlapping people fully in frame."""
    h, w = hw
    people, discs = [], []
    for _ in range(max_tries):
        if len(people) == count:
            break
        s = rng.uniform(*size)
        angle = rng.uniform(0, 2 * np.pi)
        pts = _TEMPLATE * s + rng.normal(0, 0.015 * s, _TEMPLATE.shape)
        c, sn = np.cos(angle), np.sin(angle)
        pts = pts @ np.array([[c, sn], [-sn, c]], np.float32)
        r = np.linalg.norm(pts, axis=1).max() + margin
        if 2 * r >= min(h, w):
            continue
        centre = rng.uniform([r, r], [w - r, h - r])
        if any(np.linalg.norm(centre - c0) < r + r0 for c0, r0 in discs):
            continue
        discs.append((centre, r))
        kp = np.zeros((NUM_OPENPOSE, 3), np.float32)
        kp[list(ITOP_LABELLED), :2] = pts + centre
        kp[list(ITOP_LABELLED), 2] = 2
        people.append(kp)
    return np.array(people, np.float32).reshape(-1, NUM_OPENPOSE, 3)


def as_dataset(scenes: list[np.ndarray], hw: tuple[int, int]) -> dict:
    """Training-format COCO JSON for a list of (P, 18, 3) scenes (bbox area as the OKS area)."""
    images, anns = [], []
    for i, people in enumerate(scenes):
        images.append({"id": i + 1, "width": hw[1], "height": hw[0], "file_name": f"{i + 1:06d}.png"})
        for person in people:
            if (person[:, 2] > 0).any():
                anns.append({"id": len(anns) + 1, "image_id": i + 1, **person_annotation(person)})
    return {"images": images, "annotations": anns}
