"""The bundled model: what it is (checkpoint, size, compute) and its AP on held-out rendered sets.

The sets are those scripts/gpu_train.sh and scripts/train_mix.sh render for testing (seeds no
training run uses): today's recipe (generic sensor, straight down, ITOP's camera) and issue 13's
(d435 sensor, furniture among people, camera 2.4-3.5 m high, tilted 0-20 degrees, 58-90 degree
field of view). Each is scored with ``toppose-eval`` for the checkpoint (PyTorch), the bundled int8 ONNX file,
and ground-truth maps (``--oracle``: the decoder's ceiling).
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks.conftest import ROOT, file_id, record
from toppose.data.format import load_dataset
from toppose.train.eval_cli import app as eval_app

CHECKPOINT = ROOT / "models" / "toppose-lite.pth"
BUNDLED = ROOT / "runtime" / "models" / "toppose-lite.onnx"
MIN_KEYPOINTS = 3  # people counted as seen (as the decoder's min_parts)
MOUNT = {"sensor": "d435", "clutter": 2, "height": [2.4, 3.5], "tilt": [0, 20], "fov": [58, 90]}
SETS = {  # name -> toppose-data synth recipe (as in scripts/gpu_train.sh and scripts/train_mix.sh)
    "top_full": {"view": "top", "people": [1, 4], "fully_in_view": True, "frames": 300, "seed": 201},
    "top_any": {"view": "top", "people": [1, 4], "fully_in_view": False, "frames": 300, "seed": 202},
    "side": {"view": "side", "people": [1, 3], "fully_in_view": True, "frames": 300, "seed": 203},
    "top_full_d435": {"view": "top", "people": [1, 4], "fully_in_view": True, "frames": 300, "seed": 501,
                      "scene": MOUNT},
    "top_any_d435": {"view": "top", "people": [1, 4], "fully_in_view": False, "frames": 300, "seed": 502,
                     "scene": MOUNT},
    "side_d435": {"view": "side", "people": [1, 3], "fully_in_view": True, "frames": 300, "seed": 503,
                  "scene": {"sensor": "d435", "clutter": 2}},
}
TARGETS = {"top_full_d435": 0.80, "side_d435": 0.75}  # issue 13: AP of the int8 bundled model
ANY_SHARE = 0.8  # issue 13: top view, people anywhere: AP >= 0.8 x the decoder ceiling
INT8_GAP = 0.02  # issue 13: int8 within 0.02 AP of fp32


SMOKE_FRAMES = 8  # per set under --benchmark-disable: the code runs, the figures mean nothing


@pytest.fixture(scope="module")
def test_sets(tmp_path_factory, timing):
    from toppose.synth.scenes import SceneOptions
    from toppose.synth.writers import write_training
    root = tmp_path_factory.mktemp("accuracy_sets")
    for name, r in SETS.items():
        scene = {k: tuple(v) if isinstance(v, list) else v for k, v in r.get("scene", {}).items()}
        write_training(root / name, r["view"], r["frames"] if timing else SMOKE_FRAMES, seed=r["seed"],
                       people=tuple(r["people"]), fully_in_view=r["fully_in_view"], workers=2,
                       options=SceneOptions(**scene))
    return root


def _eval(tmp_path, *args) -> dict:
    out = tmp_path / "eval.json"
    res = CliRunner().invoke(eval_app, [*args, "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())["stats"]


def test_bundled_model_facts(results):
    from toppose.networks.flops import count_flops
    from toppose.weights import load_weights
    loaded = load_weights(CHECKPOINT)
    hw = tuple(loaded.provenance.get("input_size", (240, 320)))
    record(results, "bundled_model", "checkpoint", file_id(CHECKPOINT))
    record(results, "bundled_model", "onnx", file_id(BUNDLED))
    record(results, "bundled_model", "arch", loaded.spec.arch)
    record(results, "bundled_model", "parameters_m", round(sum(p.numel() for p in loaded.model.parameters()) / 1e6, 2))
    record(results, "bundled_model", "input_hw", list(hw))
    record(results, "bundled_model", "stride", loaded.spec.stride)
    record(results, "bundled_model", "paf_channels", loaded.spec.skeleton.num_pafs)
    record(results, "bundled_model", "heatmap_channels", loaded.spec.skeleton.num_heatmaps)
    record(results, "bundled_model", "gflops", round(count_flops(loaded.model, hw) / 1e9, 1))
    record(results, "bundled_model", "onnx_mb", round(BUNDLED.stat().st_size / 1e6, 1))
    record(results, "bundled_model", "provenance", loaded.provenance)
    assert loaded.spec.encoding.kind == "depth"


@pytest.mark.parametrize("name", list(SETS))
def test_bundled_model_ap(results, timing, test_sets, tmp_path, name):
    data = str(test_sets / name)
    row = {"set": SETS[name]}
    for model, args in (("checkpoint", ["--weights", str(CHECKPOINT)]), ("int8", ["--model", str(BUNDLED)]),
                        ("oracle", ["--oracle"])):
        stats = _eval(tmp_path, "--data", data, *args)
        row[model] = {k: round(stats[k], 3) for k in ("AP", "AP50", "AP75")}
    record(results, "bundled_ap", name, row)
    assert all(0 <= r["AP"] <= 1 for r in row.values() if "AP" in r)
    if timing:  # on full sets only: a handful of frames says nothing
        assert row["oracle"]["AP"] >= row["checkpoint"]["AP"] - 0.05  # the ceiling is a ceiling
        assert abs(row["int8"]["AP"] - row["checkpoint"]["AP"]) <= 0.05


def test_sensor_targets(results, timing):
    """Issue 13's targets on the d435 sets, from the rows just measured (int8 file against the checkpoint)."""
    rows = results.get("bundled_ap", {})
    if not all(name in rows for name in (*TARGETS, "top_any_d435")):
        pytest.skip("needs the d435 rows of test_bundled_model_ap (run the whole file)")
    int8 = {name: rows[name]["int8"]["AP"] for name in rows}
    met = {f"{name}: int8 AP >= {t}": int8[name] >= t for name, t in TARGETS.items()}
    any_row = rows["top_any_d435"]
    met[f"top_any_d435: int8 AP >= {ANY_SHARE} x ceiling"] = int8["top_any_d435"] >= ANY_SHARE * any_row["oracle"]["AP"]
    gaps = {name: round(abs(rows[name]["int8"]["AP"] - rows[name]["checkpoint"]["AP"]), 3) for name in rows}
    met[f"int8 within {INT8_GAP} AP of fp32 on every set"] = max(gaps.values()) <= INT8_GAP
    record(results, "sensor_targets", "int8_minus_fp32_gap", gaps)
    record(results, "sensor_targets", "any_ceiling_share", round(int8["top_any_d435"] / any_row["oracle"]["AP"], 3)
           if any_row["oracle"]["AP"] else None)
    record(results, "sensor_targets", "met", met)
    assert all(isinstance(v, bool) for v in met.values())


