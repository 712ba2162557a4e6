"""onnxruntime vs PyTorch eager on CPU, fp32 vs int8, and AP parity of the exports (one run)."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from benchmarks.conftest import HELDOUT, ROOT, file_id, median_ms, record
from toppose.export.onnx_export import ExportOptions, export_onnx
from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.runtime.session import PoseSession
from toppose.train.predict import evaluate_folder, torch_infer
from toppose.weights import load_weights

ROUNDS = {"lite": 20, "openpose": 3}


@pytest.mark.parametrize("arch", ["lite", "openpose"])
def test_onnxruntime_vs_pytorch_cpu(results, timing, arch, tmp_path):
    spec = ModelSpec(arch=arch)
    model = build_network(spec).eval()
    export_onnx(model, spec, {}, tmp_path / "m.onnx", ExportOptions(240, 320))
    x = np.random.default_rng(0).normal(size=(1, 3, 240, 320)).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    xt = torch.from_numpy(x)
    with torch.no_grad():
        t_torch = median_ms(lambda: model(xt), ROUNDS[arch], timing=timing)
    t_ort = median_ms(lambda: sess.run(None, {"image": x}), ROUNDS[arch], timing=timing)
    record(results, "inference_cpu_ms", f"{arch}_pytorch", round(t_torch, 1))
    record(results, "inference_cpu_ms", f"{arch}_onnxruntime", round(t_ort, 1))
    record(results, "inference_cpu_ratio", f"{arch}_pytorch_over_onnxruntime", round(t_torch / t_ort, 2))
    assert not timing or t_ort <= t_torch * 1.05  # onnxruntime at least as fast as eager PyTorch (5 % noise allowance)


def test_int8_speed(results, timing, exported):
    fp32, int8 = PoseSession(exported["fp32"], "cpu"), PoseSession(exported["int8"], "cpu")
    x = np.random.default_rng(0).normal(size=(1, 3, 240, 320)).astype(np.float32)
    t32, t8 = (median_ms(lambda s=s: s.infer_maps(x), 20, timing=timing) for s in (fp32, int8))
    record(results, "inference_cpu_ms", "lite_fp32_onnx", round(t32, 1))
    record(results, "inference_cpu_ms", "lite_int8_onnx", round(t8, 1))
    record(results, "inference_cpu_ratio", "lite_fp32_over_int8", round(t32 / t8, 2))
    assert not timing or t32 / t8 >= 2.5


def test_map_parity_pytorch_vs_onnx(results, exported, heldout):
    loaded = load_weights(ROOT / "models" / "toppose-lite.pth")
    folder = heldout / "top_full"
    ap = {"pytorch": evaluate_folder(folder, torch_infer(loaded.model), loaded.spec)[0].stats["AP"]}
    for precision, path in exported.items():
        s = PoseSession(path, "cpu")
        ap[precision] = evaluate_folder(folder, s.infer_maps, s.spec, input_hw=s.input_hw)[0].stats["AP"]
    for k, v in ap.items():
        record(results, "ap_top_full", k, round(v, 4))
    record(results, "ap_top_full_about", "checkpoint", file_id(ROOT / "models" / "toppose-lite.pth"))
    record(results, "ap_top_full_about", "set", HELDOUT["top_full"])
    record(results, "ap_top_full_about", "calibration", HELDOUT["calib"])
    assert abs(ap["fp32"] - ap["pytorch"]) <= 0.001
    assert abs(ap["fp16"] - ap["pytorch"]) <= 0.005
    assert abs(ap["int8"] - ap["pytorch"]) <= 0.02
