import numpy as np
import pytest
import torch

from toppose.codec.encoder import encode_heatmaps, encode_mask, encode_pafs
from toppose.skeleton import get_skeleton
from toppose.synth.flat import random_people
from toppose.train import gpu_targets

HW = (240, 320)


def _batch(seed: int, counts=(0, 1, 3, 6)) -> np.ndarray:
    """(B, P, 18, 3) people, padded with v = 0, some keypoints occluded (v = 1) or unlabelled (v = 0)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(counts), max(counts), 18, 3), np.float32)
    for b, c in enumerate(counts):
        people = random_people(rng, c, HW, (40.0, 110.0)) if c else np.zeros((0, 18, 3), np.float32)
        people[..., :2] += rng.uniform(-30, 30, (len(people), 1, 2))  # some leave the frame
        people[..., 2] = np.where(rng.random(people.shape[:2]) < 0.15, rng.integers(0, 2, people.shape[:2]), people[..., 2])
        out[b, :len(people)] = people
    return out


@pytest.mark.parametrize("skeleton", ["openpose18", "topview23"])
@pytest.mark.parametrize("stride", [8, 4])
def test_torch_targets_match_the_numpy_encoder(skeleton, stride):
    sk = get_skeleton(skeleton)
    people = _batch(stride)
    heat = gpu_targets.heatmaps(torch.from_numpy(people), HW, stride)
    paf = gpu_targets.pafs(torch.from_numpy(people), HW, sk, stride)
    assert heat.shape == (len(people), 19, HW[0] // stride, HW[1] // stride)
    for b in range(len(people)):
        ref_heat = encode_heatmaps(people[b], HW, sk, stride)
        ref_paf = encode_pafs(people[b], HW, sk, stride)
        assert np.abs(heat[b].numpy() - ref_heat).max() < 1e-5
        assert np.abs(paf[b].numpy() - ref_paf).max() < 1e-5
    assert np.abs(paf.numpy()).max() > 0.9 and heat[:, :18].max() > 0.9


def test_torch_masks_match_the_numpy_encoder():
    rng = np.random.default_rng(0)
    ignore = np.zeros((3, *HW), bool)
    for b in range(3):
        y, x = rng.integers(0, 200), rng.integers(0, 280)
        ignore[b, y:y + rng.integers(5, 60), x:x + rng.integers(5, 60)] = True
    got = gpu_targets.masks(torch.from_numpy(ignore), 3, HW, 8)
    for b in range(3):
        assert np.abs(got[b].numpy() - encode_mask(ignore[b], HW, 8)).max() < 1e-6
    assert torch.equal(gpu_targets.masks(None, 2, HW, 8), torch.ones(2, 30, 40))
