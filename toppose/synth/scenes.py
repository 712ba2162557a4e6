"""Random overhead (and side) scenes with exact ground truth, and a continuous scene player."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toppose.skeleton import NUM_ITOP, NUM_OPENPOSE, openpose_from_itop
from toppose.synth.body import FAMILIES, JOINT_PARTS, Body, Person, place, sample_pose
from toppose.synth.furniture import Spot, furnish
from toppose.synth.render import HEIGHT, ITOP_INTR, WIDTH, Camera, intrinsics_for_fov, render_scene
from toppose.synth.sensors import SENSORS, apply_sensor

FAMILY_WEIGHTS = np.array([0.2, 0.25, 0.12, 0.1, 0.08, 0.08, 0.1, 0.07])  # FAMILIES order
PARTS_PER_PERSON = 32  # label = person * 32 + part
FURNITURE_LABEL = -2   # label of furniture, walls and seats; -1 is the floor


@dataclass(frozen=True)
class SceneOptions:
    """Sensor model, furniture and camera mounting. Ranges are (low, high), drawn uniformly.

    ``clutter`` None keeps the original furniture rule (0-2 boxes away from people, top view);
    N places up to N pieces among people. ``fov`` None keeps ITOP's intrinsics, else the
    horizontal field of view in degrees. ``tilt`` is degrees from straight down (top view).
    """

    sensor: str = "generic"
    clutter: int | None = None
    height: tuple[float, float] = (2.5, 3.5)
    tilt: tuple[float, float] = (0.0, 0.0)
    fov: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.sensor not in SENSORS:
            raise ValueError(f"unknown sensor {self.sensor!r}; known: {', '.join(SENSORS)}")
        for name, (a, b), lo, hi in (("height", self.height, 0.5, 10.0), ("tilt", self.tilt, 0.0, 60.0),
                                     ("fov", self.fov or (60.0, 60.0), 20.0, 140.0)):
            if not lo <= a <= b <= hi:
                raise ValueError(f"{name} range must satisfy {lo} <= A <= B <= {hi}, got {a}:{b}")
        if self.clutter is not None and self.clutter < 0:
            raise ValueError(f"clutter must be at least 0, got {self.clutter}")

    def to_dict(self) -> dict:
        return {"sensor": self.sensor, "clutter": self.clutter, "camera_height": list(self.height),
                "tilt": list(self.tilt), "fov": list(self.fov) if self.fov else "itop"}


@dataclass
class Frame:
    """One rendered frame. P people; joints in ITOP's 15-joint order.

    depth (H, W) float32 metres (0 = no reading); parts (H, W) int8 body part or -1;
    person (H, W) int16 person index or -1; joints_cam (P, 15, 3) camera metres;
    joints_uv (P, 15, 2) pixels; visible (P, 15) in frame and not occluded;
    in_frame (P, 15); areas (P,) visible pixels.
    """

    depth: np.ndarray
    parts: np.ndarray
    person: np.ndarray
    joints_cam: np.ndarray
    joints_uv: np.ndarray
    visible: np.ndarray
    in_frame: np.ndarray
    areas: np.ndarray
    view: str
    families: list[str] = field(default_factory=list)
    furniture: np.ndarray | None = None  # (H, W) bool furniture, wall or seat surface
    intrinsics: tuple[float, float, float, float] = ITOP_INTR  # cx, cy, 1/fx, 1/fy
    clean: np.ndarray | None = None      # (H, W) float32 depth before the sensor model


def render(camera: Camera, people: list[Person], boxes: list[np.ndarray],
           rng: np.random.Generator | None, families: list[str] | None = None, sensor: str = "generic") -> Frame:
    """Ray-cast people and boxes ((2, 3) world corners) seen by ``camera``; ``rng`` None = no sensor."""
    caps = []
    for p, person in enumerate(people):
        ends = camera.to_camera(person.ends)
        for part in range(len(ends)):
            caps.append([*ends[part, 0], *ends[part, 1], person.radii[part], p * PARTS_PER_PERSON + part])
    world_boxes = [list(b[0]) + list(b[1]) + [FURNITURE_LABEL]
                   for b in boxes + [pp.seat for pp in people if pp.seat is not None]]
    capsules = np.asarray(caps, np.float64).reshape(-1, 8)
    box_arr = np.asarray(world_boxes, np.float64).reshape(-1, 7)
    clean = np.zeros((HEIGHT, WIDTH), np.float64)
    label = np.zeros((HEIGHT, WIDTH), np.int32)
    render_scene(capsules, box_arr, camera.floor_plane(), clean, label, np.asarray(camera.intr, np.float64),
                 camera.rotation, camera.position.astype(np.float64))
    joints_cam = np.array([camera.to_camera(p.joints) for p in people]).reshape(-1, NUM_ITOP, 3)
    uv = camera.project(joints_cam)
    ui, vi = np.rint(uv[..., 0]).astype(int), np.rint(uv[..., 1]).astype(int)
    in_frame = (ui >= 0) & (ui < WIDTH) & (vi >= 0) & (vi < HEIGHT) & (joints_cam[..., 2] > 0)
    visible = np.zeros_like(in_frame)
    for p, person in enumerate(people):
        for j in range(NUM_ITOP):
            if in_frame[p, j]:
                tol = max(person.radii[k] for k in JOINT_PARTS[j]) + 0.03
                visible[p, j] = clean[vi[p, j], ui[p, j]] >= joints_cam[p, j, 2] - tol
    person_map = np.where(label >= 0, label // PARTS_PER_PERSON, -1).astype(np.int16)
    parts = np.where(label >= 0, label % PARTS_PER_PERSON, -1).astype(np.int8)
    areas = np.bincount(person_map[person_map >= 0].ravel(), minlength=len(people))[:len(people)]
    depth = clean.copy() if rng is None else apply_sensor(sensor, clean, 1.0 / camera.intr[2], rng)
    return Frame(depth.astype(np.float32), parts, person_map, joints_cam, uv, visible, in_frame,
                 areas.astype(np.int64), camera.view, families or [], label == FURNITURE_LABEL, camera.intr,
                 clean.astype(np.float32))


def frame_keypoints(frame: Frame) -> np.ndarray:
    """(P, 18, 3) OpenPose keypoints with COCO visibility of a rendered frame's people."""
    people = [openpose_from_itop(frame.joints_uv[p], frame.visible[p], frame.depth.shape)[0]
              for p in range(len(frame.joints_uv))]
    return np.stack(people) if people else np.zeros((0, NUM_OPENPOSE, 3), np.float32)


