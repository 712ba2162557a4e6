"""An articulated 3-D body with the 15 ITOP joints, capsule limbs and pose families.

World frame: X, Y on the floor, Z up, metres. A pose is a vector of joint angles
(``POSE_FIELDS``, radians), so poses can be blended smoothly by the scene player.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toppose.skeleton import NUM_ITOP

POSE_FIELDS = ("trunk_pitch", "trunk_roll", "head_pitch",
               "sh_flex_r", "sh_abd_r", "elbow_r", "sh_flex_l", "sh_abd_l", "elbow_l",
               "hip_flex_r", "hip_abd_r", "knee_r", "hip_flex_l", "hip_abd_l", "knee_l")
F = {name: i for i, name in enumerate(POSE_FIELDS)}
FAMILIES = ("standing", "walking", "arms_raised", "reaching", "crouching", "sitting", "bending", "lying")

# Body parts, for the segmentation map: capsule part ids.
PARTS = ("head", "neck", "torso", "shoulders", "pelvis", "upper_arm_r", "upper_arm_l", "forearm_r",
         "forearm_l", "hand_r", "hand_l", "thigh_r", "thigh_l", "shank_r", "shank_l", "foot_r", "foot_l")
_P = {name: i for i, name in enumerate(PARTS)}
# ITOP joint index -> parts touching it (their radii bound how deep a joint sits in the body).
JOINT_PARTS = ((0,), (1, 2, 3), (3, 5), (3, 6), (5, 7), (6, 8), (9,), (10,), (2,), (4, 11), (4, 12),
               (11, 13), (12, 14), (13, 15), (14, 16))


@dataclass(frozen=True)
class Body:
    height: float = 1.75   # metres
    build: float = 1.0     # width scale

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Body":
        return cls(height=float(rng.uniform(1.5, 1.95)), build=float(rng.uniform(0.88, 1.15)))

    def radii(self) -> np.ndarray:
        """(len(PARTS),) capsule radii in metres."""
        h, b = self.height, self.build
        r = {"head": 0.062 * h, "neck": 0.03 * h * b, "torso": 0.082 * h * b, "shoulders": 0.042 * h * b,
             "pelvis": 0.062 * h * b, "upper_arm": 0.027 * h * b, "forearm": 0.021 * h * b,
             "hand": 0.02 * h, "thigh": 0.044 * h * b, "shank": 0.031 * h * b, "foot": 0.024 * h}
        return np.array([r[p.rsplit("_", 1)[0] if p.endswith(("_r", "_l")) else p] for p in PARTS])


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else v


def _bent(base: np.ndarray, toward: np.ndarray, angle: float, fallback: np.ndarray) -> np.ndarray:
    perp = toward - np.dot(toward, base) * base
    if np.linalg.norm(perp) < 1e-6:
        perp = fallback - np.dot(fallback, base) * base
    return np.cos(angle) * base + np.sin(angle) * _unit(perp)


def articulate(body: Body, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose angles -> (joints (15, 3), capsule end points (len(PARTS), 2, 3)) in the body frame.

    Body frame: pelvis centre at the origin, facing +X, Z up.
    """
    h = body.height
    f, r, u = np.array([1.0, 0, 0]), np.array([0, -1.0, 0]), np.array([0, 0, 1.0])
    beta, roll = pose[F["trunk_pitch"]], pose[F["trunk_roll"]]
    s = _unit(np.cos(beta) * u + np.sin(beta) * f + np.sin(roll) * r)
    ft = _unit(np.cos(beta) * f - np.sin(beta) * u)
    J = np.zeros((NUM_ITOP, 3))
    J[8] = s * 0.16 * h                                    # torso
    J[1] = s * 0.30 * h                                    # neck
    hp = pose[F["head_pitch"]]
    J[0] = J[1] + (np.cos(hp) * s + np.sin(hp) * ft) * 0.11 * h  # head centre
    half_sh, half_hip = 0.115 * h * body.build, 0.058 * h * body.build
    ends = np.zeros((len(PARTS), 2, 3))
    for side, sign, sh, el, ha, hip, kn, ft_i in (("r", 1, 2, 4, 6, 9, 11, 13), ("l", -1, 3, 5, 7, 10, 12, 14)):
        J[sh] = J[1] + sign * r * half_sh - s * 0.03 * h
        J[hip] = sign * r * half_hip
        fl, ab = pose[F[f"sh_flex_{side}"]], pose[F[f"sh_abd_{side}"]]
        ua = _unit(-s * np.cos(fl) * np.cos(ab) + ft * np.sin(fl) * np.cos(ab) + sign * r * np.sin(ab))
        J[el] = J[sh] + ua * 0.186 * h
        fa = _bent(ua, ft + 0.5 * s, pose[F[f"elbow_{side}"]], s)
        wrist = J[el] + fa * 0.146 * h
        J[ha] = J[el] + fa * 0.175 * h
        hf, hab = pose[F[f"hip_flex_{side}"]], pose[F[f"hip_abd_{side}"]]
        ut = _unit(-u * np.cos(hf) * np.cos(hab) + f * np.sin(hf) * np.cos(hab) + sign * r * np.sin(hab))
        J[kn] = J[hip] + ut * 0.245 * h
        us = _bent(ut, -f, pose[F[f"knee_{side}"]], -f)
        J[ft_i] = J[kn] + us * 0.246 * h
        toe = J[ft_i] + _unit(f - 0.3 * us) * 0.12 * h
        ends[_P[f"upper_arm_{side}"]] = J[sh], J[el]
        ends[_P[f"forearm_{side}"]] = J[el], wrist
        ends[_P[f"hand_{side}"]] = wrist, J[el] + fa * 0.2 * h
        ends[_P[f"thigh_{side}"]] = J[hip], J[kn]
        ends[_P[f"shank_{side}"]] = J[kn], J[ft_i]
        ends[_P[f"foot_{side}"]] = J[ft_i] + 0.02 * h * u, toe
    ends[_P["head"]] = J[0], J[0]
    ends[_P["neck"]] = J[1], J[1] + (J[0] - J[1]) * 0.45
    ends[_P["torso"]] = s * 0.07 * h, J[1] - s * 0.05 * h
    ends[_P["shoulders"]] = J[2], J[3]
    ends[_P["pelvis"]] = J[9], J[10]
    return J, ends


