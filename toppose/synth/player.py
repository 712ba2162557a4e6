"""A continuous overhead clip: people walk on smooth paths, stop, bend and raise their arms.

``ScenePlayer(seed).scenes(n)`` yields rendered frames (the runtime's ``--demo`` source);
``frames(n)`` adds their ground truth (the end-to-end tests and benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from toppose.camera import ITOP
from toppose.model_spec import InputEncoding
from toppose.preprocess import encode_depth
from toppose.synth.body import Body, place, sample_pose
from toppose.synth.render import Camera
from toppose.synth.scenes import Frame, frame_keypoints, render

ACTIONS = ("bending", "arms_raised", "reaching", "standing")


@dataclass
class _Walker:
    body: Body
    xy: np.ndarray
    heading: float
    target: np.ndarray
    speed: float
    style: int = 0  # seeds the walker's own arm and leg details
    phase: float = 0.0
    action: str | None = None
    action_pose: np.ndarray | None = None
    action_left: float = 0.0
    blend: float = 0.0

    def act(self, rng: np.random.Generator, dt: float, rate: float, span: tuple[float, float]) -> bool:
        """Advance the walker's action by ``dt`` s: start one at ``rate`` per s lasting ``span`` s,
        blending in and out over 0.6 s. Returns True when walking (no action blended in)."""
        if self.action is None and rng.random() < rate * dt:
            self.action = str(rng.choice(ACTIONS))
            self.action_pose = sample_pose(rng, self.action)
            self.action_left = float(rng.uniform(*span))
        if self.action is not None:
            self.action_left -= dt
            fade = dt / 0.6
            self.blend = min(1.0, self.blend + fade) if self.action_left > 0 else max(0.0, self.blend - fade)
            if self.action_left <= 0 and self.blend == 0.0:
                self.action = None
        return self.blend == 0.0

    def pose(self, walking: bool) -> np.ndarray:
        """The pose vector: walking gait or standing, blended with the current action's pose."""
        style = np.random.default_rng(self.style)
        base = sample_pose(style, "walking", phase=self.phase) if walking else sample_pose(style, "standing")
        return base if self.action_pose is None else (1 - self.blend) * base + self.blend * self.action_pose


class ScenePlayer:
    """Deterministic for a seed. ``fps`` sets the time step; ``view`` top or side."""

    def __init__(self, seed: int = 0, people: int = 3, view: str = "top", fps: float = 15.0,
                 camera_height: float = 3.0) -> None:
        self.rng = np.random.default_rng(seed)
        self.dt = 1.0 / fps
        self.camera = Camera.top(camera_height) if view == "top" else Camera.side(1.2, 3.0)
        hx, hy = self.camera.footprint(camera_height) if view == "top" else (1.4, 0.8)
        self.lo, self.hi = np.array([-hx * 0.8, -hy * 0.8]), np.array([hx * 0.8, hy * 0.8])
        self.walkers = [self._walker() for _ in range(people)]

    def _walker(self) -> _Walker:
        xy = self.rng.uniform(self.lo, self.hi)
        return _Walker(Body.random(self.rng), xy, float(self.rng.uniform(0, 2 * np.pi)),
                       self.rng.uniform(self.lo, self.hi), float(self.rng.uniform(0.8, 1.3)),
                       int(self.rng.integers(0, 2**31)))

    def _step(self, w: _Walker, others: list[_Walker]) -> np.ndarray:
        """Advance one walker by dt; return its pose vector."""
        walking = w.act(self.rng, self.dt, 0.15, (1.5, 3.5))
        if walking:
            to = w.target - w.xy
            if np.linalg.norm(to) < 0.3:
                w.target = self.rng.uniform(self.lo, self.hi)
                to = w.target - w.xy
            want = np.arctan2(to[1], to[0])
            turn = (want - w.heading + np.pi) % (2 * np.pi) - np.pi
            w.heading += np.clip(turn, -2.0 * self.dt, 2.0 * self.dt)
            step = w.speed * self.dt * np.array([np.cos(w.heading), np.sin(w.heading)])
            if all(np.linalg.norm(w.xy + step - o.xy) > 0.7 for o in others if o is not w):
                w.xy = w.xy + step
                w.phase += 2 * np.pi * 0.9 * w.speed * self.dt
        return w.pose(walking)

    def scenes(self, count: int | None = None) -> Iterator[Frame]:
        """Yield ``count`` rendered frames (endless when None)."""
        i = 0
        while count is None or i < count:
            people = [place(w.body, self._step(w, self.walkers), tuple(w.xy), w.heading) for w in self.walkers]
            yield render(self.camera, people, [], self.rng)
            i += 1

    def frames(self, count: int | None = None) -> Iterator[tuple[Frame, np.ndarray]]:
        """Yield (frame, ground truth (P, 18, 3) OpenPose keypoints with COCO visibility)."""
        for frame in self.scenes(count):
            yield frame, frame_keypoints(frame)


def write_video(path: str, count: int, seed: int = 0, people: int = 3, fps: float = 15.0,
                encoding: InputEncoding = InputEncoding(kind="depth", colormap="jet")) -> np.ndarray:
    """Render ``count`` frames to a video (depth shown with ``encoding``); returns ground truth (N, P, 18, 3)."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (ITOP.width, ITOP.height))
    if not writer.isOpened():
        raise OSError(f"{path}: cannot open a video writer")
    truth = []
    try:
        for frame, gt in ScenePlayer(seed, people, fps=fps).frames(count):
            writer.write(encode_depth(frame.depth, encoding))
            truth.append(gt)
    finally:
        writer.release()
    return np.stack(truth)
