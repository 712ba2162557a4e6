"""Person assembly: tree parity with the textbook, graph assembly for topview23."""

import sys
from pathlib import Path

import numpy as np
import pytest

from toppose.codec import assembly
from toppose.codec.config import DecoderConfig
from toppose.codec.decoder import PoseDecoder
from toppose.codec.reference import assemble, assemble_graph
from toppose.skeleton import OPENPOSE18, TOPVIEW

sys.path.insert(0, str(Path(__file__).parent))
from gt_maps import person, render  # noqa: E402


def _random_connections(rng, skeleton, counts):
    """Per limb a one-to-one (n, 5) connection set over ``counts`` peaks per keypoint."""
    offsets = np.concatenate([[0], np.cumsum(counts[:-1])])
    conns = []
    for a, b in skeleton.limbs:
        n = int(rng.integers(0, min(counts[a], counts[b]) + 1))
        ia, ib = rng.permutation(counts[a])[:n], rng.permutation(counts[b])[:n]
        score = np.sort(rng.uniform(0.1, 1.0, n))[::-1]
        conns.append(np.column_stack([offsets[a] + ia, offsets[b] + ib, score, ia, ib]).astype(float).reshape(-1, 5))
    return conns, offsets


def _kernel_inputs(conns, skeleton):
    K, Q = len(conns), 8
    arr, n = np.zeros((K, Q, 3)), np.zeros(K, np.int64)
    for k, c in enumerate(conns):
        arr[k, :len(c)] = c[:, [3, 4, 2]]
        n[k] = len(c)
    return arr, n


@pytest.mark.parametrize("skeleton", [OPENPOSE18, TOPVIEW])
def test_kernel_assembly_equals_the_numpy_reference(rng, skeleton):
    cfg = DecoderConfig(min_parts=2, min_mean_score=0.0)
    for _ in range(20):
        counts = rng.integers(1, 5, skeleton.num_keypoints)
        conns, offsets = _random_connections(rng, skeleton, counts)
        scores = rng.uniform(0.1, 1.0, counts.sum())
        kinds = np.repeat(np.arange(skeleton.num_keypoints), counts)
        arr, n = _kernel_inputs(conns, skeleton)
        subset = np.zeros((counts.sum() + 1, skeleton.num_keypoints + 2))
        limbs, red = skeleton.limb_array(), skeleton.redundant_array()
        if assembly.is_tree(skeleton):
            ref = assemble(conns, np.column_stack([np.zeros((len(scores), 2)), scores]), skeleton, cfg)
            got = assembly.assemble_tree(arr, n, limbs, red, offsets.astype(np.int64), scores, 2, 0.0, subset)
        else:
            ref = assemble_graph(conns, scores, kinds, skeleton, cfg)
            edges, owner = np.zeros((len(limbs) * 8, 4)), np.zeros(counts.sum(), np.int64)
            e = assembly.graph_edges(arr, n, limbs, red, offsets.astype(np.int64), edges)
            got = assembly.assemble_graph(edges, e, kinds, scores, 2, 0.0, owner, subset)
        J = skeleton.num_keypoints  # same people and parts; scores summed in another order
        np.testing.assert_array_equal(subset[:got, :J], ref[:, :J])
        np.testing.assert_array_equal(subset[:got, J + 1], ref[:, J + 1])
        np.testing.assert_allclose(subset[:got, J], ref[:, J], rtol=1e-14)


def test_the_standard_skeleton_is_a_tree_and_topview23_is_not():
    assert assembly.is_tree(OPENPOSE18) and not assembly.is_tree(TOPVIEW)
    assert not PoseDecoder(OPENPOSE18).graph and PoseDecoder(TOPVIEW).graph


def test_a_conflict_is_resolved_by_score():
    """Two necks compete for one person through two shoulder limbs: the stronger wins."""
    # global ids: neck 0, 1; right shoulder 2; left shoulder 3; limbs (1,2) and (1,5)
    conns = [np.zeros((0, 5))] * len(TOPVIEW.limbs)
    conns = list(conns)
    conns[0] = np.array([[0, 2, 0.9, 0, 0]])   # neck 0 - right shoulder
    conns[1] = np.array([[1, 3, 0.5, 1, 0]])   # neck 1 - left shoulder
    conns[22] = np.array([[2, 3, 0.7, 0, 0]])  # right shoulder - left shoulder joins them
    kinds = np.array([1, 1, 2, 5])
    cfg = DecoderConfig(min_parts=1, min_mean_score=0.0)
    people = assemble_graph(conns, np.ones(4), kinds, TOPVIEW, cfg)
    assert len(people) == 1 and people[0][[1, 2, 5]].tolist() == [0, 2, 3]  # neck 1 would be a second neck
    assert people[0][-2:].tolist() == [3 + 0.9 + 0.7, 3]
    counts = np.zeros(18, np.int64)
    counts[[1, 2, 5]] = 2, 1, 1
    arr, n = _kernel_inputs(conns, TOPVIEW)
    offsets = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(np.int64)
    edges, owner, subset = np.zeros((23 * 8, 4)), np.zeros(4, np.int64), np.zeros((5, 20))
    e = assembly.graph_edges(arr, n, TOPVIEW.limb_array(), TOPVIEW.redundant_array(), offsets, edges)
    assert assembly.assemble_graph(edges, e, kinds, np.ones(4), 1, 0.0, owner, subset) == 1
    np.testing.assert_array_equal(subset[:1], people)


@pytest.mark.parametrize("method", ["reference", "fine", "sparse"])
def test_topview23_keeps_a_person_whose_neck_is_outside_whole(method):
    """Head, neck and shoulders above the top edge: the legs hang off the neck in the
    standard skeleton (two people), the hip-hip limb keeps them one in topview23; piece
    merging (on by default) makes them one in both."""
    rng, hw, legs = np.random.default_rng(21), (240, 320), [8, 9, 10, 11, 12, 13]
    people = {}
    for skeleton in (OPENPOSE18, TOPVIEW):
        limbs = list(zip(skeleton.limbs, skeleton.paf_channels))
        for merge in (False, True):
            people[skeleton.name, merge] = []
        for seed, angle in enumerate((-0.4, -0.1, 0.2, 0.5)):
            p = person(np.random.default_rng(seed), (160, 120), 130, angle)
            p[:, 1] += -40 - p[1, 1]   # neck 40 px above the top edge
            paf, heat = render(p[None], hw, limbs, noise=0.01, rng=rng)
            for merge in (False, True):
                decoder = PoseDecoder(skeleton, config=DecoderConfig(merge=merge), method=method)
                people[skeleton.name, merge].append(decoder(paf, heat))
    for found in (people["topview23", False], people["topview23", True], people["openpose18", True]):
        assert all(len(poses) == 1 and (poses.keypoints[0, legs, 2] > 0).all() for poses in found)
    assert not any((k[[8, 11], 2] > 0).all() for poses in people["openpose18", False] for k in poses.keypoints)
