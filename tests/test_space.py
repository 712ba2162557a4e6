"""``toppose-stream --3d``: keypoints in metres, the floor and heights, in the JSON lines; torch-free."""

import json

import numpy as np
from typer.testing import CliRunner

from toppose.camera import ITOP
from toppose.codec.poses import Poses
from toppose.preprocess import depth_to_mm
from toppose.runtime.cli import stream_app
from toppose.runtime.session import PoseSession
from toppose.runtime.sources import Captured, Source
from toppose.runtime.space import Space
from toppose.runtime.stream import StreamConfig, bundled_model, run_stream
from toppose.skeleton import ITOP_LABELLED, openpose_from_itop
from toppose.synth.body import Body, place, sample_pose
from toppose.synth.render import Camera
from toppose.synth.scenes import random_scene, render
from toppose.synth.writers import write_itop

runner = CliRunner()


def _frame_and_poses(seed: int = 11):
    frame = random_scene(np.random.default_rng(seed), "top", (2, 2), furniture=False, fully_in_view=True)
    kp = np.stack([openpose_from_itop(frame.joints_uv[p], frame.visible[p], frame.depth.shape)[0] for p in range(2)])
    kp[..., 2] = np.where(kp[..., 2] > 0, 0.9, 0.0)
    return frame, Poses(kp, np.ones(2, np.float32), np.full(2, 14, np.int32))


def test_people_are_lifted_from_millimetre_depth_with_the_floor_and_heights():
    frame, poses = _frame_and_poses()
    space = Space()(poses, depth_to_mm(frame.depth), ITOP)
    records = json.loads(json.dumps(space.person_records()))
    assert len(records) == 2 and set(records[0]) == {"keypoints_3d", "height", "lying"}
    for p, rec in enumerate(records):
        pts = rec["keypoints_3d"]
        assert len(pts) == 18 and pts[14:] == [None] * 4  # eyes and ears: unknown, never zeros
        nose = np.array(pts[0])
        assert np.linalg.norm(nose - frame.joints_cam[p, 0]) < 0.1
        assert rec["height"]["head"] > 0.9 and rec["lying"] in (True, False)
    floor = space.floor_record()
    assert len(floor) == 4 and floor[2] < -0.99 and 2.4 < floor[3] < 3.6  # straight down, ceiling height


def test_no_intrinsics_no_coordinates():
    frame, poses = _frame_and_poses()
    space = Space()(poses, frame.depth, None)
    assert space.floor_record() is None
    assert all(r["keypoints_3d"] == [None] * 18 and r["height"]["head"] is None for r in space.person_records())


def test_stream_writes_keypoints_3d_and_the_floor(tmp_path):
    _, depth = write_itop(tmp_path, "top", 3, seed=21)
    res = runner.invoke(stream_app, ["--itop", str(depth), "--3d", "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "p.jsonl"), "--save", str(tmp_path / "o.mp4")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(len(x["floor"]) == 4 for x in lines)
    people = [p for x in lines for p in x["people"]]
    assert people and all(len(p["keypoints_3d"]) == 18 for p in people)
    for p in people:
        for k, (xy, xyz) in enumerate(zip(p["keypoints"], p["keypoints_3d"])):
            if xyz is not None:
                assert k in ITOP_LABELLED and xy[2] > 0 and 0.5 < xyz[2] < 4.0


class Fall(Source):
    """A person lying on the floor under the camera for ``down`` frames, then standing there for
    ``up`` frames, at 15 FPS: rendered depth with the renderer's (ITOP's) intrinsics."""

    modality, label, intrinsics = "depth", "a fall", ITOP

    def __init__(self, down: int, up: int) -> None:
        rng = np.random.default_rng(5)
        camera, body = Camera.top(3.0), Body.random(rng)
        xy = tuple(camera.floor_centre())
        self.frames = []
        for family, count in (("lying", down), ("standing", up)):
            person = place(body, sample_pose(rng, family), xy, 0.5, family, rng)
            self.frames += [depth_to_mm(render(camera, [person], [], rng, [family]).depth)] * count

    def __iter__(self):
        for i, frame in enumerate(self.frames):
            yield Captured(i, i / 15, frame, 0.0, intrinsics=ITOP)


def test_someone_who_stays_down_raises_a_down_event_and_then_an_up(tmp_path):
    cfg = StreamConfig(track=True, lift3d=True, down_after=1.0, jsonl=tmp_path / "p.jsonl")
    stats = run_stream(Fall(down=30, up=30), PoseSession(bundled_model(), "cpu"), cfg)
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    events = [e for line in lines for e in line.get("events", [])]
    down = [e for e in events if e["type"] == "down"]
    assert len(down) == 1 and 1.0 <= down[0]["time"] - down[0]["since"] < 1.1 and down[0]["time"] < 2.0
    up = [e for e in events if e["type"] == "up"]
    assert len(up) == 1 and up[0]["id"] == down[0]["id"] and up[0]["time"] >= 2.0 and up[0]["down_s"] > 1.0
    assert stats.summary()["tracking"]["downs"] == 1


def test_lifting_does_not_import_torch(fresh_python):
    fresh_python("from toppose.runtime.space import Space; Space()", ("torch",))
