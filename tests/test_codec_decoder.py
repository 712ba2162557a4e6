import sys
from pathlib import Path

import numpy as np
import pytest

from toppose.codec.config import DecoderConfig
from toppose.codec.decoder import PoseDecoder
from toppose.codec.encoder import encode
from toppose.evaluation import coco_stats
from toppose.skeleton import OPENPOSE18, TOPVIEW
from toppose.synth.flat import as_dataset, random_people

sys.path.insert(0, str(Path(__file__).parent))
from gt_maps import person, render  # noqa: E402


def _scenes(rng, hw, count, n=25, size=(60.0, 120.0), fixed=False):
    return [random_people(rng, count if fixed else int(rng.integers(1, count + 1)), hw, size) for _ in range(n)]


def _ap(scenes, hw, method, noise=None, rng=None, skeleton=OPENPOSE18):
    dec = PoseDecoder(skeleton, method=method)
    preds = {}
    for i, people in enumerate(scenes):
        paf, heat, _ = encode(people, hw, skeleton)
        if noise is not None:
            paf, heat = noise(paf, heat, rng)
        preds[i + 1] = dec(paf, heat)
    return coco_stats(as_dataset(scenes, hw), preds)["AP"], preds


@pytest.mark.parametrize("hw", [(240, 320), (368, 368)])
def test_oracle_clean_maps(rng, hw):
    scenes = _scenes(rng, hw, 5)
    ap_ref, _ = _ap(scenes, hw, "reference")
    ap_fine, _ = _ap(scenes, hw, "fine")
    ap_sparse, _ = _ap(scenes, hw, "sparse")
    assert ap_ref >= 0.99 and ap_fine >= 0.99
    assert ap_sparse >= ap_ref - 0.005


def _noisy(paf, heat, rng):
    heat = heat + rng.normal(0, 0.03, heat.shape).astype(np.float32)
    heat[rng.integers(0, 14), :, :] *= 0.0  # a missing keypoint channel
    return paf + rng.normal(0, 0.05, paf.shape).astype(np.float32), heat


@pytest.mark.parametrize("noise", [None, _noisy])
def test_fine_decodes_the_same_people_as_the_reference(rng, noise):
    hw = (240, 320)
    scenes = _scenes(rng, hw, 5, n=10)
    _, ref = _ap(scenes, hw, "reference", noise, np.random.default_rng(3))
    _, fast = _ap(scenes, hw, "fine", noise, np.random.default_rng(3))
    for i in ref:
        a, b = ref[i], fast[i]
        assert len(a) == len(b)
        np.testing.assert_allclose(a.keypoints[..., :2], b.keypoints[..., :2], atol=0.5)
        np.testing.assert_allclose(a.keypoints[..., 2], b.keypoints[..., 2], atol=1e-4)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_sparse_keeps_every_person_in_a_crowd(rng):
    hw = (240, 320)
    scenes = _scenes(rng, hw, 20, n=5, size=(30.0, 50.0), fixed=True)
    ap, preds = _ap(scenes, hw, "sparse")
    assert sum(len(p) for p in preds.values()) == sum(len(s) for s in scenes)
    assert ap >= 0.95


def test_extra_limb_skeleton_decodes_without_code_changes(rng):
    hw = (240, 320)
    scenes = _scenes(rng, hw, 3, n=5)
    for method in ("reference", "fine", "sparse"):
        ap, _ = _ap(scenes, hw, method, skeleton=TOPVIEW)
        assert ap >= 0.99


def test_extra_limbs_reassemble_a_person_without_neck():
    hw = (240, 320)
    person = random_people(np.random.default_rng(5), 1, hw)
    person[0, 1, 2] = 0  # neck outside the frame / unlabelled
    found = {}
    for skeleton in (OPENPOSE18, TOPVIEW):
        paf, heat, _ = encode(person, hw, skeleton)
        for merge in (False, True):
            poses = PoseDecoder(skeleton, config=DecoderConfig(merge=merge), method="sparse")(paf, heat)
            found[skeleton.name, merge] = list(poses.parts)
    assert max(found["openpose18", False], default=0) < 12  # standard limbs hang off the neck: pieces
    assert found["topview23", False] == [12]  # all but the nose, reached only through the neck
    # piece merging joins what no limb joins: the nose, and the standard skeleton's pieces
    assert found["openpose18", True] == found["topview23", True] == [13]


