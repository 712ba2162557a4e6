import h5py
import numpy as np
import pytest

from toppose.synth.body import FAMILIES, Body, place, sample_pose
from toppose.synth.render import Camera, HEIGHT, WIDTH
from toppose.synth import scenes
from toppose.synth.scenes import random_scene, render
from toppose.synth.writers import write_itop


def test_world_coordinates_project_to_image_coordinates(tmp_path):
    labels, _ = write_itop(tmp_path, "top", 12, seed=3)
    with h5py.File(labels) as h:
        world = h["real_world_coordinates"][:].astype(np.float64)
        uv = h["image_coordinates"][:].astype(np.float64)
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    u = 160 + x / (0.0035 * z)
    v = 120 - y / (0.0035 * z)
    assert np.abs(u - uv[..., 0]).max() <= 1.0 and np.abs(v - uv[..., 1]).max() <= 1.0


@pytest.mark.parametrize("tilt", [(0.0, 0.0), (10.0, 20.0)])
def test_world_coordinates_agree_with_the_depth_maps(tmp_path, tilt):
    """Back-projecting the depth at a visible joint with ITOP's intrinsics lands on the body surface in
    front of the joint (within a limb's radius), as in ITOP's own files; the metric means the same."""
    from toppose.camera import ITOP
    from toppose.synth.scenes import SceneOptions

    labels, depth = write_itop(tmp_path, "top", 20, seed=4, options=SceneOptions(tilt=tilt))
    with h5py.File(labels) as h, h5py.File(depth) as d:
        world, uv = h["real_world_coordinates"][:].astype(np.float64), h["image_coordinates"][:]
        seen = (h["visible_joints"][:] > 0) & (h["is_valid"][:] > 0)[:, None]
        maps = d["data"][:].astype(np.float64)
    n, j = np.nonzero(seen)
    uv = uv.astype(np.int64)
    z = maps[n, uv[n, j, 1], uv[n, j, 0]]
    ok = z > 0
    surface = np.stack([(uv[n, j, 0] - ITOP.cx) * z / ITOP.fx, -(uv[n, j, 1] - ITOP.cy) * z / ITOP.fy, z], -1)[ok]
    gap = np.linalg.norm(world[n, j][ok] - surface, axis=1)
    assert ok.mean() > 0.9 and len(gap) > 60
    assert np.median(gap) < 0.12 and np.percentile(gap, 95) < 0.2  # a wrong frame or camera: metres
    assert (world[n, j, 2][ok] - z[ok] > -0.05).mean() > 0.97  # the joint lies behind the surface seen


def test_itop_files_refuse_another_field_of_view(tmp_path):
    from toppose.synth.scenes import SceneOptions

    with pytest.raises(ValueError, match="ITOP's camera only"):
        write_itop(tmp_path, "top", 2, seed=0, options=SceneOptions(fov=(60.0, 90.0)))
    assert not any(tmp_path.iterdir())


def test_itop_file_layout_and_dtypes(tmp_path):
    labels, depth = write_itop(tmp_path, "side", 5, seed=0, split="test")
    assert labels.name == "ITOP_side_test_labels.h5" and depth.name == "ITOP_side_test_depth_map.h5"
    with h5py.File(labels) as h:
        assert h["id"].dtype == np.dtype("S8") and h["id"][0] == b"00_00000"
        assert h["image_coordinates"].dtype == np.int16 and h["image_coordinates"].shape == (5, 15, 2)
        assert h["real_world_coordinates"].dtype == np.float16 and h["segmentation"].dtype == np.int8
        assert h["visible_joints"].shape == (5, 15) and h["is_valid"].shape == (5,)
    with h5py.File(depth) as h:
        assert h["data"].dtype == np.float16 and h["data"].shape == (5, HEIGHT, WIDTH)


def test_same_seed_same_files(tmp_path):
    a, _ = write_itop(tmp_path / "a", "top", 4, seed=9)
    b, _ = write_itop(tmp_path / "b", "top", 4, seed=9)
    with h5py.File(a) as ha, h5py.File(b) as hb:
        for key in ha:
            assert np.array_equal(ha[key][:], hb[key][:])


