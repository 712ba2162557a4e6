"""``toppose-stream`` and ``toppose-infer``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from toppose.errors import App, ConfigError, Interrupted, ToposeError

stream_app = App(help="Stream frames through a pose model.")
infer_app = App(help="Estimate poses on single images.")
Force = Annotated[bool, typer.Option(help="replace existing outputs")]


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")



def _session(model: Optional[Path], device: str, trt_cache: Optional[Path], fp16: bool, threads: int = 0):
    from toppose.runtime.session import DEVICES, PoseSession
    from toppose.runtime.stream import bundled_model

    if device not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    return PoseSession(model or bundled_model(), device, str(trt_cache) if trt_cache else None, fp16, threads)


def _check_stream_options(frames, duration, threads, decoder, save, json_out, openpose_json, force,
                          several: bool = False) -> None:
    """Every stream option checked before a model loads or an output is created."""
    from toppose.atomic import check_output, check_output_dir
    from toppose.codec.decoder import METHODS

    for name, value, ok in (("--frames", frames, frames is None or frames >= 1),
                            ("--duration", duration, duration is None or duration > 0),
                            ("--threads", threads, threads >= 0)):
        if not ok:
            raise ConfigError(f"{name} must be positive, got {value}")
    if decoder not in METHODS:
        raise ConfigError(f"--decoder must be one of {', '.join(METHODS)}, got {decoder!r}")
    if save is not None and several:  # one <source>.mp4 per source in this folder
        if save.suffix:
            raise ConfigError(f"--save {save}: with several sources, name a folder (one <source>.mp4 each)")
        check_output_dir(save, force, "--save")
    elif save is not None:
        if save.suffix.lower() not in (".mp4", ".avi"):
            raise ConfigError(f"--save {save}: expected a .mp4 (or .avi) file name")
        check_output(save, force, "--save")
    if json_out is not None:
        check_output(json_out, force, "--json")
    if openpose_json is not None:
        check_output_dir(openpose_json, force, "--openpose-json")


def _check_analytics(zones: Optional[Path], mqtt: Optional[str], mqtt_poses: bool = True,
                     down_after: Optional[float] = None, lift3d: bool = False, track: bool = False) -> None:
    """Validate --zones, --mqtt (--no-mqtt-poses) and --down-after before any model or source is opened."""
    from toppose.runtime.publish import MqttTarget, PublishError
    from toppose.runtime.zones import ZonesError, load_zones

    if not mqtt_poses and mqtt is None:
        raise ConfigError("--no-mqtt-poses needs --mqtt")
    if down_after is not None:
        if not down_after > 0:   # also NaN
            raise ConfigError(f"--down-after must be positive, got {down_after}")
        if not (lift3d and (track or zones is not None)):
            raise ConfigError("--down-after needs --3d (the lying flag) and --track or --zones (ids)")
    try:
        if zones is not None:
            load_zones(zones)
        if mqtt is not None:
            MqttTarget.parse(mqtt)
    except (ZonesError, PublishError) as e:
        raise ConfigError(str(e)) from None


@stream_app.command()
def stream(camera: Annotated[Optional[list[int]], typer.Option(help="live camera index (V4L2); repeatable")] = None,
           video: Annotated[Optional[list[str]], typer.Option(help="video file or RTSP/HTTP URL; repeatable")] = None,
           images: Annotated[Optional[list[str]], typer.Option(help="image folder or glob; repeatable")] = None,
           itop: Annotated[Optional[list[str]], typer.Option(help="ITOP *_depth_map.h5 to replay; repeatable")] = None,
           demo: Annotated[bool, typer.Option(help="the synthetic ceiling scene with the bundled model")] = False,
           realsense: Annotated[bool, typer.Option(help="a live RealSense depth camera (extra: realsense)")] = False,
           serial: Annotated[Optional[str], typer.Option(help="with --realsense: the device's serial number")] = None,
           realsense_file: Annotated[Optional[list[str]], typer.Option(help="RealSense recording (.bag or .db3); "
                                                                      "repeatable")] = None,
           realtime: Annotated[bool, typer.Option(help="release file frames at their recorded rate, like a "
                                                  "camera (newest frame kept)")] = False,
           fps: Annotated[Optional[float], typer.Option(help="release file frames at N per second (image "
                                                        "folders need it with --realtime)")] = None,
           allow_modality_mismatch: Annotated[bool, typer.Option(help="run depth through a colour model or "
                                                                 "the reverse")] = False,
           model: Annotated[Optional[Path], typer.Option(help="exported .onnx (default: the bundled model)")] = None,
           device: Annotated[str, typer.Option(help="auto, cpu, cuda or tensorrt")] = "auto",
           trt_cache: Annotated[Optional[Path], typer.Option(help="TensorRT engine cache folder")] = None,
           fp16: Annotated[bool, typer.Option(help="TensorRT fp16")] = False,
           show: Annotated[Optional[bool], typer.Option(help="show a window (default: when a display exists)")] = None,
           save: Annotated[Optional[Path], typer.Option(help="overlay video (.mp4); a folder with several "
                                                        "sources")] = None,
           json_out: Annotated[Optional[Path], typer.Option("--json", help="JSON lines, one per frame")] = None,
           openpose_json: Annotated[Optional[Path], typer.Option(help="folder for CMU OpenPose JSON files")] = None,
           frames: Annotated[Optional[int], typer.Option(help="stop after N frames")] = None,
           duration: Annotated[Optional[float], typer.Option(help="stop after S seconds")] = None,
           decoder: Annotated[str, typer.Option(help="sparse or fine (numba: deprecated name of fine)")] = "sparse",
           threads: Annotated[int, typer.Option(help="onnxruntime CPU threads (0 = one per core); several "
                                                        "sources, or a file at full speed, split them among "
                                                        "calls at once")] = 0,
           batch: Annotated[Optional[bool], typer.Option(help="several sources' frames in one network call "
                                                         "(default: on GPU providers, where it pays)")] = None,
           seed: Annotated[int, typer.Option(help="demo scene seed")] = 0,
           track: Annotated[bool, typer.Option(help="persistent person ids across frames")] = False,
           zones: Annotated[Optional[Path], typer.Option(help="zones.json: occupancy, line crossings, dwell (implies --track)")] = None,
           mqtt: Annotated[Optional[str], typer.Option(
               help="publish poses and events to mqtt://[USER[:PASSWORD]@]HOST:PORT/TOPIC "
                    "(or the password in TOPPOSE_MQTT_PASSWORD); mqtts:// for TLS (a site's own CA: "
                    "TOPPOSE_MQTT_CA=ca.pem)")] = None,
           mqtt_poses: Annotated[bool, typer.Option(
               help="with --mqtt: publish each frame's poses too (--no-mqtt-poses: events, occupancy and "
                    "status only)")] = True,
           lift3d: Annotated[bool, typer.Option("--3d", help="keypoints in metres (camera frame), the floor plane, "
                                                "height above it and a lying flag (depth sources with intrinsics)")] = False,
           down_after: Annotated[Optional[float], typer.Option(
               help="with --3d and --track: seconds someone lies before a 'down' event (default 10)")] = None,
           force: Force = False) -> None:
    """Stream frames -> poses, with overlays, pose files and a latency summary."""
    from toppose.runtime.multi import open_sources
    from toppose.runtime.stream import StreamConfig, display_available, run_stream

    _setup_logging()
    several = sum(len(x or ()) for x in (camera, video, images, itop, realsense_file)) + demo + realsense > 1
    _check_stream_options(frames, duration, threads, decoder, save, json_out, openpose_json, force, several)
    _check_analytics(zones, mqtt, mqtt_poses, down_after, lift3d, track)
    session = _session(model, device, trt_cache, fp16, threads)
    sources = open_sources(camera or (), video or (), images or (), itop or (), realsense_file or (), demo,
                           realsense, serial, seed, realtime, fps, session.spec.encoding.kind == "depth")
    _check_sources(sources, session, allow_modality_mismatch, lift3d)  # closes them when one is refused
    if demo and frames is None and duration is None:
        frames = 150  # the demo is bounded unless asked otherwise
    cfg = StreamConfig(save=save, jsonl=json_out, openpose_json=openpose_json,
                       show=display_available() if show is None else show and display_available(),
                       frames=frames, duration_s=duration, track=track or zones is not None, zones=zones, mqtt=mqtt,
                       mqtt_poses=mqtt_poses, lift3d=lift3d, batch=batch,
                       **({} if down_after is None else {"down_after": down_after}))   # else StreamConfig's
    stats = run_stream(sources, session, cfg, decoder)
    summary = stats.summary()
    typer.echo(f"\n{_line(summary)} on {session.device}")
    for name, s in summary.get("sources", {}).items():
        typer.echo(f"  {name}: {_line(s)}")
    typer.echo(json.dumps(summary))
    if stats.interrupted:
        raise Interrupted(stats.interrupted)


def _check_sources(sources, session, allow_modality_mismatch: bool, lift3d: bool) -> None:
    """Each source gives the frames the model reads (unless allowed otherwise) and, with --3d, depth
    frames whose camera is known (ITOP replays, the demo, RealSense); all are closed when one is refused."""
    from toppose.runtime.sources import check_modality

    try:
        if not allow_modality_mismatch:
            for source in sources:
                check_modality(source.label, source.modality, session.spec.encoding, session.path.name)
        for source in sources if lift3d else ():
            if source.modality != "depth" or getattr(source, "intrinsics", None) is None:
                raise ConfigError(f"--3d: {source.label} gives no depth frames with known intrinsics "
                                  "(ITOP replays, RealSense cameras and recordings, and the demo do)")
    except ToposeError:
        for s in sources:
            s.close()
        raise


def _line(s: dict) -> str:
    return (f"{s['frames']} frames, {s['dropped']} dropped, {s['fps']} FPS, latency p50 {s.get('latency_ms_p50', 0)} "
            f"ms, p95 {s.get('latency_ms_p95', 0)} ms ({s['latency_kind']})")


@infer_app.command()
def infer(images: Annotated[list[Path], typer.Argument(help="image files (colour, or 16-bit depth PNGs in mm)")],
          out: Annotated[Optional[Path], typer.Option(help="write overlays and JSON here")] = None,
          model: Annotated[Optional[Path], typer.Option(help="exported .onnx (default: the bundled model)")] = None,
          device: Annotated[str, typer.Option(help="auto, cpu, cuda or tensorrt")] = "auto",
          tta: Annotated[bool, typer.Option(help="scales 0.75/1/1.25 + flip, averaged")] = False,
          allow_modality_mismatch: Annotated[bool, typer.Option(help="run colour images through a depth model "
                                                                "or depth through a colour model")] = False,
          force: Force = False) -> None:
    """Poses on single images (the textbook's inference), same session and decoder as streaming."""
    import contextlib

    from toppose.atomic import atomic_path
    from toppose.runtime.estimator import PoseEstimator
    from toppose.runtime.sources import check_modality, frame_modality

    targets = _infer_targets(images, out, force)
    # every input checked before any output is written (read here and again when inferred)
    modalities = {path: frame_modality(_read_frame(path)) for path in images}
    _setup_logging()
    estimator = PoseEstimator(_session(model, device, None, False))
    if not allow_modality_mismatch:
        for path, modality in modalities.items():
            check_modality(str(path), modality, estimator.spec.encoding, estimator.session.path.name)
    with contextlib.ExitStack() as stack:  # all outputs appear together, or none
        for path in images:
            tmp = [stack.enter_context(atomic_path(t)) for t in targets.get(path, ())]
            _infer_one(estimator, path, tta, tmp)


def _infer_targets(images: list[Path], out: Optional[Path], force: bool) -> dict:
    """image -> (overlay PNG, keypoints JSON) under ``out``; existing ones refused unless ``force``."""
    from toppose.atomic import check_output

    if out is None:
        return {}
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, expected a folder")
    targets, seen = {}, {}
    for path in images:
        if path.stem in seen and seen[path.stem] != path:
            raise ConfigError(f"{path} and {seen[path.stem]} would both write {out / path.stem}_poses.png")
        seen[path.stem] = path
        targets[path] = (out / f"{path.stem}_poses.png", out / f"{path.stem}_keypoints.json")
        for t in targets[path]:
            check_output(t, force, "--out")
    return targets


def _read_frame(path: Path):
    """(H, W) depth or (H, W, 3) BGR frame of an image file; ConfigError naming it otherwise."""
    from toppose.model_spec import InputEncoding
    from toppose.preprocess import read_frame, to_input_image

    frame = read_frame(path) if path.is_file() else None
    if frame is None:
        raise ConfigError(f"{path}: missing or not an image")
    try:
        to_input_image(frame, InputEncoding())
    except ValueError as e:
        raise ConfigError(f"{path}: {e}") from None
    return frame


def _infer_one(estimator, path: Path, tta: bool, tmp: list[Path]) -> None:
    import cv2

    from toppose.atomic import write_failed
    from toppose.preprocess import to_input_image
    from toppose.runtime.draw import draw_poses

    frame = _read_frame(path)
    poses, t = estimator(frame, tta=tta)
    typer.echo(f"{path}: {len(poses)} people ({t.inference:.1f} ms inference, {t.decode:.2f} ms decode)")
    if tmp:
        overlay = draw_poses(to_input_image(frame, estimator.spec.encoding).copy(), poses, estimator.spec.skeleton)
        if not cv2.imwrite(str(tmp[0]), overlay):
            raise write_failed(tmp[0], "the overlay image", overlay.nbytes)
        tmp[1].write_text(json.dumps(poses.openpose_json()))