def _relaxed_pose(rng: np.random.Generator) -> np.ndarray:
    """A standing pose with small random joint angles: every family starts from it."""
    d = np.deg2rad
    p = np.zeros(len(POSE_FIELDS))
    p[F["trunk_pitch"]] = d(rng.uniform(-5, 8))
    p[F["trunk_roll"]] = d(rng.uniform(-4, 4))
    p[F["head_pitch"]] = d(rng.uniform(-10, 25))
    for side in "rl":
        p[F[f"sh_flex_{side}"]] = d(rng.uniform(-15, 20))
        p[F[f"sh_abd_{side}"]] = d(rng.uniform(3, 20))
        p[F[f"elbow_{side}"]] = d(rng.uniform(5, 40))
        p[F[f"hip_flex_{side}"]] = d(rng.uniform(-5, 8))
        p[F[f"hip_abd_{side}"]] = d(rng.uniform(0, 8))
        p[F[f"knee_{side}"]] = d(rng.uniform(0, 10))
    return p


def _walk(p: np.ndarray, phi: float) -> None:
    """In place: legs and arms at gait phase ``phi`` (radians), the left half a cycle behind."""
    d = np.deg2rad
    for side, offset in (("r", 0.0), ("l", np.pi)):
        swing = np.sin(phi + offset)
        p[F[f"hip_flex_{side}"]] = d(25) * swing
        p[F[f"knee_{side}"]] = d(8 + 45 * max(0.0, np.sin(phi + offset - 1.0)))
        p[F[f"sh_flex_{side}"]] = -d(22) * swing
        p[F[f"elbow_{side}"]] = d(20 + 15 * max(0.0, -swing))