@pytest.mark.parametrize("family", FAMILIES)
def test_top_view_head_is_nearest_the_ceiling_when_upright(family):
    rng = np.random.default_rng(1)
    person = place(Body(), sample_pose(rng, family), (0.0, 0.0), 0.3, family, rng)
    cam = Camera.top(3.0)
    z = cam.to_camera(person.joints)[:, 2]
    if family not in ("lying", "bending"):
        assert z[0] == z.min()
    assert (person.ends[..., 2] - person.radii[:, None]).min() >= -1e-6  # nothing below the floor


def _captured_scene(monkeypatch, rng, view, **kw):
    """random_scene's frame plus what it rendered: (frame, camera, people, boxes)."""
    seen = {}
    real = scenes.render

    def spy(camera, people, boxes, rng_, families=None, sensor="generic"):
        seen.update(camera=camera, people=people, boxes=boxes)
        return real(camera, people, boxes, rng_, families, sensor)
    monkeypatch.setattr(scenes, "render", spy)
    frame = random_scene(rng, view, **kw)
    monkeypatch.setattr(scenes, "render", real)
    return frame, seen["camera"], seen["people"], seen["boxes"]


def test_visible_joints_lie_on_the_surface(monkeypatch):
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(5):
        f, camera, people, boxes = _captured_scene(monkeypatch, rng, "top", people=(1, 3), fully_in_view=True)
        clean = render(camera, people, boxes, None)  # the same scene without sensor effects
        for p in range(len(f.joints_uv)):
            for j in np.nonzero(f.visible[p])[0]:
                u, v = np.rint(f.joints_uv[p, j]).astype(int)
                z = f.joints_cam[p, j, 2]
                # the joint sits inside its body part, so the surface seen through its pixel is in front of it,
                # by no more than the part's radius (plus the 3 cm visibility slack)
                assert z - 0.3 < clean.depth[v, u] <= z + 1e-3
                if f.depth[v, u] > 0:  # the sensor reading, where there is one, is that surface plus noise
                    assert abs(f.depth[v, u] - clean.depth[v, u]) < 0.1
                checked += 1
    assert checked >= 40


def test_a_joint_under_another_body_part_is_hidden():
    body = Body()
    pose = sample_pose(np.random.default_rng(0), "standing")
    person = place(body, pose, (0.0, 0.0), 0.0)
    f = render(Camera.top(3.0), [person], [], None)
    assert not f.visible[0, 1]  # the neck is under the head seen from the ceiling
    assert f.visible[0, 0]      # the head is seen


@pytest.mark.parametrize("view", ["top", "side"])
def test_walls_are_rendered_and_keep_people_out(monkeypatch, view):
    rng = np.random.default_rng(8)
    frame, _, people, boxes = _captured_scene(monkeypatch, rng, view, people=(2, 3), furniture=False, walls=True)
    background = (frame.person < 0) & (frame.depth > 0)
    if view == "top":  # seen at a grazing angle: a strip nearer the camera than the flat floor
        floor = np.median(frame.depth[background])
        assert (frame.depth[background] < floor - 0.3).sum() > 200
    else:  # the back wall closes the view at a few metres
        assert np.median(frame.depth[background]) < 4.6
    assert len(people) >= 2 and len(boxes) == 1
    for _ in range(30):  # many scenes: no body part of anyone reaches into the wall
        _, _, people, (wall,) = _captured_scene(monkeypatch, rng, view, people=(3, 4), furniture=False, walls=True)
        for person in people:  # checked independently of the scene code's own test, more finely
            t = np.linspace(0, 1, 33)[:, None, None]
            points = (person.ends[:, 0] * (1 - t) + person.ends[:, 1] * t).reshape(-1, 3)
            gap = np.linalg.norm(points - np.clip(points, wall[0], wall[1]), axis=1)
            assert (gap > np.tile(person.radii, len(t))).all()


