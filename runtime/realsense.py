"""Intel RealSense depth cameras and recordings through pyrealsense2 (the optional ``realsense`` extra).

Frames are (H, W) uint16 depth in millimetres, converted with the device's own depth scale, each
carrying the sensor's intrinsics. Recordings: ``.db3`` (rosbag2, what current SDKs write) and ``.bag``
(ROS1, what older SDKs wrote); SDK 2.59 reads both and writes ``.db3`` only.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from toppose.runtime.sources import Captured, Intrinsics, Source, SourceError

log = logging.getLogger("toppose.runtime")
INSTALL = "pip install 'toppose[realsense]' (and the system library libusb-1.0: apt-get install libusb-1.0-0)"
RECORDING_SUFFIXES = (".bag", ".db3")
MM = 0.001  # metres per millimetre


def _rs(option: str = "--realsense"):
    try:
        import pyrealsense2 as rs
    except ImportError as e:
        raise SourceError(f"{option} needs pyrealsense2, which is not installed or cannot load ({e}): "
                          f"{INSTALL}") from None
    return rs


def _context(rs):
    # DDS discovery of network cameras is off: toppose opens USB devices and files only.
    return rs.context('{"dds": {"enabled": false}}')


def intrinsics_of(profile) -> Intrinsics:
    """The stream profile's intrinsics as toppose's ``Intrinsics`` (pixels)."""
    i = profile.as_video_stream_profile().get_intrinsics()
    return Intrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, str(i.model).split(".")[-1], tuple(i.coeffs))


def to_millimetres(raw: np.ndarray, depth_scale: float) -> np.ndarray:
    """(H, W) uint16 depth units -> (H, W) uint16 mm (a copy: the SDK reuses its buffers)."""
    if abs(depth_scale - MM) < 1e-6 * MM:
        return np.array(raw, np.uint16)
    return np.clip(np.rint(raw * (depth_scale / MM)), 0, 65535).astype(np.uint16)


def realsense_devices() -> list[tuple[str, str]]:
    """(serial, name) of each connected RealSense; empty when pyrealsense2 is not installed."""
    try:
        rs = _rs()
    except SourceError:
        return []
    return [(d.get_info(rs.camera_info.serial_number), d.get_info(rs.camera_info.name))
            for d in _context(rs).query_devices()]


def realsense_for_camera(index: int) -> "RealSenseSource | None":
    """The index-th RealSense's depth stream for ``--camera index`` with a depth model, or None."""
    devices = realsense_devices()
    if index >= len(devices):
        return None
    serial, name = devices[index]
    log.info("camera %d: %s %s, depth stream (a depth model; RealSense devices come before OpenCV cameras)",
             index, name, serial)
    return RealSenseSource(serial)


class RealSenseSource(Source):
    """A live RealSense depth stream (the device's default depth profile).

    ``config``: an ``rs.config`` to start instead of a connected device's, e.g. a recording played
    in real time as if it were the camera.
    """

    live, modality = True, "depth"

    def __init__(self, serial: str | None = None, timeout_ms: int = 5000, config=None) -> None:
        rs = self.rs = _rs()
        self.timeout_ms = timeout_ms
        if config is None:
            config = self._device_config(serial)
        else:
            self.serial, self.label = serial, f"RealSense {serial or 'configured stream'}"
        self.pipeline = rs.pipeline(_context(rs))
        try:
            profile = self.pipeline.start(config)
        except RuntimeError as e:
            raise SourceError(f"{self.label}: cannot start the depth stream ({e})") from None
        self.depth_scale = profile.get_device().first_depth_sensor().get_depth_scale()
        self.intrinsics = intrinsics_of(profile.get_stream(rs.stream.depth))

    def _device_config(self, serial: str | None):
        rs = self.rs
        connected = [d.get_info(rs.camera_info.serial_number) for d in _context(rs).query_devices()]
        if not connected:  # checked first: the SDK's own pipeline waits ~15 s before saying so
            raise SourceError("--realsense: no RealSense camera connected")
        if serial is not None and serial not in connected:
            raise SourceError(f"RealSense {serial}: not connected (connected: {', '.join(connected)})")
        self.serial = serial or connected[0]
        self.label = f"RealSense {self.serial}"
        config = rs.config()
        config.enable_device(self.serial)
        config.enable_stream(rs.stream.depth)
        return config

    def __iter__(self) -> Iterator[Captured]:
        t0, index = time.perf_counter(), 0
        while True:
            t = time.perf_counter()
            ok, frames = self.pipeline.try_wait_for_frames(self.timeout_ms)
            if not ok:
                log.error("%s: no depth frame for %d ms; stopping", self.label, self.timeout_ms)
                return
            depth = frames.get_depth_frame()
            mm = to_millimetres(np.asanyarray(depth.get_data()), self.depth_scale)
            yield Captured(index, t - t0, mm, 1000 * (time.perf_counter() - t), str(depth.get_frame_number()),
                           intrinsics=self.intrinsics)
            index += 1

    def close(self) -> None:
        try:
            self.pipeline.stop()
        except RuntimeError:  # already stopped
            pass


