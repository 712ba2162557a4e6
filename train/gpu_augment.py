"""Training batches built on the training device: cached frames, batched augmentation and targets.

Frames of a training folder are decoded once into a (N, H, W) uint16 millimetre tensor on
the device. Each batch then draws its crops with the CPU loader's own random draws
(``draw_affine``: the same seed gives the same crop), and warps, adds sensor noise, encodes
depth and builds heatmaps, PAFs and masks as batched torch operations -- on CUDA when
training there, on CPU tensors otherwise (the same code either way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from toppose.data.format import DataError, read_ignore, read_image
from toppose.preprocess import value_table
from toppose.skeleton import NUM_OPENPOSE
from toppose.synth.render import GENERIC_NOISE
from toppose.train import gpu_targets
from toppose.train.dataset import MixedSampler, PoseDataset, draw_affine


@dataclass(frozen=True)
class SensorNoise:
    """On-the-fly sensor noise per crop: with probability ``p``, Gaussian noise of
    ``scale`` x the generic sensor's sigma (0.0012 + 0.0019 (z - 0.4)^2 m, scale drawn in [0, 1])
    and up to ``max_dropout`` of the readings set to 0."""

    p: float = 0.5
    max_dropout: float = 0.01


class FrameCache:
    """One training folder in memory on ``device``: depth (N, H, W) uint16 mm, people (N, Pmax, J, 3),
    ignore (N, H, W) bool or None."""

    def __init__(self, dataset: PoseDataset, device: torch.device) -> None:
        enc = dataset.spec.encoding
        if enc.kind != "depth" or enc.colormap != "grey":
            raise ValueError("--gpu-augment needs a depth model with grey encoding")
        frames, ignores = [], []
        for entry in dataset.images:
            raw = read_image(dataset.folder, entry)
            if raw.ndim != 2 or raw.dtype != np.uint16:
                raise DataError(f"{dataset.folder / entry['file_name']}: --gpu-augment needs 16-bit depth PNGs")
            if frames and raw.shape != frames[0].shape:
                raise DataError(f"{dataset.folder / entry['file_name']}: --gpu-augment needs frames of one size, "
                                f"got {raw.shape} after {frames[0].shape}")
            frames.append(raw)
            ignores.append(read_ignore(dataset.folder, entry))
        people = [dataset.people.get(e["id"], np.zeros((0, NUM_OPENPOSE, 3), np.float32)) for e in dataset.images]
        pmax = max(1, max(len(p) for p in people))
        padded = np.zeros((len(people), pmax, NUM_OPENPOSE, 3), np.float32)
        for i, p in enumerate(people):
            padded[i, :len(p)] = p
        self.people_np = padded
        self.depth = torch.from_numpy(np.stack(frames).astype(np.int32)).to(device)
        self.people = torch.from_numpy(padded).to(device)
        self.ignore = None
        if any(m is not None for m in ignores):
            full = [m if m is not None else np.zeros(frames[0].shape, bool) for m in ignores]
            self.ignore = torch.from_numpy(np.stack(full)).to(device)

    def __len__(self) -> int:
        return self.depth.shape[0]


def _sample_grid(m: np.ndarray, src_hw: tuple[int, int], out_hw: tuple[int, int], device) -> torch.Tensor:
    """(B, 2, 3) source -> output pixel matrices -> (B, H, W, 2) grid_sample coordinates
    (align_corners=True: -1 and 1 are the centres of the first and last source pixels)."""
    full = np.concatenate([m, np.tile([[[0.0, 0.0, 1.0]]], (len(m), 1, 1))], axis=1)
    inv = torch.as_tensor(np.linalg.inv(full)[:, :2], dtype=torch.float32, device=device)
    H, W = out_hw
    ys, xs = torch.meshgrid(torch.arange(H, device=device, dtype=torch.float32),
                            torch.arange(W, device=device, dtype=torch.float32), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, H * W, 3)
    src = pts @ inv.transpose(1, 2)                                                # (B, H*W, 2)
    scale = torch.tensor([2.0 / (src_hw[1] - 1), 2.0 / (src_hw[0] - 1)], device=device)
    return (src * scale - 1.0).view(len(m), H, W, 2)


class GpuAugment:
    """Batched crops of one ``FrameCache``; ``noise`` None switches on-the-fly sensor noise off."""

    def __init__(self, dataset: PoseDataset, cache: FrameCache, noise: SensorNoise | None = SensorNoise()) -> None:
        self.ds, self.cache, self.noise = dataset, cache, noise
        spec = dataset.spec
        table = value_table(spec.preprocess)  # grey input: every source channel is the same
        # both conventions are affine in the grey level: x_c = level * gain_c + offset_c
        self.gain = torch.as_tensor(table[:, 1] - table[:, 0], device=cache.depth.device).view(1, 3, 1, 1)
        self.offset = torch.as_tensor(table[:, 0], device=cache.depth.device).view(1, 3, 1, 1)
        self.flip_order = list(spec.skeleton.flip)

    def draws(self, index: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per crop, the CPU loader's draws: depth jitter (B,), flipped (2, 3) matrices (B, 2, 3), flip (B,)."""
        ds, (H, W) = self.ds, self.ds.input_hw
        jitter, mats, flips = np.ones(len(index)), np.zeros((len(index), 2, 3)), np.zeros(len(index), bool)
        src_hw = tuple(self.cache.depth.shape[1:])
        for k, (i, seed) in enumerate(zip(index, seeds)):
            rng = np.random.default_rng(int(seed))
            if ds.depth_jitter:
                jitter[k] = 1.0 + rng.uniform(-ds.depth_jitter, ds.depth_jitter)
            m, flips[k] = draw_affine(rng, self.cache.people_np[i], src_hw, ds.input_hw, ds.scale, ds.rotation,
                                      ds.flip)
            mats[k] = np.array([[-1.0, 0, W - 1], [0, 1.0, 0]]) @ np.vstack([m, [0, 0, 1]]) if flips[k] else m
        return jitter, mats, flips

    def __call__(self, index: np.ndarray, seeds: np.ndarray):
        """(B,) frame indices and augmentation seeds -> (x (B, 3, H, W), paf, heat, mask) on the device."""
        dev, (H, W), spec = self.cache.depth.device, self.ds.input_hw, self.ds.spec
        jitter, mats, flips = self.draws(index, seeds)
        idx = torch.as_tensor(index, device=dev, dtype=torch.long)
        depth = self.cache.depth[idx].float() * 0.001 * torch.as_tensor(jitter, device=dev, dtype=torch.float32).view(-1, 1, 1)
        if self.noise is not None:
            depth = self._sensor_noise(depth, int(seeds[0]))
        enc = spec.encoding
        grey = ((enc.far_m - depth) * (255.0 / (enc.far_m - enc.near_m))).clamp(0.0, 255.0)
        grey = torch.where(depth > 0, torch.floor(grey + 0.5), torch.zeros_like(grey))
        grid = _sample_grid(mats, tuple(self.cache.depth.shape[1:]), (H, W), dev)
        warped = F.grid_sample(grey[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        x = torch.floor(warped + 0.5).clamp(0, 255) * self.gain + self.offset
        people = self._people(idx, mats, flips)
        ignore = None
        if self.cache.ignore is not None:
            ign = F.grid_sample(self.cache.ignore[idx, None].float(), grid, mode="nearest", align_corners=True)
            ignore = ign[:, 0] > 0.5
        stride = spec.stride
        return (x, gpu_targets.pafs(people, (H, W), spec.skeleton, stride),
                gpu_targets.heatmaps(people, (H, W), stride), gpu_targets.masks(ignore, len(index), (H, W), stride, dev))

    def _people(self, idx: torch.Tensor, mats: np.ndarray, flips: np.ndarray) -> torch.Tensor:
        """Keypoints through each crop's matrix, v = 0 outside the input, flip pairs swapped."""
        H, W = self.ds.input_hw
        people = self.cache.people[idx]                                                 # (B, P, J, 3)
        m = torch.as_tensor(mats, dtype=torch.float32, device=idx.device)
        xy = torch.einsum("bpjk,bik->bpji", people[..., :2], m[:, :, :2]) + m[:, None, None, :, 2]
        outside = (xy[..., 0] < 0) | (xy[..., 0] > W - 1) | (xy[..., 1] < 0) | (xy[..., 1] > H - 1)
        v = torch.where(outside, torch.zeros_like(people[..., 2]), people[..., 2])
        out = torch.cat([xy, v[..., None]], dim=-1)
        flipped = torch.as_tensor(flips, device=idx.device)
        return torch.where(flipped.view(-1, 1, 1, 1), out[:, :, self.flip_order], out)

    def _sensor_noise(self, depth: torch.Tensor, seed: int) -> torch.Tensor:
        """Noise and drop-outs on the crops drawn for it (only those are touched)."""
        gen = torch.Generator(device=depth.device).manual_seed(seed)
        dev = depth.device
        on = torch.nonzero(torch.rand(depth.shape[0], generator=gen, device=dev) < self.noise.p)[:, 0]
        if not len(on):
            return depth
        z = depth[on]
        scale, rate = torch.rand(2, len(on), 1, 1, generator=gen, device=dev)
        a, b, z0 = GENERIC_NOISE
        noisy = z + torch.randn(z.shape, generator=gen, device=dev) * (a + b * (z - z0) ** 2) * scale
        drop = torch.rand(z.shape, generator=gen, device=dev) < rate * self.noise.max_dropout
        depth = depth.clone()
        depth[on] = torch.where((z > 0) & ~drop, noisy, torch.zeros_like(z))
        return depth


class GpuBatches:
    """Drop-in for the trainer's DataLoader: iterates the sampler's (index, seed) plan in batches
    and yields (x, paf, heat, mask) already on ``device``. Batches may mix datasets."""

    def __init__(self, datasets: list[PoseDataset], sampler: MixedSampler, batch_size: int,
                 device: torch.device, noise: SensorNoise | None = SensorNoise()) -> None:
        self.augments = [GpuAugment(d, FrameCache(d, device), noise) for d in datasets]
        self.offsets = np.cumsum([0] + [len(d) for d in datasets])
        self.sampler, self.batch_size = sampler, batch_size

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self):
        plan = np.asarray(self.sampler.plan(), np.int64).reshape(-1, 2)
        for b in range(len(self)):
            chunk = plan[b * self.batch_size:(b + 1) * self.batch_size]
            which = np.searchsorted(self.offsets, chunk[:, 0], side="right") - 1
            parts = [self.augments[d](chunk[which == d, 0] - self.offsets[d], chunk[which == d, 1])
                     for d in np.unique(which)]
            yield tuple(torch.cat(t) for t in zip(*parts))
