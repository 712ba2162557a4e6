import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from toppose.export.cli import app
from toppose.export.onnx_export import ExportOptions, export_onnx, read_metadata
from toppose.evaluation import coco_stats
from toppose.export.pipeline import run_export
from toppose.model_spec import ModelInput, ModelSpec
from toppose.networks import build_network
from toppose.runtime.session import PoseSession
from toppose.synth.flat import as_dataset
from toppose.synth.writers import write_training
from toppose.train.predict import evaluate_folder, torch_infer
from toppose.weights import load_weights

TRAINED = Path(__file__).parents[1] / "models" / "toppose-lite.pth"
runner = CliRunner()


def test_small_export_matches_pytorch_and_carries_metadata(tmp_path):
    torch.manual_seed(0)
    spec = ModelSpec(arch="lite", preprocess="rtpose")
    model = build_network(spec).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proto = export_onnx(model, spec, {"note": "test"}, tmp_path / "m.onnx", ExportOptions(height=64, width=96))
    assert not [w for w in caught if "TorchScript" in str(w.message)]  # the supported exporter, not the legacy one
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    meta = read_metadata(proto)
    assert meta.spec == spec and meta.provenance == {"note": "test"} and meta.precision == "fp32"
    assert meta.input == ModelInput(height=64, width=96, name="image", layout="NCHW") and meta.input_hw == (64, 96)
    assert [o.name for o in proto.graph.output] == ["paf", "heatmaps"]
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 96)).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    paf, heat = sess.run(None, {"image": x})
    with torch.no_grad():
        tp, th, _ = model(torch.from_numpy(x))
    assert np.abs(paf - tp.numpy()).max() < 1e-4 and np.abs(heat - th.numpy()).max() < 1e-4
    assert not list(tmp_path.glob("*.data"))  # one self-contained file