def random_camera(rng: np.random.Generator, view: str, options: SceneOptions = SceneOptions()) -> Camera:
    """A top camera at a drawn height, tilt and field of view, or the side camera (ITOP's layout)."""
    if view == "top":
        height = float(rng.uniform(*options.height))
        if options.tilt == (0.0, 0.0) and options.fov is None:  # today's draw, so old seeds reproduce
            return Camera.top(height)
        tilt, azimuth = float(rng.uniform(*options.tilt)), float(rng.uniform(0, 2 * np.pi))
        intr = ITOP_INTR if options.fov is None else intrinsics_for_fov(float(rng.uniform(*options.fov)))
        return Camera.top(height, tilt_deg=tilt, azimuth=azimuth, intr=intr)
    if view == "side":
        camera = Camera.side(float(rng.uniform(0.9, 1.5)), 3.0)
        if options.fov is None:
            return camera
        return Camera(camera.view, camera.position, camera.rotation, intrinsics_for_fov(float(rng.uniform(*options.fov))))
    raise ValueError(f"unknown view {view!r}; expected top or side")


def _floor_region(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) floor XY rectangle where people may stand, slightly beyond the view."""
    if camera.view == "top":
        hx, hy = camera.footprint(camera.position[2])
        c = camera.floor_centre()
        return c + np.array([-hx - 0.3, -hy - 0.3]), c + np.array([hx + 0.3, hy + 0.3])
    return np.array([-1.5, -1.2]), np.array([1.5, 0.3])


def _walls(rng: np.random.Generator, camera: Camera, lo: np.ndarray, hi: np.ndarray):
    """A wall (2.3 m high box) along one side of the view, and the floor region it leaves free."""
    if camera.view == "side":  # a back wall behind everyone
        y = float(rng.uniform(0.8, 1.4))
        return [np.array([[-4.0, y, 0.0], [4.0, y + 0.15, 2.3]])], lo, hi
    axis, side = int(rng.integers(0, 2)), int(rng.choice([-1, 1]))
    half = np.array(camera.footprint(camera.position[2]))
    inner = float(rng.uniform(0.7, 0.95)) * half[axis]
    corner_lo, corner_hi = np.array([-6.0, -6.0, 0.0]), np.array([6.0, 6.0, 2.3])
    if side > 0:
        corner_lo[axis], corner_hi[axis] = inner, inner + 0.15
        hi = hi.copy()
        hi[axis] = min(hi[axis], inner - 0.35)
    else:
        corner_lo[axis], corner_hi[axis] = -inner - 0.15, -inner
        lo = lo.copy()
        lo[axis] = max(lo[axis], -inner + 0.35)
    return [np.stack([corner_lo, corner_hi])], lo, hi


def reaches_into(person: Person, box: np.ndarray, samples: int = 9) -> bool:
    """Whether any body part (capsule) of ``person`` touches the (2, 3) world box."""
    t = np.linspace(0.0, 1.0, samples)[:, None, None]
    points = person.ends[:, 0] * (1 - t) + person.ends[:, 1] * t  # (samples, parts, 3)
    gap = np.linalg.norm(points - np.clip(points, box[0], box[1]), axis=-1)
    return bool((gap <= person.radii).any())


def random_scene(rng: np.random.Generator, view: str = "top", people: tuple[int, int] = (1, 1),
                 furniture: bool = True, fully_in_view: bool = False, walls: bool = False,
                 max_tries: int = 60, options: SceneOptions = SceneOptions()) -> Frame:
    """A random scene of people (count drawn from ``people``) with optional furniture boxes
    and, with ``walls``, a wall along one side (top view) or behind everyone (side view).

    ``fully_in_view`` keeps only placements where every joint of every person is in frame.
    ``options`` chooses the sensor model, the clutter among people and the camera mounting.
    """
    camera = random_camera(rng, view, options)
    lo, hi = _floor_region(camera)
    if fully_in_view:
        mid = (lo + hi) / 2
        lo, hi = mid + (lo - mid) * 0.55, mid + (hi - mid) * 0.55
    wall_boxes: list[np.ndarray] = []
    if walls:
        wall_boxes, lo, hi = _walls(rng, camera, lo, hi)
    spots = _place_people(rng, camera, lo, hi, int(rng.integers(people[0], people[1] + 1)), fully_in_view, max_tries,
                          wall_boxes)
    placed, families = [s.person for s in spots], [s.family for s in spots]
    boxes = []
    if options.clutter is not None:
        boxes, placed = furnish(rng, spots, options.clutter, lo, hi)
    elif furniture and camera.view == "top":
        for _ in range(int(rng.integers(0, 3))):
            c = rng.uniform(lo, hi)
            if any(np.linalg.norm(c - s.xy) < 1.0 for s in spots):
                continue
            size = rng.uniform([0.4, 0.4, 0.4], [1.2, 0.8, 0.8])
            boxes.append(np.array([[c[0] - size[0] / 2, c[1] - size[1] / 2, 0.0],
                                   [c[0] + size[0] / 2, c[1] + size[1] / 2, size[2]]]))
    return render(camera, placed, boxes + wall_boxes, rng, families, options.sensor)


def _place_people(rng: np.random.Generator, camera: Camera, lo: np.ndarray, hi: np.ndarray, count: int,
                  fully_in_view: bool, max_tries: int, walls: list[np.ndarray]) -> list[Spot]:
    """Up to ``count`` people at least ~0.75 m apart (more when lying) inside [lo, hi], clear of ``walls``."""
    spots: list[Spot] = []
    for _ in range(max_tries * max(count, 1)):
        if len(spots) == count:
            break
        family = str(rng.choice(FAMILIES, p=FAMILY_WEIGHTS))
        xy = rng.uniform(lo, hi)
        gap = 1.3 if family == "lying" else 0.75
        if any(np.linalg.norm(xy - s.xy) < gap + (0.6 if s.family == "lying" else 0.0) for s in spots):
            continue
        body, pose = Body.random(rng), sample_pose(rng, family)
        heading = float(rng.uniform(0, 2 * np.pi))
        person = place(body, pose, tuple(xy), heading, family, rng)
        if any(reaches_into(person, wall) for wall in walls):
            continue
        if fully_in_view:
            uv = camera.project(camera.to_camera(person.joints))
            if not ((uv[:, 0] >= 4) & (uv[:, 0] < WIDTH - 4) & (uv[:, 1] >= 4) & (uv[:, 1] < HEIGHT - 4)).all():
                continue
        spots.append(Spot(person, xy, heading, family))
    return spots
