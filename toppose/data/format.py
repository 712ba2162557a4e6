"""Write and read the training format; one writer for every converter and the renderer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from toppose.atomic import atomic_path, write_failed
from toppose.errors import ToposeError
from toppose.io import write_json
from toppose.preprocess import read_frame
from toppose.skeleton import COCO17_SKELETON, NUM_OPENPOSE, OPENPOSE18

ANNOTATIONS = "annotations.json"


class DataError(ToposeError):
    """Bad input data; the message names the file and the problem."""


def category() -> dict:
    return {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(OPENPOSE18.keypoints),
            "skeleton": [[a + 1, b + 1] for a, b in OPENPOSE18.limbs], "coco17_skeleton": [list(s) for s in COCO17_SKELETON]}


def mask_box(mask: np.ndarray | None) -> tuple[float | None, list[float] | None]:
    """A person's (H, W) pixel mask -> (segment area, [x, y, w, h]); (None, None) if empty or absent."""
    if mask is None:
        return None, None
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None, None
    return float(len(xs)), [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)]


def person_annotation(keypoints: np.ndarray, area: float | None = None, bbox: list[float] | None = None) -> dict:
    """(18, 3) x, y, v (COCO visibility) -> annotation fields (id and image_id added by the writer).

    Without a bbox, the labelled keypoints' box; without an area (segment area, what OKS
    scales by), the bbox area.
    """
    kp = np.asarray(keypoints, np.float64).reshape(NUM_OPENPOSE, 3)
    labelled = kp[:, 2] > 0
    if bbox is None:
        if labelled.any():
            x0, y0 = kp[labelled, :2].min(0)
            x1, y1 = kp[labelled, :2].max(0)
            bbox = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
        else:
            bbox = [0.0, 0.0, 0.0, 0.0]
    if area is None:
        area = bbox[2] * bbox[3]
    return {"category_id": 1, "keypoints": [round(float(v), 2) for v in kp.ravel()],
            "num_keypoints": int(labelled.sum()), "bbox": [round(float(v), 2) for v in bbox],
            "area": float(area), "iscrowd": 0}


class DatasetWriter:
    """Writes images as they come and the annotations JSON once, atomically, at ``close``.

    An interrupted run leaves no annotations file, so a half-converted folder never
    looks like a dataset.
    """

    def __init__(self, out: str | Path, info: dict) -> None:
        self.out = Path(out)
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        self.info = info
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, image: np.ndarray, people: list[dict], ignore: np.ndarray | None = None,
            extra: dict | None = None, ext: str = ".png") -> int:
        """image: (H, W) uint16 depth mm or (H, W, 3) uint8 BGR; people: person_annotation dicts."""
        name = f"images/{len(self.images) + 1:07d}{ext}"
        self._imwrite(self.out / name, image)
        return self._register(name, image.shape[:2], people, ignore, extra)

    def add_file(self, source: Path, people: list[dict], hw: tuple[int, int],
                 ignore: np.ndarray | None = None, extra: dict | None = None) -> int:
        """Like ``add`` for an image file copied as it is."""
        name = f"images/{len(self.images) + 1:07d}{source.suffix.lower()}"
        shutil.copyfile(source, self.out / name)
        return self._register(name, hw, people, ignore, extra)

    def _register(self, name: str, hw: tuple[int, int], people: list[dict], ignore: np.ndarray | None,
                  extra: dict | None) -> int:
        image_id = len(self.images) + 1
        entry = {"id": image_id, "file_name": name, "height": int(hw[0]), "width": int(hw[1]), **(extra or {})}
        if ignore is not None and ignore.any():
            (self.out / "masks").mkdir(exist_ok=True)
            entry["ignore_mask"] = f"masks/{image_id:07d}.png"
            self._imwrite(self.out / entry["ignore_mask"], (ignore > 0).astype(np.uint8) * 255)
        self.images.append(entry)
        for person in people:
            self.annotations.append({"id": len(self.annotations) + 1, "image_id": image_id, **person})
        return image_id

    @staticmethod
    def _imwrite(path: Path, image: np.ndarray) -> None:
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), image):  # OpenCV says only False
                raise write_failed(path, "the image", image.nbytes)

    def close(self) -> dict:
        dataset = {"info": self.info, "images": self.images, "annotations": self.annotations,
                   "categories": [category()]}
        write_json(self.out / ANNOTATIONS, dataset)
        return dataset


def load_dataset(folder: str | Path) -> dict:
    """Read and validate a training-format folder's annotations."""
    path = Path(folder) / ANNOTATIONS
    if not path.is_file():
        raise DataError(f"{path}: no such file (not a toppose training-format folder)")
    try:
        dataset = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise DataError(f"{path}: missing the '{key}' list")
    cats = dataset["categories"]
    if not cats or len(cats[0].get("keypoints", [])) != NUM_OPENPOSE:
        raise DataError(f"{path}: the category must list the {NUM_OPENPOSE} OpenPose keypoints")
    return dataset


def read_image(folder: Path, entry: dict) -> np.ndarray:
    """(H, W) uint16 depth mm or (H, W, 3) uint8 BGR."""
    path = Path(folder) / entry["file_name"]
    image = read_frame(path)
    if image is None:
        raise DataError(f"{path}: missing or unreadable image")
    return image


def read_ignore(folder: Path, entry: dict) -> np.ndarray | None:
    if "ignore_mask" not in entry:
        return None
    mask = cv2.imread(str(Path(folder) / entry["ignore_mask"]), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DataError(f"{Path(folder) / entry['ignore_mask']}: missing or unreadable mask")
    return mask > 0


def people_by_image(dataset: dict) -> dict[int, np.ndarray]:
    """image id -> (P, 18, 3) keypoints."""
    out: dict[int, list] = {}
    for a in dataset["annotations"]:
        out.setdefault(a["image_id"], []).append(np.asarray(a["keypoints"], np.float32).reshape(NUM_OPENPOSE, 3))
    return {k: np.stack(v) for k, v in out.items()}