def test_people_cut_by_the_border(results, timing, test_sets, tmp_path):
    """The anywhere set: how many people lose their neck to the border, and the decoder's ceiling
    per skeleton (standard evaluation and ignoring people with fewer than MIN_KEYPOINTS labelled
    keypoints), with piece merging (the default decoder) and without."""
    from toppose.codec.config import DecoderConfig
    from toppose.skeleton import get_skeleton
    from toppose.train.predict import oracle_folder

    data = test_sets / "top_any"
    dataset = load_dataset(data)
    kp = np.array([a["keypoints"] for a in dataset["annotations"]], np.float32).reshape(-1, 18, 3)
    seen = kp[(kp[..., 2] > 0).sum(1) >= MIN_KEYPOINTS]
    record(results, "border", "set", SETS["top_any"])
    record(results, "border", "min_keypoints", MIN_KEYPOINTS)
    record(results, "border", "people_3plus_keypoints", int(len(seen)))
    record(results, "border", "neck_outside_frame", int((seen[:, 1, 2] == 0).sum()))
    for skeleton in ("openpose18", "topview23"):
        out = tmp_path / f"{skeleton}.json"
        res = CliRunner().invoke(eval_app, ["--data", str(data), "--oracle", "--skeleton", skeleton,
                                            "--min-keypoints", str(MIN_KEYPOINTS), "--out", str(out)])
        assert res.exit_code == 0, res.output
        merged = json.loads(out.read_text())
        apart = oracle_folder(data, get_skeleton(skeleton), min_keypoints=MIN_KEYPOINTS,
                              config=DecoderConfig(merge=False))
        for key, with_merge, without in (("oracle_ap", merged["stats"], apart.stats),
                                         ("oracle_ap_min_keypoints", merged["stats_min_keypoints"],
                                          apart.stats_min_keypoints)):
            record(results, "border", f"{key}_{skeleton}", round(with_merge["AP"], 3))
            record(results, "border", f"{key}_{skeleton}_without_merge", round(without["AP"], 3))
            if timing:  # merging pieces of one body must not lower the ceiling
                assert with_merge["AP"] >= without["AP"]
