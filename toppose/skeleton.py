"""The one skeleton definition: keypoints, limbs, PAF channels, flips, OKS sigmas, COCO-17 and ITOP-15.

Everything that needs keypoint names, limb pairs or channel indices imports this module.
A skeleton is data: a skeleton with extra limbs (see ``TOPVIEW``) flows through the
encoder, the decoders, drawing and the networks' output channel counts unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toppose.records import known_fields

OPENPOSE_KEYPOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)

COCO17_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# COCO keypoint k is OpenPose keypoint COCO17_FROM_OPENPOSE[k]; the neck has no COCO slot.
COCO17_FROM_OPENPOSE = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)
COCO17_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062,
                 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089)
NECK_SIGMA = 0.079  # the neck has no COCO slot: it takes the shoulders' OKS sigma
COCO17_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13),
                   (6, 7), (6, 8), (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3),
                   (2, 4), (3, 5), (4, 6), (5, 7))  # 1-based, as COCO's category stores it

ITOP_JOINTS = (
    "head", "neck", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow",
    "right_hand", "left_hand", "torso", "right_hip", "left_hip", "right_knee", "left_knee",
    "right_foot", "left_foot",
)
# OpenPose keypoint k takes ITOP joint OPENPOSE_FROM_ITOP[k]; -1 = not labelled in ITOP.
OPENPOSE_FROM_ITOP = (0, 1, 2, 4, 6, 3, 5, 7, 9, 11, 13, 10, 12, 14, -1, -1, -1, -1)
ITOP_TORSO = 8  # becomes the person centre (objpos), not a keypoint

NUM_OPENPOSE = len(OPENPOSE_KEYPOINTS)  # 18
NUM_COCO17 = len(COCO17_KEYPOINTS)      # 17
NUM_ITOP = len(ITOP_JOINTS)             # 15
# OpenPose keypoints that ITOP labels (nose to left ankle; eyes and ears have no ITOP joint).
ITOP_LABELLED = tuple(k for k, j in enumerate(OPENPOSE_FROM_ITOP) if j >= 0)
# OKS sigma per OpenPose keypoint (COCO's, by name; the neck's is NECK_SIGMA).
OPENPOSE_SIGMAS = tuple(COCO17_SIGMAS[COCO17_FROM_OPENPOSE.index(k)] if k in COCO17_FROM_OPENPOSE else NECK_SIGMA
                        for k in range(NUM_OPENPOSE))

FLIP_PERMUTATION = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)


def openpose_from_itop(uv: np.ndarray, visible: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """ITOP (15, 2) pixel coordinates and (15,) visibility in an (H, W) frame ->
    (18, 3) x, y, COCO v and (15,) in-frame flags.

    v = 2 visible, 1 in frame but occluded, 0 outside the frame (coordinates kept) or not
    in ITOP (eyes, ears).
    """
    uv = np.asarray(uv, np.float32)
    in_frame = (uv[:, 0] >= 0) & (uv[:, 0] <= hw[1] - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= hw[0] - 1)
    kp = np.zeros((NUM_OPENPOSE, 3), np.float32)
    for k, j in enumerate(OPENPOSE_FROM_ITOP):
        if j >= 0:
            kp[k, :2] = uv[j]
            kp[k, 2] = (2 if visible[j] else 1) if in_frame[j] else 0
    return kp, in_frame


@dataclass(frozen=True)
class Skeleton:
    """Keypoints and limbs of a bottom-up model.

    ``limbs[k] = (a, b)`` joins keypoints a and b and owns PAF channels
    ``paf_channels[k] = (x_channel, y_channel)``. ``redundant[k]`` limbs only add parts
    to people found through other limbs (the textbook's ear-shoulder limbs); they never
    start a new person and are not drawn.
    """

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    paf_channels: tuple[tuple[int, int], ...]
    redundant: tuple[bool, ...]
    flip: tuple[int, ...]

    def __post_init__(self) -> None:
        k, n = len(self.keypoints), len(self.limbs)
        if len(self.paf_channels) != n or len(self.redundant) != n:
            raise ValueError(f"skeleton {self.name}: limbs, paf_channels and redundant differ in length")
        channels = sorted(c for pair in self.paf_channels for c in pair)
        if channels != list(range(2 * n)):
            raise ValueError(f"skeleton {self.name}: PAF channels must cover 0..{2 * n - 1} once each")
        if any(not (0 <= a < k and 0 <= b < k) for a, b in self.limbs):
            raise ValueError(f"skeleton {self.name}: limb joins an unknown keypoint")
        if sorted(self.flip) != list(range(k)):
            raise ValueError(f"skeleton {self.name}: flip is not a permutation of the keypoints")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def num_heatmaps(self) -> int:
        """Keypoint channels plus the background channel."""
        return len(self.keypoints) + 1

    @property
    def num_pafs(self) -> int:
        return 2 * len(self.limbs)

    def limb_array(self) -> np.ndarray:
        """(K, 4) int64: a, b, paf_x, paf_y per limb — the table the kernels read."""
        rows = [(a, b, px, py) for (a, b), (px, py) in zip(self.limbs, self.paf_channels)]
        return np.asarray(rows, dtype=np.int64).reshape(-1, 4)

    def redundant_array(self) -> np.ndarray:
        return np.asarray(self.redundant, dtype=np.bool_)

    def paf_flip(self) -> tuple[np.ndarray, np.ndarray]:
        """Channel permutation and x-sign for flipping PAF maps left/right.

        Returns (perm, sign), each (2K,): flipped[c] = sign[c] * paf[perm[c]].
        """
        index = {limb: k for k, limb in enumerate(self.limbs)}
        perm = np.arange(self.num_pafs)
        sign = np.ones(self.num_pafs, dtype=np.float32)
        for k, (a, b) in enumerate(self.limbs):
            fa, fb = self.flip[a], self.flip[b]
            px, py = self.paf_channels[k]
            if (fa, fb) in index:  # mirrored limb, same direction: negate x
                perm[px], perm[py] = self.paf_channels[index[(fa, fb)]]
                sign[px] = -1.0
            elif (fb, fa) in index:  # mirrored limb points the other way: negate y
                perm[px], perm[py] = self.paf_channels[index[(fb, fa)]]
                sign[py] = -1.0
            else:
                raise ValueError(f"skeleton {self.name}: limb {(a, b)} has no mirror limb")
        return perm, sign

    def to_dict(self) -> dict:
        return {"name": self.name, "keypoints": list(self.keypoints),
                "limbs": [list(x) for x in self.limbs],
                "paf_channels": [list(x) for x in self.paf_channels],
                "redundant": list(self.redundant), "flip": list(self.flip)}

    @classmethod
    def from_dict(cls, d: dict) -> "Skeleton":
        d = known_fields(cls, d, "skeleton")
        try:
            return cls(name=str(d["name"]), keypoints=tuple(d["keypoints"]),
                       limbs=tuple(tuple(int(v) for v in x) for x in d["limbs"]),
                       paf_channels=tuple(tuple(int(v) for v in x) for x in d["paf_channels"]),
                       redundant=tuple(bool(v) for v in d["redundant"]),
                       flip=tuple(int(v) for v in d["flip"]))
        except TypeError as e:
            raise ValueError(f"invalid skeleton description: {e}") from None


# The CMU/textbook decoding order (limbSeq, mapIdx - 19), 0-based.
_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
          (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
_PAFS = ((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5),
         (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19),
         (26, 27))

OPENPOSE18 = Skeleton(
    name="openpose18",
    keypoints=OPENPOSE_KEYPOINTS,
    limbs=_LIMBS,
    paf_channels=_PAFS,
    redundant=(False,) * 17 + (True, True),
    flip=FLIP_PERMUTATION,
)

# Extra top-view limbs: hip-hip and shoulder-hip let a person whose neck is outside the
# frame still be assembled. Appended after the standard channels (38..45).
TOPVIEW = Skeleton(
    name="topview23",
    keypoints=OPENPOSE_KEYPOINTS,
    limbs=_LIMBS + ((8, 11), (2, 8), (5, 11), (2, 5)),
    paf_channels=_PAFS + ((38, 39), (40, 41), (42, 43), (44, 45)),
    redundant=(False,) * 17 + (True, True) + (False,) * 4,
    flip=FLIP_PERMUTATION,
)

SKELETONS = {s.name: s for s in (OPENPOSE18, TOPVIEW)}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None