def test_bad_input():
    dec = PoseDecoder(method="fine")
    with pytest.raises(ValueError, match="heatmaps must be"):
        dec(np.zeros((38, 4, 4), np.float32), np.zeros((18, 4, 4), np.float32))
    with pytest.raises(ValueError, match="PAFs must be"):
        dec(np.zeros((30, 4, 4), np.float32), np.zeros((19, 4, 4), np.float32))
    heat = np.zeros((19, 4, 4), np.float32)
    heat[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dec(np.zeros((38, 4, 4), np.float32), heat)
    assert len(dec(np.zeros((38, 0, 0), np.float32), np.zeros((19, 0, 0), np.float32))) == 0
    assert len(dec(np.zeros((38, 4, 4), np.float32), np.zeros((19, 4, 4), np.float32))) == 0
    with pytest.raises(ValueError, match="unknown decoder"):
        PoseDecoder(method="fast")


def test_capacity_grows_for_many_peaks(rng):
    heat = rng.uniform(0, 1, (19, 30, 40)).astype(np.float32)
    dec = PoseDecoder(method="sparse", config=DecoderConfig())
    dec(rng.normal(size=(38, 30, 40)).astype(np.float32), heat)
    assert dec._peaks.shape[1] >= dec._counts.max()


def test_poses_conversions():
    people = random_people(np.random.default_rng(2), 2, (240, 320))
    paf, heat, _ = encode(people, (240, 320))
    poses = PoseDecoder().warmup()(paf, heat)
    coco = poses.to_coco17()
    assert coco.shape == (2, 17, 3) and set(np.unique(coco[..., 2])) <= {0.0, 1.0}
    assert coco[:, 1:5].sum() == 0  # eyes and ears unlabelled
    js = poses.openpose_json()
    assert len(js["people"]) == 2 and len(js["people"][0]["pose_keypoints_2d"]) == 54
    half = poses.scaled(0.5)
    found = poses.keypoints[..., 2] > 0
    np.testing.assert_allclose(half.keypoints[found][:, :2], poses.keypoints[found][:, :2] * 2)


def test_old_method_name_numba_still_decodes_with_a_deprecation_warning(rng):
    paf, heat, _ = encode(random_people(rng, 2, (240, 320)), (240, 320))
    with pytest.warns(DeprecationWarning, match="'numba' is deprecated.*'fine'"):
        old = PoseDecoder(method="numba")
    assert old.method == "fine"
    new = PoseDecoder(method="fine")(paf, heat)
    np.testing.assert_array_equal(old(paf, heat).keypoints, new.keypoints)


def _border_person(rng, hw):
    """One person entirely inside the frame with a keypoint within 10 px of an edge."""
    while True:
        p = person(rng, (rng.uniform(0, hw[1]), rng.uniform(0, hw[0])), rng.uniform(100, 140))
        gap = min(p[:, 0].min(), p[:, 1].min(), hw[1] - 1 - p[:, 0].max(), hw[0] - 1 - p[:, 1].max())
        if 0 <= gap <= 10:
            return p


@pytest.mark.parametrize("method", ["reference", "fine", "sparse"])
def test_single_people_at_the_border_decode_to_one_person_each(method):
    """GT-like maps from the independent renderer (tests/gt_maps.py), with noise."""
    rng, hw = np.random.default_rng(8), (240, 320)
    limbs = list(zip(OPENPOSE18.limbs, OPENPOSE18.paf_channels))
    decoder = PoseDecoder(method=method)
    counts = []
    for _ in range(25):
        paf, heat = render(_border_person(rng, hw)[None], hw, limbs, noise=0.02, rng=rng)
        counts.append(len(decoder(paf, heat)))
    assert counts == [1] * 25


@pytest.mark.parametrize("skeleton", [OPENPOSE18, TOPVIEW], ids=lambda s: s.name)
def test_decoders_merge_the_same_pieces(rng, skeleton):
    """People cut by the frame edge (parts outside unlabelled): the reference and the fine
    decoder merge the same pieces into the same people, and merging finds more parts."""
    hw = (240, 320)
    found = {}
    for i, people in enumerate(_scenes(rng, hw, 4, n=8)):
        people = people.copy()
        people[..., 0] += rng.uniform(-0.5, 0.5) * hw[1]
        people[..., 1] += rng.uniform(-0.5, 0.5) * hw[0]
        outside = (people[..., 0] < 0) | (people[..., 0] >= hw[1]) | (people[..., 1] < 0) | (people[..., 1] >= hw[0])
        people[outside] = 0.0
        paf, heat, _ = encode(people, hw, skeleton)
        for method in ("reference", "fine"):
            for merge in (False, True):
                found.setdefault((method, merge), []).append(
                    PoseDecoder(skeleton, config=DecoderConfig(merge=merge), method=method)(paf, heat))
    for a, b in zip(found["reference", True], found["fine", True]):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.keypoints[..., :2], b.keypoints[..., :2], atol=0.5)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    parts = {key: sum(int(p.parts.sum()) for p in poses) for key, poses in found.items()}
    assert parts["fine", True] > parts["fine", False]
