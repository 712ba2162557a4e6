"""COCO keypoint evaluation (pycocotools) plus a per-joint table, for any decoded poses.

Ground truth is the training format's COCO JSON (OpenPose keypoints, ``skeleton.NUM_OPENPOSE`` per person);
it is converted to COCO-17 at this boundary, as predictions are.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from toppose.codec.poses import Poses
from toppose.skeleton import COCO17_FROM_OPENPOSE, COCO17_KEYPOINTS, COCO17_SKELETON, OPENPOSE18, OPENPOSE_SIGMAS

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
_SIGMAS = np.asarray(OPENPOSE_SIGMAS)


@dataclass
class EvalResult:
    stats: dict[str, float]
    per_joint: list[dict]   # keypoint, labelled, oks (mean), pck (fraction)
    images: int
    people: int
    detections: int
    min_keypoints: int = 0             # > 0: stats_min_keypoints ignores GT with fewer labelled keypoints
    stats_min_keypoints: dict[str, float] | None = None

    def table(self) -> str:
        lines = ["  ".join(f"{n:>6}" for n in STAT_NAMES) + "  ground truth",
                 "  ".join(f"{self.stats[n]:6.3f}" for n in STAT_NAMES) + "  all (standard)"]
        if self.stats_min_keypoints is not None:
            lines.append("  ".join(f"{self.stats_min_keypoints[n]:6.3f}" for n in STAT_NAMES)
                         + f"  >= {self.min_keypoints} keypoints")
        lines += ["",
                 f"{'keypoint':16} {'labelled':>8} {'OKS':>6} {'PCK@0.2':>8}"]
        for row in self.per_joint:
            lines.append(f"{row['keypoint']:16} {row['labelled']:8d} {row['oks']:6.3f} {row['pck']:8.3f}")
        return "\n".join(lines)


def to_coco17_dataset(dataset: dict, min_keypoints: int = 0) -> dict:
    """Training-format COCO JSON (18 keypoints) -> standard COCO-17 keypoints dataset.

    People with fewer than ``min_keypoints`` labelled COCO keypoints get num_keypoints 0,
    which pycocotools ignores (neither missed nor a false positive when matched), as COCO
    does for people without keypoints.
    """
    anns = []
    for a in dataset["annotations"]:
        kp = np.asarray(a["keypoints"], np.float32).reshape(-1, 3)[list(COCO17_FROM_OPENPOSE)]
        labelled = int((kp[:, 2] > 0).sum())
        anns.append({"id": a["id"], "image_id": a["image_id"], "category_id": 1,
                     "keypoints": kp.ravel().tolist(), "num_keypoints": labelled if labelled >= min_keypoints else 0,
                     "bbox": a["bbox"], "area": a["area"], "iscrowd": a.get("iscrowd", 0)})
    return {"images": [{"id": im["id"], "width": im["width"], "height": im["height"]} for im in dataset["images"]],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17_KEYPOINTS),
                            "skeleton": [list(s) for s in COCO17_SKELETON]}]}


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def coco_stats(dataset: dict, predictions: dict[int, Poses], min_keypoints: int = 0) -> dict[str, float]:
    """pycocotools keypoint AP/AR of ``predictions`` (image id -> Poses in image pixels);
    ``min_keypoints``: see ``to_coco17_dataset``."""
    results = [r for image_id, poses in predictions.items() for r in poses.coco_results(image_id)]
    if not results:
        return {n: 0.0 for n in STAT_NAMES}
    with _quiet():
        gt = COCO()
        gt.dataset = to_coco17_dataset(dataset, min_keypoints)
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.imgIds = [im["id"] for im in dataset["images"]]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {n: float(max(v, 0.0)) for n, v in zip(STAT_NAMES, ev.stats)}


def per_joint(dataset: dict, predictions: dict[int, Poses], pck_fraction: float = 0.2) -> list[dict]:
    """Per OpenPose keypoint: labelled count, mean OKS term and PCK of greedily matched people.

    PCK counts a keypoint correct within ``pck_fraction`` x the person's bbox longer side
    (top-view torsos are foreshortened, so the bbox is the steadier scale).
    """
    J = OPENPOSE18.num_keypoints
    labelled, oks_sum, hits = np.zeros(J), np.zeros(J), np.zeros(J)
    by_image: dict[int, list] = {}
    for a in dataset["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for image_id, anns in by_image.items():
        poses = predictions.get(image_id, Poses.empty(J))
        used = np.zeros(len(poses), bool)
        for a in sorted(anns, key=lambda a: -a["area"]):
            gt = np.asarray(a["keypoints"], np.float32).reshape(J, 3)
            vis = gt[:, 2] > 0
            if not vis.any():
                continue
            scale2 = max(a["area"], 1.0)
            best, best_oks, best_terms = -1, 0.0, None
            for p in range(len(poses)):
                if used[p]:
                    continue
                d2 = ((poses.keypoints[p, :, :2] - gt[:, :2]) ** 2).sum(1)
                terms = np.exp(-d2 / (2 * scale2 * (2 * _SIGMAS) ** 2)) * (poses.keypoints[p, :, 2] > 0)
                o = terms[vis].mean()
                if o > best_oks:
                    best, best_oks, best_terms = p, o, terms
            labelled += vis
            if best < 0:
                continue
            used[best] = True
            oks_sum += np.where(vis, best_terms, 0.0)
            d = np.linalg.norm(poses.keypoints[best, :, :2] - gt[:, :2], axis=1)
            found = poses.keypoints[best, :, 2] > 0
            hits += vis & found & (d <= pck_fraction * max(a["bbox"][2], a["bbox"][3]))
    return [{"keypoint": OPENPOSE18.keypoints[j], "labelled": int(labelled[j]),
             "oks": float(oks_sum[j] / labelled[j]) if labelled[j] else 0.0,
             "pck": float(hits[j] / labelled[j]) if labelled[j] else 0.0} for j in range(J)]


def evaluate(dataset: dict, predictions: dict[int, Poses], min_keypoints: int = 0) -> EvalResult:
    """Standard evaluation; with ``min_keypoints`` > 0 also the figure that ignores people
    with fewer labelled keypoints (reported beside the standard one, never instead)."""
    extra = coco_stats(dataset, predictions, min_keypoints) if min_keypoints > 0 else None
    return EvalResult(coco_stats(dataset, predictions), per_joint(dataset, predictions),
                      images=len(dataset["images"]), people=len(dataset["annotations"]),
                      detections=sum(len(p) for p in predictions.values()),
                      min_keypoints=min_keypoints, stats_min_keypoints=extra)
