"""Training-format folders -> augmented network inputs and targets (shared codec encoder)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from toppose.codec.encoder import encode
from toppose.data.format import DataError, load_dataset, people_by_image, read_ignore, read_image
from toppose.model_spec import ModelSpec
from toppose.preprocess import PAD_VALUE, depth_from_png, encode_depth, letterbox_image, normalize, plan_letterbox
from toppose.skeleton import NUM_OPENPOSE
from toppose.train.config import TrainConfig


class PoseDataset(Dataset):
    """Items are (index, augmentation seed) pairs; a seed of -1 means no augmentation.

    Returns (image (3, H, W), paf (2K, h, w), heat (J+1, h, w), mask (h, w)) float32 tensors.
    """

    def __init__(self, folder: str | Path, spec: ModelSpec, input_hw: tuple[int, int], rotation: float = 180.0,
                 scale: tuple[float, float] = (0.75, 1.25), flip: bool = True, depth_jitter: float = 0.02) -> None:
        self.folder = Path(folder)
        self.dataset = load_dataset(self.folder)
        if not self.dataset["images"]:
            raise DataError(f"{self.folder}: the dataset holds no images")
        self.images = self.dataset["images"]
        self.people = people_by_image(self.dataset)
        self.spec, self.input_hw = spec, input_hw
        self.rotation, self.scale, self.flip, self.depth_jitter = rotation, scale, flip, depth_jitter

    def __len__(self) -> int:
        return len(self.images)

    def load(self, i: int, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """-> (H, W, 3) uint8 input image, (P, 18, 3) keypoints, ignore mask or None."""
        entry = self.images[i]
        raw = read_image(self.folder, entry)
        if raw.ndim == 2 and raw.dtype == np.uint16:
            depth = depth_from_png(raw)
            if rng is not None and self.depth_jitter:
                depth *= 1.0 + rng.uniform(-self.depth_jitter, self.depth_jitter)
            image = encode_depth(depth, self.spec.encoding)
        else:
            image = raw if raw.ndim == 3 else cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
            if rng is not None:
                image = cv2.convertScaleAbs(image, alpha=rng.uniform(0.8, 1.2), beta=rng.uniform(-20, 20))
        people = self.people.get(entry["id"], np.zeros((0, NUM_OPENPOSE, 3), np.float32)).copy()
        return image, people, read_ignore(self.folder, entry)

    def __getitem__(self, item):
        i, seed = item
        if seed < 0:
            return self.fitted(i)[0]
        rng = np.random.default_rng(seed)
        return self._tensors(*self._augment(*self.load(i, rng), rng))

    def fitted(self, i: int) -> tuple[tuple[torch.Tensor, ...], float]:
        """Image ``i`` letterboxed into the input size, unaugmented: (the four tensors, scale)."""
        image, people, ignore = self.load(i, None)
        box = plan_letterbox(image.shape[:2], self.spec.stride, self.input_hw)
        people[..., :2] *= box.scale
        if ignore is not None:
            ignore = letterbox_image(ignore.astype(np.uint8), box) == 1
        return self._tensors(letterbox_image(image, box), people, ignore), box.scale

    def _tensors(self, image, people, ignore) -> tuple[torch.Tensor, ...]:
        paf, heat, mask = encode(people, self.input_hw, self.spec.skeleton, self.spec.stride, ignore)
        x = normalize(image, self.spec.preprocess)
        return tuple(torch.from_numpy(a) for a in (x, paf, heat, mask))

    def _augment(self, image, people, ignore, rng):
        H, W = self.input_hw
        m, flip = draw_affine(rng, people, image.shape[:2], self.input_hw, self.scale, self.rotation, self.flip)
        border = 0 if self.spec.encoding.kind == "depth" else PAD_VALUE
        out = cv2.warpAffine(image, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=(border,) * 3)
        if ignore is not None:
            ignore = cv2.warpAffine(ignore.astype(np.uint8), m, (W, H), flags=cv2.INTER_NEAREST) > 0
        people = transform_people(people, m, self.input_hw)
        if flip:
            out = np.ascontiguousarray(out[:, ::-1])
            if ignore is not None:
                ignore = np.ascontiguousarray(ignore[:, ::-1])
            people[..., 0] = W - 1 - people[..., 0]
            people = people[:, list(self.spec.skeleton.flip)]
        return out, people, ignore


def draw_affine(rng: np.random.Generator, people: np.ndarray, src_hw: tuple[int, int], input_hw: tuple[int, int],
                scale: tuple[float, float], rotation: float, flip: bool) -> tuple[np.ndarray, bool]:
    """One crop's random scale, rotation and centre -> ((2, 3) source -> input pixel matrix, flip).

    Shared by the CPU loader and the batched torch augmentation, so a seed means the same crop.
    """
    h, w = src_hw
    H, W = input_hw
    s = min(H / h, W / w) * rng.uniform(*scale)
    angle = rng.uniform(-rotation, rotation)
    labelled = people[..., 2] > 0
    if labelled.any() and rng.random() < 0.7:
        p = rng.choice(np.nonzero(labelled.any(1))[0])
        centre = people[p, labelled[p], :2].mean(0)
    else:
        centre = np.array([w / 2, h / 2])
    centre = centre + rng.uniform(-40, 40, 2) / s
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, s)
    m[:, 2] += np.array([W / 2, H / 2]) - centre
    return m, bool(flip and rng.random() < 0.5)


def transform_people(people: np.ndarray, m: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
    """(P, J, 3) keypoints through the (2, 3) matrix; those leaving the input get v = 0."""
    H, W = input_hw
    xy = people[..., :2] @ m[:, :2].T + m[:, 2]
    people = np.concatenate([xy, people[..., 2:]], axis=-1).astype(np.float32)
    outside = (xy[..., 0] < 0) | (xy[..., 0] > W - 1) | (xy[..., 1] < 0) | (xy[..., 1] > H - 1)
    people[outside, 2] = 0
    return people


class MixedSampler(Sampler):
    """Per epoch, ``epoch_size`` samples drawn from several datasets by weight, sharded by rank.

    Deterministic in (seed, epoch): a resumed run sees the same samples and augmentations.
    Yields (global index, augmentation seed) pairs for a ConcatDataset of the datasets.
    """

    def __init__(self, sizes: list[int], weights: list[float], epoch_size: int, seed: int = 0,
                 rank: int = 0, world: int = 1) -> None:
        self.sizes, self.weights = sizes, np.asarray(weights, np.float64) / np.sum(weights)
        self.epoch_size, self.seed, self.rank, self.world = epoch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def plan(self) -> list[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        counts = np.floor(self.weights * self.epoch_size).astype(int)
        counts[np.argmax(self.weights)] += self.epoch_size - counts.sum()
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        picks = []
        for size, count, off in zip(self.sizes, counts, offsets):
            reps = -(-count // size)
            picks.append(off + np.concatenate([rng.permutation(size) for _ in range(reps)])[:count])
        order = rng.permutation(np.concatenate(picks)) if picks else np.zeros(0, int)
        seeds = rng.integers(0, 2**31 - 1, len(order))
        usable = len(order) - len(order) % self.world
        return [(int(i), int(s)) for i, s in zip(order[:usable], seeds[:usable])][self.rank::self.world]

    def __iter__(self):
        return iter(self.plan())

    def __len__(self) -> int:
        return (self.epoch_size - self.epoch_size % self.world) // self.world


class IndexedConcat(Dataset):
    """ConcatDataset for (global index, seed) items."""

    def __init__(self, datasets: list[PoseDataset]) -> None:
        self.datasets = datasets
        self.offsets = np.cumsum([0] + [len(d) for d in datasets])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item):
        i, seed = item
        d = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.datasets[d][(i - int(self.offsets[d]), seed)]


def data_provenance(cfg: TrainConfig, datasets: list[PoseDataset]) -> dict:
    """Each training and validation folder as its writer described it (recipe, not path)."""
    def entry(folder: str, info: dict, images: int, weight: float | None = None) -> dict:
        return {"name": Path(folder).name, **({} if weight is None else {"weight": weight}), "images": images,
                "recipe": info}
    val = [(folder, load_dataset(folder)) for folder in cfg.val]
    return {"data": [entry(d, ds.dataset.get("info", {}), len(ds), w) for (d, w), ds in zip(cfg.data, datasets)],
            "val": [entry(folder, v.get("info", {}), len(v["images"])) for folder, v in val]}
