"""COCO person-keypoint annotations (standard or the textbook's COCO.json) -> training format."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from toppose.data.format import DataError, DatasetWriter, person_annotation
from toppose.skeleton import COCO17_FROM_OPENPOSE, NUM_COCO17, NUM_OPENPOSE

TEXTBOOK_VISIBILITY = {1: 2, 0: 1, 2: 0}  # textbook joint_self code -> COCO v


def openpose_from_coco17(kp17: np.ndarray) -> np.ndarray:
    """(17, 3) COCO order -> (18, 3) OpenPose order; the neck is the shoulders' midpoint
    when both are labelled (visibility: the lower of the two)."""
    kp = np.zeros((NUM_OPENPOSE, 3), np.float32)
    kp[list(COCO17_FROM_OPENPOSE)] = np.asarray(kp17, np.float32).reshape(NUM_COCO17, 3)
    r, l = kp[2], kp[5]
    if r[2] > 0 and l[2] > 0:
        kp[1] = [(r[0] + l[0]) / 2, (r[1] + l[1]) / 2, min(r[2], l[2])]
    return kp


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None


def _ignore_mask(anns: list[dict], h: int, w: int) -> np.ndarray:
    """Crowd regions and people without keypoints (pycocotools masks), nonzero = ignore."""
    from pycocotools import mask as mask_utils

    ignore = np.zeros((h, w), np.uint8)
    for a in anns:
        if (a.get("iscrowd") or a.get("num_keypoints", 0) == 0) and a.get("segmentation"):
            seg = a["segmentation"]
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = seg
            ignore |= mask_utils.decode(rle).astype(np.uint8)
    return ignore


def _check_coco(data: dict, path: Path) -> None:
    if not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise DataError(f"{path}: not COCO annotations (needs images, annotations and categories lists)")
    person = [c for c in data["categories"] if len(c.get("keypoints", [])) == NUM_COCO17]
    if not person:
        raise DataError(f"{path}: no category with {NUM_COCO17} COCO keypoints (not a person-keypoints file)")
    for im in data["images"]:
        if not isinstance(im, dict) or not all(k in im for k in ("id", "file_name", "height", "width")):
            raise DataError(f"{path}: an image entry lacks id, file_name, height or width ({str(im)[:60]})")
    for n, a in enumerate(data["annotations"]):
        _check_annotation(a, n, path)


def _check_annotation(a, n: int, path: Path) -> None:
    """Every annotation (not a sample): image_id, 17 x 3 numeric keypoints, bbox and area."""
    name = f"annotation {a.get('id', n) if isinstance(a, dict) else n}"
    if not isinstance(a, dict) or "image_id" not in a:
        raise DataError(f"{path}: {name} has no image_id")
    kp = a.get("keypoints")
    if not isinstance(kp, list) or len(kp) != 3 * NUM_COCO17 or not all(isinstance(v, (int, float)) for v in kp):
        raise DataError(f"{path}: {name} does not hold {NUM_COCO17} x 3 numeric keypoint values")
    if not np.isfinite(np.asarray(kp, np.float64)).all():
        raise DataError(f"{path}: {name} has NaN or infinite keypoint values")
    if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd"):
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not isinstance(a.get("area"), (int, float)):
            raise DataError(f"{path}: {name} needs a 4-number bbox and a numeric area")


def _split(ids: list, sample: int | None, val_fraction: float, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    ids = list(ids)
    rng.shuffle(ids)
    if sample:
        ids = ids[:sample]
    n_val = int(round(len(ids) * val_fraction))
    return sorted(ids[n_val:]), sorted(ids[:n_val])


def convert_coco(annotations: Path, images: Path, out: Path, sample: int | None = None,
                 val_fraction: float = 0.0, seed: int = 0) -> dict[str, int]:
    """Standard COCO keypoints or the textbook's COCO.json -> ``out`` (or out/train + out/val)."""
    annotations, images, out = Path(annotations), Path(images), Path(out)
    data = _load_json(annotations)
    if isinstance(data, dict) and isinstance(data.get("root"), list):
        return _convert_textbook(data["root"], annotations, images, out, sample, val_fraction, seed)
    if not isinstance(data, dict):
        raise DataError(f"{annotations}: not COCO annotations")
    _check_coco(data, annotations)
    by_image: dict[int, list] = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    entries = {im["id"]: im for im in data["images"]}
    usable = [i for i, anns in by_image.items() if i in entries and any(a.get("num_keypoints", 0) > 0 and not a.get("iscrowd") for a in anns)]
    train, val = _split(usable, sample, val_fraction, seed)
    counts = {}
    for name, ids in (("train", train), ("val", val)):
        if not ids:
            continue
        folder = out / name if val_fraction > 0 else out
        writer = DatasetWriter(folder, {"source": "COCO", "annotations": annotations.name, "modality": "rgb"})
        for i in ids:
            im = entries[i]
            src = images / im["file_name"]
            if not src.is_file():
                raise DataError(f"{src}: image listed in {annotations.name} is missing")
            h, w = int(im["height"]), int(im["width"])
            people = [person_annotation(openpose_from_coco17(np.reshape(a["keypoints"], (NUM_COCO17, 3))), a["area"], a["bbox"])
                      for a in by_image[i] if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd")]
            writer.add_file(src, people, (h, w), _ignore_mask(by_image[i], h, w),
                            extra={"source": {"file": im["file_name"], "coco_id": i}})
        writer.close()
        counts[name] = len(ids)
    return counts


def _convert_textbook(root: list, path: Path, images: Path, out: Path, sample, val_fraction, seed) -> dict[str, int]:
    """The textbook's ``{"root": [...]}`` (one entry per person; masks under images/mask/)."""
    by_image: dict[str, list] = {}
    for e in root:
        try:
            by_image.setdefault(e["img_paths"], []).append(e)
        except (KeyError, TypeError):
            raise DataError(f"{path}: a root entry has no img_paths") from None
    train_keys, _ = _split(sorted(by_image), sample, 0.0, seed)
    counts: dict[str, int] = {}
    writers: dict[str, DatasetWriter] = {}
    for key in train_keys:
        entry = by_image[key][0]
        split = "val" if entry.get("isValidation") else "train"
        folder = out / split
        writer = writers.setdefault(split, DatasetWriter(folder, {"source": "textbook COCO.json", "modality": "rgb"}))
        people = []
        for e in by_image[key][:1]:
            for joints in [e["joint_self"]] + list(e.get("joint_others", []) or []):
                j = np.asarray(joints, np.float32).reshape(NUM_COCO17, 3).copy()
                j[:, 2] = [TEXTBOOK_VISIBILITY.get(int(v), 0) for v in j[:, 2]]
                j[j[:, 2] == 0, :2] = 0
                kp = openpose_from_coco17(j)
                people.append(person_annotation(kp, float(e.get("segment_area", 0.0))))
        src = images / key
        if not src.is_file():
            raise DataError(f"{src}: image listed in {path.name} is missing")
        h, w = int(entry["img_height"]), int(entry["img_width"])
        name = Path(key)
        mask_path = images / "mask" / name.parent / f"mask_{name.stem}.jpg"
        ignore = None
        if mask_path.is_file():
            m = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            ignore = (m < 128).astype(np.uint8) if m is not None else None
        writer.add_file(src, people, (h, w), ignore, extra={"source": {"file": key}})
        counts[split] = counts.get(split, 0) + 1
    for writer in writers.values():
        writer.close()
    return counts
