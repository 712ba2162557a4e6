"""Write rendered scenes as ITOP HDF5 files or directly in the training format."""

from __future__ import annotations

import io
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import h5py
import numpy as np

from toppose import __version__
from toppose.camera import ITOP
from toppose.data.format import DatasetWriter, mask_box, person_annotation
from toppose.atomic import atomic_path, check_output
from toppose.preprocess import depth_to_mm
from toppose.skeleton import NUM_ITOP
from toppose.synth.render import intrinsics_dict
from toppose.synth.scenes import Frame, SceneOptions, frame_keypoints, random_scene

__all__ = ["depth_to_mm", "frame_people", "recipe", "write_itop", "write_training"]
FRAMES_PER_SUBJECT = 100


def frame_people(frame: Frame) -> list[dict]:
    """Training-format person annotations of a rendered frame (people seen at all)."""
    people = []
    for p, kp in enumerate(frame_keypoints(frame)):
        if frame.areas[p] == 0 and not (kp[:, 2] > 0).any():
            continue
        _, bbox = mask_box(frame.person == p)
        people.append(person_annotation(kp, float(max(frame.areas[p], 1)), bbox))
    return people


def recipe(view: str, frames: int, seed: int, scene: SceneOptions = SceneOptions(), **options) -> dict:
    """How a set was rendered, enough to render it again: stored with every set the renderer writes.

    ``scene`` (sensor, clutter, mounting) is recorded in full when it differs from the default.
    """
    out = {"source": "toppose synthetic", "renderer": f"toppose {__version__}", "view": view, "frames": frames,
           "seed": seed, **options, "sensor": scene.sensor, "modality": "depth", "depth_unit": "mm",
           "camera": ITOP.to_dict() if scene.fov is None else "per image"}
    if scene != SceneOptions():
        out["scene"] = scene.to_dict()
    return out


def _render_itop(args):
    seed, index, view, options = args
    rng = np.random.default_rng([seed, index])
    return random_scene(rng, view, (1, 1), furniture=rng.random() < 0.3, fully_in_view=rng.random() < 0.7,
                        options=options)


def write_itop(out: str | Path, view: str, frames: int, seed: int, split: str = "train",
               workers: int = 1, options: SceneOptions = SceneOptions(),
               force: bool = False) -> tuple[Path, Path]:
    """Single-person frames as ``ITOP_{view}_{split}_labels.h5`` and ``..._depth_map.h5``.

    ``options`` picks sensor, clutter and mounting; always ITOP's intrinsics, so the real-world
    coordinates (camera frame, metres) and the depth maps agree as in ITOP's own files.
    Existing files are refused unless ``force``; both are written under temporary names first.
    """
    if options.fov is not None:
        raise ValueError("ITOP files hold ITOP's camera only: options.fov must be None")
    out = Path(out)
    labels_path = out / f"ITOP_{view}_{split}_labels.h5"
    depth_path = out / f"ITOP_{view}_{split}_depth_map.h5"
    for path in (labels_path, depth_path):
        check_output(path, force)
    rendered = _map(_render_itop, [(seed, i, view, options) for i in range(frames)], workers)
    n = len(rendered)
    ids = np.array([f"{i // FRAMES_PER_SUBJECT:02d}_{i % FRAMES_PER_SUBJECT:05d}".encode() for i in range(n)], "S8")
    invalid = np.random.default_rng([seed, 1 << 20]).random(n) < 0.03
    coords = np.zeros((n, NUM_ITOP, 2), np.int16)
    world = np.zeros((n, NUM_ITOP, 3), np.float16)
    vis = np.zeros((n, NUM_ITOP), np.int16)
    valid = np.zeros(n, np.uint8)
    seg = np.full((n, *ITOP.hw), -1, np.int8)
    depth = np.zeros((n, *ITOP.hw), np.float16)
    for i, f in enumerate(rendered):
        if len(f.joints_uv):
            coords[i] = np.rint(f.joints_uv[0])
            world[i] = f.joints_cam[0]
            vis[i] = f.visible[0]
            valid[i] = int(f.in_frame[0].sum() >= 8 and not invalid[i])
        seg[i] = np.where(f.person == 0, f.parts, -1)
        depth[i] = f.depth
    with atomic_path(labels_path) as ltmp, atomic_path(depth_path) as dtmp:
        _write_itop_files(ltmp, dtmp, json.dumps(recipe(view, frames, seed, options, split=split, people=[1, 1])),
                          ids, valid, vis, coords, world, seg, depth)
    return labels_path, depth_path


def _write_itop_files(labels_path: Path, depth_path: Path, recipe_json: str, ids, valid, vis, coords, world, seg, depth) -> None:
    """Both files built in memory, then written as plain bytes: a full disk is a clean OSError
    (HDF5's own writer reports it from a destructor, after the fact)."""
    labels, frames = io.BytesIO(), io.BytesIO()
    with h5py.File(labels, "w") as h:
        h.attrs["toppose_recipe"] = recipe_json
        h["id"] = ids
        h["is_valid"] = valid
        h["visible_joints"] = vis
        h["image_coordinates"] = coords
        h["real_world_coordinates"] = world
        h.create_dataset("segmentation", data=seg, compression="gzip", compression_opts=1)
    with h5py.File(frames, "w") as h:
        h["id"] = ids
        h.create_dataset("data", data=depth, compression="gzip", compression_opts=1)
    labels_path.write_bytes(labels.getvalue())
    depth_path.write_bytes(frames.getvalue())


def _render_training(args):
    seed, index, view, people, fully, walls, options = args
    rng = np.random.default_rng([seed, index])
    frame = random_scene(rng, view, people, furniture=True, fully_in_view=fully, walls=walls, options=options)
    ok, png = cv2.imencode(".png", depth_to_mm(frame.depth))
    return png.tobytes(), frame_people(frame), frame.families, frame.intrinsics


def write_training(out: str | Path, view: str, frames: int, seed: int, people: tuple[int, int] = (1, 4),
                   fully_in_view: bool = False, workers: int = 1, progress=None, walls: bool = False,
                   options: SceneOptions = SceneOptions()) -> dict:
    """Multi-person scenes in the training format (16-bit depth PNGs + COCO JSON).

    With varied intrinsics (``options.fov``) each image's ``camera`` holds its own.
    """
    writer = DatasetWriter(out, recipe(view, frames, seed, options, people=list(people), fully_in_view=fully_in_view,
                                      walls=walls))
    jobs = [(seed, i, view, people, fully_in_view, walls, options) for i in range(frames)]
    for i, (png, anns, families, intr) in enumerate(_imap(_render_training, jobs, workers)):
        depth = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        extra = {"view": view, "families": families}
        if options.fov is not None:
            extra["camera"] = intrinsics_dict(intr)
        writer.add(depth, anns, extra=extra)
        if progress:
            progress(i + 1, frames)
    return writer.close()


def _imap(fn, jobs, workers):
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(fn, jobs, chunksize=max(1, len(jobs) // (workers * 8)))


def _map(fn, jobs, workers):
    return list(_imap(fn, jobs, workers))