class RealSenseFileSource(Source):
    """Playback of a RealSense recording (.bag or .db3): every frame, as fast as possible or ``realtime``.

    The SDK plays in non-real-time mode and waits while the bounded queue is full, so no frame is
    dropped; ``realtime`` paces frames by their recorded timestamps.
    """

    modality = "depth"

    def __init__(self, path: str, realtime: bool = False, timeout_s: float = 10.0) -> None:
        rs = self.rs = _rs("--realsense-file")
        self.path, self.label, self.realtime, self.timeout_s = Path(path), path, realtime, timeout_s
        if not self.path.is_file():
            raise SourceError(f"{path}: no such file")
        if self.path.suffix.lower() not in RECORDING_SUFFIXES:
            raise SourceError(f"{path}: not a RealSense recording (expected .bag or .db3)")
        try:
            device = _context(rs).load_device(str(self.path))
        except RuntimeError as e:
            raise SourceError(f"{path}: not a readable RealSense recording ({str(e).splitlines()[0]})") from None
        self.playback = device.as_playback()
        self.playback.set_real_time(False)
        sensors = [s for s in device.query_sensors() if s.is_depth_sensor()]
        profiles = [p for s in sensors[:1] for p in s.get_stream_profiles() if p.stream_type() == rs.stream.depth]
        if not profiles:
            raise SourceError(f"{path}: no depth stream in this recording")
        self.sensor, self.profile = sensors[0].as_depth_sensor(), profiles[0]
        self.depth_scale = self.sensor.get_depth_scale()
        self.intrinsics = intrinsics_of(self.profile)
        self._frames: queue.Queue = queue.Queue(4)
        self._closing = threading.Event()
        self._started = False

    def _on_frame(self, frame) -> None:
        """SDK thread: copy the frame out; block while the queue is full (the playback waits)."""
        depth = frame.as_depth_frame()
        item = (depth.get_timestamp(), to_millimetres(np.asanyarray(depth.get_data()), self.depth_scale),
                str(depth.get_frame_number()))
        while not self._closing.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Captured]:
        self.sensor.open(self.profile)
        self.sensor.start(self._on_frame)
        self._started = True
        index, first_ms, t0 = 0, None, time.perf_counter()
        waited = time.perf_counter()
        while True:
            t = time.perf_counter()
            try:
                stamp_ms, mm, name = self._frames.get(timeout=0.1)
            except queue.Empty:
                if self.playback.current_status() == self.rs.playback_status.stopped and self._frames.empty():
                    return
                if time.perf_counter() - waited > self.timeout_s:
                    log.error("%s: no frame for %.0f s; stopping", self.label, self.timeout_s)
                    return
                continue
            waited = time.perf_counter()
            first_ms = stamp_ms if first_ms is None else first_ms
            if self.realtime:
                time.sleep(max(0.0, t0 + (stamp_ms - first_ms) / 1000 - time.perf_counter()))
            yield Captured(index, (stamp_ms - first_ms) / 1000, mm, 1000 * (time.perf_counter() - t), name,
                           intrinsics=self.intrinsics)
            index += 1

    def close(self) -> None:
        self._closing.set()
        if self._started:
            self._started = False
            self.sensor.stop()
            self.sensor.close()


def write_recording(path: str | Path, frames_mm: Iterable[np.ndarray], intrinsics: Intrinsics,
                    fps: float = 15.0, depth_scale: float = MM) -> int:
    """Record (H, W) uint16 mm depth frames as a RealSense ``.db3`` through the SDK's software device.

    ``depth_scale``: metres per stored depth unit. Written under a temporary name, renamed when
    complete. Returns the number of frames.
    """
    rs, path = _rs("write_recording"), Path(path)
    if path.suffix != ".db3":
        raise ValueError(f"{path}: pyrealsense2 {rs.__version__} records .db3 files only")
    tmp = path.with_name(f".{path.stem}.tmp.db3")
    device = rs.software_device()
    sensor = device.add_sensor("Depth")
    profile = sensor.add_video_stream(_video_stream(rs, intrinsics, fps)).as_video_stream_profile()
    sensor.add_read_only_option(rs.option.depth_units, depth_scale)
    device.create_matcher(rs.matchers.default)
    recorder = rs.recorder(str(tmp), device)
    delivered = rs.frame_queue(2)
    sensor.open(profile)
    sensor.start(delivered)
    count, done = 0, False
    try:
        for count, mm in enumerate(frames_mm, 1):
            if mm.shape != (intrinsics.height, intrinsics.width):
                raise ValueError(f"{path}: frame {count - 1} is {mm.shape}, the stream "
                                 f"{intrinsics.height}x{intrinsics.width}")
            units = mm if depth_scale == MM else np.clip(np.rint(mm * (MM / depth_scale)), 0, 65535)
            sensor.on_video_frame(_software_frame(rs, np.ascontiguousarray(units, np.uint16), profile,
                                                  count - 1, fps, depth_scale))
            delivered.wait_for_frame(5000)  # recorded before the next one is built
        done = True
    finally:
        sensor.stop()
        sensor.close()
        del recorder  # the recorder closes its file when it goes
        if not done:
            tmp.unlink(missing_ok=True)
    os.replace(tmp, path)
    return count


def _video_stream(rs, intr: Intrinsics, fps: float):
    ri = rs.intrinsics()
    ri.width, ri.height, ri.fx, ri.fy, ri.ppx, ri.ppy = intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy
    ri.model, ri.coeffs = rs.distortion.none, list(intr.coeffs)
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = rs.stream.depth, 0, 0
    stream.width, stream.height, stream.fps = intr.width, intr.height, int(fps)
    stream.bpp, stream.fmt = 2, rs.format.z16
    stream.intrinsics = ri
    return stream


def _software_frame(rs, units: np.ndarray, profile, number: int, fps: float, depth_scale: float):
    frame = rs.software_video_frame()
    frame.pixels, frame.stride, frame.bpp = units, units.shape[1] * 2, 2
    frame.timestamp, frame.frame_number = number * 1000.0 / fps, number
    frame.domain, frame.profile, frame.depth_units = rs.timestamp_domain.hardware_clock, profile, depth_scale
    return frame
