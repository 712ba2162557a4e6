"""RealSense recordings played back for real through pyrealsense2.

``.db3``: written by pyrealsense2's own software device and recorder (SDK 2.59 writes nothing else).
``.bag``: the ROS1 layout older SDKs wrote (file version 2), written with the rosbags library.
"""

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag1 import Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from typer.testing import CliRunner

from toppose.codec.poses import Poses
from toppose.evaluation import coco_stats
from toppose.runtime.cli import stream_app
from toppose.runtime.realsense import RealSenseFileSource, RealSenseSource, realsense_devices, write_recording
from toppose.runtime.sources import Intrinsics
from toppose.synth.flat import as_dataset
from toppose.synth.player import ScenePlayer
from toppose.synth.render import INTRINSICS
from toppose.synth.writers import depth_to_mm

runner = CliRunner()
FRAMES, FPS = 24, 15.0


@pytest.fixture(scope="module")
def scenes():
    """Rendered ceiling scenes: (N, 240, 320) uint16 mm and the truth (N, P, 18, 3)."""
    rendered = list(ScenePlayer(4, 2, fps=FPS).frames(FRAMES))
    return np.stack([depth_to_mm(f.depth) for f, _ in rendered]), np.stack([gt for _, gt in rendered])


def write_ros1_bag(path: Path, frames_mm, intr: dict, fps: float, depth_units: float = 0.001) -> None:
    """(N, H, W) uint16 mm -> a RealSense ROS1 .bag: device, sensor, stream and camera info, then images."""
    ts = get_typestore(Stores.ROS1_NOETIC)
    ts.register(get_types_from_msg("uint32 fps\nstring encoding\nbool is_recommended\n",
                                   "realsense_msgs/msg/StreamInfo"))
    t = ts.types
    kv, time_, header = t["diagnostic_msgs/msg/KeyValue"], t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
    connections: dict = {}
    with Writer(path) as writer:
        def put(topic, msg, t_ns=1):  # ROS1 times start above 0
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=ts)
            writer.write(connections[topic], t_ns, ts.serialize_ros1(msg, msg.__msgtype__))

        put("/file_version", t["std_msgs/msg/UInt32"](data=2))
        for key, value in {"Name": "rendered", "Serial Number": "0", "Product Id": "0000"}.items():
            put("/device_0/info", kv(key=key, value=value))
        put("/device_0/sensor_0/info", kv(key="Name", value="Stereo Module"))
        put("/device_0/sensor_0/property", kv(key="Depth Units", value=f"{depth_units:.6f}"))
        put("/device_0/sensor_0/Depth_0/info", t["realsense_msgs/msg/StreamInfo"](fps=int(fps), encoding="mono16",
                                                                                 is_recommended=True))
        fx, fy, cx, cy = intr["fx"], intr["fy"], intr["cx"], intr["cy"]
        put("/device_0/sensor_0/Depth_0/info/camera_info", t["sensor_msgs/msg/CameraInfo"](
            header=header(seq=0, stamp=time_(sec=0, nanosec=0), frame_id="0"), height=intr["height"],
            width=intr["width"], distortion_model="Brown Conrady", D=np.zeros(5),
            K=np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1.0]), R=np.eye(3).ravel(),
            P=np.array([fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1.0, 0]), binning_x=0, binning_y=0,
            roi=t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)))
        vec = t["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
        quat = t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
        put("/device_0/sensor_0/Depth_0/tf/0", t["geometry_msgs/msg/Transform"](translation=vec, rotation=quat))
        for i, mm in enumerate(frames_mm):
            t_ns = 10**6 + round(i * 1e9 / fps)  # after the description, which sits at the first time
            units = np.rint(mm * (0.001 / depth_units)).astype("<u2")
            put("/device_0/sensor_0/Depth_0/image/data", t["sensor_msgs/msg/Image"](
                header=header(seq=i, stamp=time_(sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id="0"),
                height=mm.shape[0], width=mm.shape[1], encoding="mono16", is_bigendian=0, step=mm.shape[1] * 2,
                data=units.view(np.uint8).ravel()), t_ns)
            put("/device_0/sensor_0/Depth_0/image/metadata", kv(key="timestamp_domain", value="Hardware Clock"), t_ns)


@pytest.fixture(scope="module", params=["db3", "bag"])
def recording(request, scenes, tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / f"scene.{request.param}"
    if request.param == "db3":
        assert write_recording(path, scenes[0], Intrinsics.from_dict(INTRINSICS), FPS) == FRAMES
    else:
        write_ros1_bag(path, scenes[0], INTRINSICS, FPS)
    return path


def test_playback_gives_every_frame_in_millimetres_with_the_sensor_intrinsics(recording, scenes):
    source = RealSenseFileSource(str(recording))
    got = list(source)
    source.close()
    assert len(got) == FRAMES and all(np.array_equal(c.frame, mm) for c, mm in zip(got, scenes[0]))
    intr = got[-1].intrinsics
    assert (intr.width, intr.height, intr.cx, intr.cy) == (320, 240, 160.0, 120.0)
    assert intr.fx == pytest.approx(INTRINSICS["fx"], rel=1e-6) and intr.fy == pytest.approx(INTRINSICS["fy"], rel=1e-6)
    assert [c.timestamp for c in got[:3]] == pytest.approx([0.0, 1 / FPS, 2 / FPS], abs=1e-6)


@pytest.mark.parametrize("suffix", ["db3", "bag"])
def test_the_recorded_depth_scale_is_applied(scenes, tmp_path, suffix):
    path = tmp_path / f"fine.{suffix}"
    if suffix == "db3":
        write_recording(path, scenes[0][:3], Intrinsics.from_dict(INTRINSICS), FPS, depth_scale=1e-4)
    else:
        write_ros1_bag(path, scenes[0][:3], INTRINSICS, FPS, depth_units=1e-4)
    source = RealSenseFileSource(str(path))
    assert source.depth_scale == pytest.approx(1e-4)  # stored in units of 0.1 mm, as some RealSense models do
    got = [c.frame for c in source]
    assert len(got) == 3 and all(np.array_equal(g, mm) for g, mm in zip(got, scenes[0]))


def test_a_recording_streams_to_the_right_poses(recording, scenes, tmp_path):
    res = runner.invoke(stream_app, ["--realsense-file", str(recording), "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(FRAMES))
    preds = {i + 1: Poses(np.array([p["keypoints"] for p in line["people"]], np.float32).reshape(-1, 18, 3),
                          np.array([p["score"] for p in line["people"]], np.float32),
                          np.array([p["parts"] for p in line["people"]], np.int32)) for i, line in enumerate(lines)}
    assert coco_stats(as_dataset(list(scenes[1]), (240, 320)), preds)["AP50"] > 0.4  # measured 0.58; untrained 0
    (tmp_path / "png").mkdir()
    for i, mm in enumerate(scenes[0]):
        cv2.imwrite(str(tmp_path / "png" / f"{i:03d}.png"), mm)
    res = runner.invoke(stream_app, ["--images", str(tmp_path / "png"), "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "png.jsonl")])
    assert res.exit_code == 0, res.output
    from_png = [json.loads(line)["people"] for line in (tmp_path / "png.jsonl").read_text().splitlines()]
    assert from_png == [line["people"] for line in lines]  # the same depth in, the same poses out


def test_the_live_path_streams_a_recording_played_as_the_camera(recording, scenes):
    import pyrealsense2 as rs
    config = rs.config()
    config.enable_device_from_file(str(recording), repeat_playback=False)
    source = RealSenseSource(config=config, timeout_ms=1000)  # the SDK's pipeline, as for a connected camera
    got = list(source)  # ends when no frame comes for timeout_ms
    source.close()
    # live: the SDK drops what its playback thread could not hand over in time (a busy box: 11 of 24 once)
    assert len(got) >= FRAMES // 4 and source.depth_scale == pytest.approx(0.001)
    assert all(c.intrinsics == got[0].intrinsics and c.intrinsics.fx == pytest.approx(INTRINSICS["fx"]) for c in got)
    numbers = [int(c.name) for c in got]
    assert numbers == sorted(numbers) and all(np.array_equal(c.frame, scenes[0][n]) for c, n in zip(got, numbers))


def test_realtime_releases_no_frame_before_its_recorded_time(recording):
    source = RealSenseFileSource(str(recording), realtime=True)
    start, late = time.perf_counter(), []
    for c in source:
        late.append(time.perf_counter() - start - c.timestamp)
    source.close()
    assert len(late) == FRAMES and min(late) >= -0.002  # paced: never ahead of the recording's clock


@pytest.mark.parametrize("name, content, message", [
    ("junk.bag", b"not a bag", "not a readable RealSense recording"),
    ("junk.db3", b"not sqlite", "not a readable RealSense recording"),
    ("clip.mp4", b"", "not a RealSense recording (expected .bag or .db3)"),
    ("missing.db3", None, "no such file")])
def test_bad_recordings_are_one_line(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    res = runner.invoke(stream_app, ["--realsense-file", str(tmp_path / name), "--device", "cpu", "--no-show",
                                     "--json", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 1 and f"{name}: {message}" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "p.jsonl").exists()


def test_live_realsense_names_what_is_missing(tmp_path):
    if realsense_devices():
        pytest.skip("a RealSense camera is connected")
    res = runner.invoke(stream_app, ["--realsense", "--device", "cpu", "--no-show"])
    assert res.exit_code == 1 and "--realsense: no RealSense camera connected" in res.output


def test_writing_a_recording_with_a_wrong_frame_size_leaves_no_file(scenes, tmp_path):
    frames = [scenes[0][0], scenes[0][1][:100]]
    with pytest.raises(ValueError, match=r"frame 1 is \(100, 320\), the stream 240x320"):
        write_recording(tmp_path / "bad.db3", frames, Intrinsics.from_dict(INTRINSICS), FPS)
    assert list(tmp_path.iterdir()) == []