def sample_pose(rng: np.random.Generator, family: str, phase: float | None = None) -> np.ndarray:
    """A random pose vector of ``family`` (see FAMILIES)."""
    d = np.deg2rad
    p = _relaxed_pose(rng)
    if family == "walking":
        _walk(p, rng.uniform(0, 2 * np.pi) if phase is None else phase)
    elif family == "arms_raised":
        for side in "rl" if rng.random() < 0.6 else rng.choice(["r", "l"]):
            p[F[f"sh_flex_{side}"]] = d(rng.uniform(90, 175))
            p[F[f"sh_abd_{side}"]] = d(rng.uniform(0, 40))
            p[F[f"elbow_{side}"]] = d(rng.uniform(0, 50))
    elif family == "reaching":
        side = rng.choice(["r", "l"])
        p[F[f"sh_flex_{side}"]] = d(rng.uniform(55, 105))
        p[F[f"sh_abd_{side}"]] = d(rng.uniform(-10, 45))
        p[F[f"elbow_{side}"]] = d(rng.uniform(0, 25))
        p[F["trunk_pitch"]] = d(rng.uniform(0, 25))
    elif family == "crouching":
        p[F["trunk_pitch"]] = d(rng.uniform(20, 50))
        for side in "rl":
            p[F[f"hip_flex_{side}"]] = d(rng.uniform(85, 120))
            p[F[f"knee_{side}"]] = d(rng.uniform(100, 140))
            p[F[f"hip_abd_{side}"]] = d(rng.uniform(5, 25))
            p[F[f"sh_flex_{side}"]] = d(rng.uniform(10, 70))
    elif family == "sitting":
        p[F["trunk_pitch"]] = d(rng.uniform(-10, 20))
        for side in "rl":
            p[F[f"hip_flex_{side}"]] = d(rng.uniform(75, 100))
            p[F[f"knee_{side}"]] = d(rng.uniform(70, 110))
            p[F[f"sh_flex_{side}"]] = d(rng.uniform(0, 50))
    elif family == "bending":
        beta = d(rng.uniform(55, 95))
        p[F["trunk_pitch"]] = beta
        for side in "rl":
            p[F[f"sh_flex_{side}"]] = beta + d(rng.uniform(-20, 20))  # arms hang toward the floor
            p[F[f"knee_{side}"]] = d(rng.uniform(0, 25))
    elif family not in ("standing", "lying"):
        raise ValueError(f"unknown pose family {family!r}; known: {', '.join(FAMILIES)}")
    return p


@dataclass
class Person:
    """A placed person: joints (15, 3) and capsules (len(PARTS), 2, 3) in world metres."""

    joints: np.ndarray
    ends: np.ndarray
    radii: np.ndarray
    seat: np.ndarray | None = None  # (2, 3) box corners of a chair, when sitting


def place(body: Body, pose: np.ndarray, xy: tuple[float, float], heading: float,
          family: str = "standing", rng: np.random.Generator | None = None) -> Person:
    """Articulate, orient (heading about Z, radians), and rest the body on the floor."""
    joints, ends = articulate(body, pose)
    radii = body.radii()
    if family == "lying":
        side = (rng.integers(0, 3) if rng is not None else 0)
        axis_rot = {0: _rot_y(np.pi / 2), 1: _rot_y(-np.pi / 2), 2: _rot_x(np.pi / 2)}[int(side)]
        joints, ends = joints @ axis_rot.T, ends @ axis_rot.T
    rz = _rot_z(heading)
    joints, ends = joints @ rz.T, ends @ rz.T
    seat = None
    if family == "sitting":
        seat_z = 0.26 * body.height
        lift = seat_z + radii[_P["pelvis"]] - 0.0
        seat_half = 0.22
        centre = rz @ np.array([0.05, 0, 0])
        seat = np.array([[xy[0] + centre[0] - seat_half, xy[1] + centre[1] - seat_half, 0.0],
                         [xy[0] + centre[0] + seat_half, xy[1] + centre[1] + seat_half, seat_z]])
    else:
        low = (ends[..., 2] - radii[:, None]).min()
        lift = -low
    shift = np.array([xy[0], xy[1], lift])
    return Person(joints + shift, ends + shift, radii, seat)


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
