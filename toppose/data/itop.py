"""ITOP HDF5 labels + depth maps -> the training format, validated, with a drop report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from toppose.camera import ITOP
from toppose.data.format import DataError, DatasetWriter, mask_box, person_annotation
from toppose.preprocess import depth_to_mm
from toppose.skeleton import ITOP_LABELLED, ITOP_TORSO, NUM_ITOP, OPENPOSE_FROM_ITOP, openpose_from_itop

LABEL_DATASETS = ("id", "is_valid", "visible_joints", "image_coordinates", "real_world_coordinates")


@dataclass
class ItopReport:
    frames_read: int = 0
    frames_kept: int = 0
    dropped: dict = field(default_factory=dict)
    keypoints_not_visible: int = 0
    keypoints_outside_frame: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        drops = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped.items())) or "none"
        return (f"frames read {self.frames_read}, kept {self.frames_kept}; dropped: {drops}; keypoints "
                f"occluded {self.keypoints_not_visible}, outside the frame {self.keypoints_outside_frame}")


def open_itop(path: Path, required: tuple[str, ...]) -> h5py.File:
    """An ITOP .h5 file holding the ``required`` datasets; DataError naming the file otherwise."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DataError(f"{path}: not an HDF5 file") from None
    missing = [d for d in required if d not in f]
    if missing:
        f.close()
        raise DataError(f"{path}: missing dataset(s) {', '.join(missing)}")
    return f


def check_itop_pair(labels: h5py.File, depth: h5py.File, lpath: Path, dpath: Path) -> int:
    """The number of frames of a labels + depth pair; DataError naming the file whose ids, shapes or
    frame order do not match."""
    for f, path in ((labels, lpath), (depth, dpath)):
        if f["id"].dtype.kind != "S" or f["id"].ndim != 1:
            raise DataError(f"{path}: dataset id holds {f['id'].dtype} values, expected ITOP's byte-string "
                            f"ids such as b'04_00001'")
    n = labels["id"].shape[0]
    shapes = {"is_valid": (n,), "visible_joints": (n, NUM_ITOP), "image_coordinates": (n, NUM_ITOP, 2),
              "real_world_coordinates": (n, NUM_ITOP, 3)}
    for name, shape in shapes.items():
        if labels[name].shape != shape:
            raise DataError(f"{lpath}: dataset {name} has shape {labels[name].shape}, expected {shape}")
    if depth["id"].shape[0] != n or depth["data"].shape[0] != n:
        raise DataError(f"{dpath}: {depth['data'].shape[0]} depth frames but {lpath.name} has {n} labels")
    if depth["data"].shape[1:] != ITOP.hw:
        raise DataError(f"{dpath}: depth frames are {depth['data'].shape[1:]}, expected {ITOP.hw}")
    lid, did = labels["id"][:], depth["id"][:]
    bad = np.nonzero(lid != did)[0]
    if len(bad):
        raise DataError(f"{dpath}: frame ids differ from {lpath.name} at index {bad[0]} "
                        f"({did[bad[0]]!r} vs {lid[bad[0]]!r})")
    return n


def _frame_indices(ids: np.ndarray, start: int, end: int | None, every: int, persons: set[str] | None):
    for i in range(start, len(ids) if end is None else min(end, len(ids)), every):
        if persons is None or ids[i].decode(errors="replace").split("_")[0] in persons:
            yield i


def convert_itop(labels_path: Path, depth_path: Path, out: Path, start: int = 0, end: int | None = None,
                 every: int = 1, persons: set[str] | None = None, progress=None) -> ItopReport:
    """Convert one view/split of ITOP. Writes ``out`` in the training format; returns the report."""
    labels_path, depth_path = Path(labels_path), Path(depth_path)
    report = ItopReport()
    with open_itop(labels_path, LABEL_DATASETS) as labels, open_itop(depth_path, ("id", "data")) as depth:
        check_itop_pair(labels, depth, labels_path, depth_path)
        coords = labels["image_coordinates"][:].astype(np.float64)
        if not np.isfinite(coords).all():
            raise DataError(f"{labels_path}: image_coordinates contain NaN or inf")
        ids, valid, visible = labels["id"][:], labels["is_valid"][:], labels["visible_joints"][:]
        world = labels["real_world_coordinates"][:].astype(np.float32)
        seg = labels["segmentation"] if "segmentation" in labels else None
        rendered = labels.attrs.get("toppose_recipe")  # files toppose-data synth wrote say how
        writer = DatasetWriter(out, {"source": "ITOP", "labels": labels_path.name, "depth": depth_path.name,
                                     "modality": "depth", "depth_unit": "mm", "camera": ITOP.to_dict(),
                                     **({"recipe": json.loads(rendered)} if rendered else {})})
        indices = list(_frame_indices(ids, start, end, every, persons))
        for count, i in enumerate(indices):
            report.frames_read += 1
            if progress:
                progress(count + 1, len(indices))
            if not valid[i]:
                report.drop("is_valid = 0")
                continue
            d = depth["data"][i].astype(np.float32)
            if not np.isfinite(d).all():
                report.drop("depth not finite")
                continue
            kp, in_frame = openpose_from_itop(coords[i], visible[i], ITOP.hw)
            if not in_frame[[OPENPOSE_FROM_ITOP[k] for k in ITOP_LABELLED]].any():
                report.drop("no joint inside the frame")
                continue
            report.keypoints_not_visible += int((kp[:, 2] == 1).sum())
            report.keypoints_outside_frame += int((kp[list(ITOP_LABELLED), 2] == 0).sum())
            area, bbox = mask_box(seg[i] >= 0 if seg is not None else None)
            writer.add(depth_to_mm(d), [person_annotation(kp, area, bbox)],
                       extra={"source": {"file": depth_path.name, "index": int(i), "id": ids[i].decode(errors="replace")},
                              "objpos": [float(v) for v in coords[i, ITOP_TORSO]],
                              "real_world_coordinates": np.round(world[i], 4).tolist()})
            report.frames_kept += 1
        writer.info["report"] = report.to_dict()
        writer.close()
    return report