def test_rendered_sets_record_their_recipe(tmp_path):
    import json

    from toppose.data.format import load_dataset
    from toppose.data.itop import convert_itop
    from toppose.synth.writers import write_training

    write_training(tmp_path / "multi", "side", 3, seed=7, people=(1, 2), fully_in_view=True)
    info = load_dataset(tmp_path / "multi")["info"]
    assert {k: info[k] for k in ("view", "frames", "seed", "people", "fully_in_view", "walls", "sensor")} == \
        {"view": "side", "frames": 3, "seed": 7, "people": [1, 2], "fully_in_view": True, "walls": False,
         "sensor": "generic"}
    labels, depth = write_itop(tmp_path / "itop", "top", 4, seed=9, split="test")
    with h5py.File(labels) as h:
        rendered = json.loads(h.attrs["toppose_recipe"])
    assert (rendered["view"], rendered["frames"], rendered["seed"], rendered["split"]) == ("top", 4, 9, "test")
    convert_itop(labels, depth, tmp_path / "converted")  # the recipe travels through the converter
    assert load_dataset(tmp_path / "converted")["info"]["recipe"] == rendered


def test_tilt_gives_the_floor_a_depth_gradient_along_the_image_rows():
    flat = render(Camera.top(3.0), [], [], None)
    tilted = render(Camera.top(3.0, tilt_deg=15.0, azimuth=0.7), [], [], None)
    assert np.ptp(flat.depth) < 1e-6
    gv, gu = np.gradient(tilted.depth.astype(np.float64))
    # a plane pitched by t: dz/dv ~ z * (1/fx) * tan(t) per row, and nothing along the rows
    assert np.abs(gv).mean() == pytest.approx(3.1 * 0.0035 * np.tan(np.radians(15)), rel=0.2)
    assert np.abs(gu).max() < 1e-6
    # at the image centre the optical axis meets the floor 3 / cos(15 deg) away
    assert tilted.depth[HEIGHT // 2, WIDTH // 2] == pytest.approx(3.0 / np.cos(np.radians(15)), abs=0.02)


def test_scene_options_draw_heights_tilts_and_fields_of_view():
    from toppose.synth.scenes import SceneOptions, random_camera
    rng = np.random.default_rng(0)
    cams = [random_camera(rng, "top", SceneOptions(height=(2.4, 2.6), tilt=(5, 20), fov=(58, 90))) for _ in range(20)]
    fx = np.array([1 / c.intr[2] for c in cams])
    hfov = np.degrees(2 * np.arctan(WIDTH / 2 / fx))
    assert hfov.min() >= 58 - 1e-6 and hfov.max() <= 90 + 1e-6 and np.ptp(hfov) > 10
    assert all(2.4 <= c.position[2] <= 2.6 for c in cams)
    tilts = [np.degrees(np.arccos(-(c.rotation.T @ [0, 0, 1.0])[2])) for c in cams]
    assert min(tilts) >= 5 - 1e-6 and max(tilts) <= 20 + 1e-6
    with pytest.raises(ValueError, match="unknown sensor"):
        SceneOptions(sensor="lidar")


def test_tilted_wide_scenes_label_people_at_their_projected_joints():
    from toppose.synth.scenes import SceneOptions
    rng = np.random.default_rng(4)
    for _ in range(4):
        f = random_scene(rng, "top", (1, 2), fully_in_view=True, options=SceneOptions(tilt=(10, 20), fov=(70, 90)))
        for p in range(len(f.joints_uv)):
            u, v = np.rint(f.joints_uv[p][f.visible[p]]).astype(int).T
            assert (f.person[v, u] == p).mean() > 0.6


def test_the_demo_scene_renders_without_ground_truth_or_hdf5(fresh_python):
    fresh_python("from toppose.runtime.replay import DemoSource; "
                 "frames = [c for _, c in zip(range(2), DemoSource(seed=1))]; "
                 "assert frames[1].frame.shape == (240, 320) and frames[1].frame.dtype.name == 'float32'",
                 absent=("h5py", "toppose.data"))


def test_scene_player_truth_matches_its_frames():
    from toppose.synth.player import ScenePlayer
    from toppose.synth.scenes import frame_keypoints

    plain = list(ScenePlayer(4, 2).scenes(3))
    labelled = list(ScenePlayer(4, 2).frames(3))
    for frame, (same, truth) in zip(plain, labelled):
        assert np.array_equal(frame.depth, same.depth) and truth.shape == (2, 18, 3)
        assert np.array_equal(truth, frame_keypoints(frame))
        assert (truth[:, 14:, 2] == 0).all() and (truth[:, :14, 2] > 0).any()
