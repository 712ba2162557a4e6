"""Decode time per frame (warm) for 1, 5 and 20 people at 240x320 and 368x368, per decoder,
with the standard skeleton and with topview23 (graph assembly) on the same people."""

import numpy as np
import pytest

from benchmarks.conftest import record
from toppose.codec.decoder import PoseDecoder
from toppose.codec.encoder import encode
from toppose.skeleton import OPENPOSE18, TOPVIEW
from toppose.synth.flat import random_people

SIZES = {1: (70.0, 120.0), 5: (50.0, 90.0), 20: (30.0, 50.0)}


def _maps(count, hw, skeleton=OPENPOSE18, seed=0):
    people = random_people(np.random.default_rng(seed), count, hw, SIZES[count])
    assert len(people) == count
    paf, heat, _ = encode(people, hw, skeleton)
    return paf, heat, people


@pytest.mark.parametrize("skeleton", [OPENPOSE18, TOPVIEW], ids=lambda s: s.name)
@pytest.mark.parametrize("method", ["reference", "fine", "sparse"])
@pytest.mark.parametrize("hw", [(240, 320), (368, 368)])
@pytest.mark.parametrize("count", [1, 5, 20])
def test_decode_time(benchmark, results, method, hw, count, skeleton):
    paf, heat, people = _maps(count, hw, skeleton)
    decoder = PoseDecoder(skeleton, method=method).warmup()
    poses = benchmark.pedantic(decoder, args=(paf, heat), rounds=5 if method == "reference" else 200,
                               warmup_rounds=1, iterations=1)
    key = f"{method}_{count}p_{hw[0]}x{hw[1]}" + ("" if skeleton is OPENPOSE18 else f"_{skeleton.name}")
    record(results, "decoder_ms", key, round(benchmark.stats.stats.median * 1000, 4))
    record(results, "decoder_people_found", key, f"{len(poses)}/{count}")


def test_decoder_targets(results):
    ms = results["decoder_ms"]
    cases = [f"{c}p_{h}" for c in (1, 5, 20) for h in ("240x320", "368x368")]
    speedup = min(ms[f"reference_{c}"] / ms[f"fine_{c}"] for c in cases)
    record(results, "decoder_targets", "fine_min_speedup_vs_reference", round(speedup, 1))
    record(results, "decoder_targets", "sparse_5p_240x320_ms", ms["sparse_5p_240x320"])
    for method in ("fine", "sparse"):  # what the graph assembly of topview23 costs, same run
        record(results, "decoder_targets", f"{method}_topview23_vs_standard_max_ratio",
               round(max(ms[f"{method}_{c}_topview23"] / ms[f"{method}_{c}"] for c in cases), 2))
    found = results["decoder_people_found"]
    assert found["sparse_20p_240x320"] == "20/20" and found["sparse_20p_368x368"] == "20/20"
    assert found["sparse_20p_240x320_topview23"] == "20/20"
    assert ms["sparse_5p_240x320"] <= 0.3
    assert speedup >= 20
