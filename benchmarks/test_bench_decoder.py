"""Decode time per frame (warm) for 1, 5 and 20 people at 240x320 and 368x368, per decoder,
with the standard skeleton and with topview23 (graph assembly) on the same people."""

import time

import numpy as np
import pytest

from benchmarks.conftest import median_ms, record
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
    record(results, "decoder_people_found", key, f"{len(poses)}/{count}")
    if not benchmark.disabled:  # --benchmark-disable: run once, no stats
        record(results, "decoder_ms", key, round(benchmark.stats.stats.median * 1000, 4))


def test_decoder_targets(results, timing):
    """Measured here, in one test: fine >= 20x the reference everywhere; sparse fast and lossless;
    what the graph assembly of topview23 costs over the standard skeleton."""
    speedups, graph_cost = {}, {"fine": [], "sparse": []}
    for count in (1, 5, 20):
        for hw in ((240, 320), (368, 368)):
            paf, heat, _ = _maps(count, hw)
            ms = {m: median_ms(lambda d=PoseDecoder(method=m).warmup(): d(paf, heat),
                               3 if m == "reference" else 50, timing=timing) for m in ("reference", "fine", "sparse")}
            found = len(PoseDecoder(method="sparse")(paf, heat))
            assert found == count, f"sparse found {found} of {count} people at {hw}"
            speedups[(count, hw)] = ms["reference"] / ms["fine"]
            if (count, hw) == (5, (240, 320)):
                record(results, "decoder_targets", "sparse_5p_240x320_ms", round(ms["sparse"], 4))
                sparse_5p = ms["sparse"]
            tpaf, theat, _ = _maps(count, hw, TOPVIEW)
            for m in graph_cost:
                t = median_ms(lambda d=PoseDecoder(TOPVIEW, method=m).warmup(): d(tpaf, theat), 50, timing=timing)
                graph_cost[m].append(t / ms[m])
    record(results, "decoder_targets", "fine_min_speedup_vs_reference", round(min(speedups.values()), 1))
    for m, ratios in graph_cost.items():
        record(results, "decoder_targets", f"{m}_topview23_vs_standard_max_ratio", round(max(ratios), 2))
    if timing:
        assert sparse_5p <= 0.3
        assert min(speedups.values()) >= 20


def test_merge_cost(results, timing):
    """What piece merging (``DecoderConfig.merge``, on by default) costs: decode time with it over
    decode time without, same maps, same run; the largest ratio over 1, 5, 20 people and both sizes."""
    from toppose.codec.config import DecoderConfig

    for skeleton in (OPENPOSE18, TOPVIEW):
        ratios = {"fine": [], "sparse": []}
        for count in (1, 5, 20):
            for hw in ((240, 320), (368, 368)):
                paf, heat, _ = _maps(count, hw, skeleton)
                for m, r in ratios.items():
                    on, off = (PoseDecoder(skeleton, method=m, config=DecoderConfig(merge=merge)).warmup()
                               for merge in (True, False))
                    assert len(on(paf, heat)) == len(off(paf, heat)) == count  # whole people stay whole
                    if timing:
                        r.append(_alternating_ratio(on, off, paf, heat))
        if not timing:
            continue
        for m, r in ratios.items():
            record(results, "decoder_targets", f"{m}_{skeleton.name}_merge_vs_without_max_ratio", round(max(r), 2))


def _alternating_ratio(a, b, paf, heat, rounds: int = 60) -> float:
    """Median time of decoder a over median time of b, calls taking turns (drift cancels)."""
    times = {a: [], b: []}
    for _ in range(rounds):
        for d in (a, b):
            t = time.perf_counter()
            d(paf, heat)
            times[d].append(time.perf_counter() - t)
    return float(np.median(times[a]) / np.median(times[b]))