def test_dynamic_export_runs_at_two_sizes(tmp_path):
    spec = ModelSpec(arch="lite")
    model = build_network(spec).eval()
    export_onnx(model, spec, {}, tmp_path / "d.onnx", ExportOptions(64, 64, dynamic=True, dynamic_batch=True))
    session = PoseSession(tmp_path / "d.onnx", device="cpu")
    assert session.input_hw is None
    for n, h, w in ((1, 64, 96), (2, 120, 160)):
        x = np.random.default_rng(n).normal(size=(n, 3, h, w)).astype(np.float32)
        paf, heat = session.infer_maps(x)
        assert paf.shape == (n, 38, h // 8, w // 8) and heat.shape == (n, 19, h // 8, w // 8)
        with torch.no_grad():
            tp, th, _ = model(torch.from_numpy(x))
        assert np.abs(paf - tp.numpy()).max() < 1e-4 and np.abs(heat - th.numpy()).max() < 1e-4


AP_TOLERANCE = {"fp32": 0.001, "fp16": 0.01, "int8": 0.04}  # AP of the export minus PyTorch's, at most
AGREEMENT = {"fp32": 0.99, "fp16": 0.95, "int8": 0.7}  # OKS AP of the export's poses against PyTorch's, at least


def test_trained_model_fp32_fp16_int8_exports_agree_with_pytorch(tmp_path):
    calib, heldout = tmp_path / "calib", tmp_path / "heldout"
    write_training(calib, "top", 16, seed=4, people=(1, 4))
    write_training(heldout, "top", 24, seed=5, people=(1, 3), fully_in_view=True)  # never seen by calibration
    reports = run_export(TRAINED, tmp_path / "lite.onnx", ExportOptions(), fp16=True, int8_calibration=calib,
                         calibration_frames_count=16, echo=lambda *_: None)
    assert [r.precision for r in reports] == ["fp32", "fp16", "int8"]
    assert reports[0].ok and reports[0].max_abs_heat < 1e-4 and reports[0].poses_equal == reports[0].inputs
    loaded = load_weights(TRAINED)
    torch_result, torch_poses = evaluate_folder(heldout, torch_infer(loaded.model), loaded.spec)
    ids = sorted(torch_poses)
    as_truth = as_dataset([torch_poses[i].keypoints for i in ids], (240, 320))  # PyTorch's poses as ground truth
    assert torch_result.stats["AP"] > 0.3  # a trained model, so agreement below means something
    for precision, name in (("fp32", "lite.onnx"), ("fp16", "lite.fp16.onnx"), ("int8", "lite.int8.onnx")):
        meta = read_metadata(tmp_path / name)
        assert meta.precision == precision and meta.spec.encoding.kind == "depth"
        session = PoseSession(tmp_path / name, "cpu")
        result, poses = evaluate_folder(heldout, session.infer_maps, session.spec, input_hw=session.input_hw)
        agreement = coco_stats(as_truth, {k + 1: poses[i] for k, i in enumerate(ids)})["AP"]
        assert abs(result.stats["AP"] - torch_result.stats["AP"]) <= AP_TOLERANCE[precision], precision
        assert agreement >= AGREEMENT[precision], (precision, agreement)
    int8 = read_metadata(tmp_path / "lite.int8.onnx")
    assert int8.calibration_frames == 16 and len(int8.float_nodes) == 4
    assert (tmp_path / "lite.int8.onnx").stat().st_size < 0.4 * (tmp_path / "lite.onnx").stat().st_size


def test_cli_defaults_and_refusals(tmp_path):
    torch.save(load_weights(TRAINED).model.state_dict(), tmp_path / "plain.pth")  # a bare lite state dict
    res = runner.invoke(app, [str(tmp_path / "plain.pth"), "--height", "64", "--width", "96"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plain.onnx").is_file() and "fp32:" in res.output and "OK" in res.output
    res = runner.invoke(app, [str(tmp_path / "plain.pth"), "--height", "64", "--width", "96"])
    assert res.exit_code == 1 and "exists (add --force" in res.output
    res = runner.invoke(app, [str(tmp_path / "plain.pth"), "-o", str(tmp_path / "no" / "dir" / "m.onnx")])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = runner.invoke(app, [str(tmp_path / "plain.pth"), "-o", str(tmp_path / "x.onnx"), "--arch", "openpose"])
    assert res.exit_code == 1 and "not openpose" in res.output and not (tmp_path / "x.onnx").exists()
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    res = runner.invoke(app, [str(tmp_path / "other.pth")])
    assert res.exit_code == 1 and "unknown weight layout" in res.output and not (tmp_path / "other.onnx").exists()
    res = runner.invoke(app, [str(tmp_path / "plain.pth"), "-o", str(tmp_path / "y.onnx"), "--int8"])
    assert res.exit_code == 1 and "--calibration" in res.output
    res = runner.invoke(app, [str(tmp_path / "plain.pth"), "-o", str(tmp_path / "z.onnx"), "--opset", "13"])
    assert res.exit_code == 1 and "--opset 13: must be 17 to" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.pth", "plain.onnx", "plain.pth"]


def test_parity_counts_people_on_rendered_frames_not_on_noise(tmp_path):
    from toppose.codec.decoder import PoseDecoder
    from toppose.export.verify import check_parity, parity_inputs

    run_export(TRAINED, tmp_path / "lite.onnx", ExportOptions())
    loaded = load_weights(TRAINED)
    inputs, rendered = parity_inputs(loaded.spec, (240, 320))
    assert rendered == [False, True, True, True] and inputs[0].std() == pytest.approx(1.0, abs=0.05)
    decoder = PoseDecoder(loaded.spec.skeleton, loaded.spec.stride, read_metadata(tmp_path / "lite.onnx").decoder)
    with torch.no_grad():
        found = [len(decoder(paf[0].numpy(), heat[0].numpy()))
                 for paf, heat, _ in (loaded.model.eval()(torch.from_numpy(x[None])) for x in inputs)]
    report = check_parity(loaded.model, loaded.spec, tmp_path / "lite.onnx", "fp32", inputs, rendered)
    assert report.ok and report.inputs == report.poses_equal == 4
    assert report.people_torch == report.people_onnx == sum(found[1:]) > 0
    everything = check_parity(loaded.model, loaded.spec, tmp_path / "lite.onnx", "fp32", inputs)
    assert everything.people_torch == sum(found)
