import os
import pickle
import random

import pytest
import torch
from typer.testing import CliRunner

from toppose.cli import app
from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.weights import WeightsError, export_layout, load_weights, save_checkpoint


def _random_model(arch):
    torch.manual_seed(1)
    model = build_network(ModelSpec(arch=arch)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model


def _same_outputs(a, b, hw=(48, 64)):
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pa, ha, _ = a(x)
        pb, hb, _ = b(x)
    return torch.equal(pa, pb) and torch.equal(ha, hb)


@pytest.fixture(scope="module")
def openpose():
    return _random_model("openpose")


@pytest.mark.parametrize("layout,prefix,preprocess", [
    ("textbook", "", "vgg"), ("tensorboy", "", "vgg"), ("tensorboy", "module.", "vgg"), ("caffe", "", "rtpose")])
def test_foreign_layouts_round_trip(openpose, tmp_path, layout, prefix, preprocess):
    state = {prefix + k: v for k, v in export_layout(openpose, layout).items()}
    path = tmp_path / "w.pth"
    torch.save(state, path)
    loaded = load_weights(path)
    assert loaded.layout == layout and loaded.spec.arch == "openpose" and loaded.spec.preprocess == preprocess
    assert _same_outputs(openpose, loaded.model)


def test_caffe_layout_loads_by_name_when_shuffled(openpose, tmp_path):
    items = list(export_layout(openpose, "caffe").items())
    random.Random(0).shuffle(items)
    torch.save(dict(items), tmp_path / "w.pth")
    assert _same_outputs(openpose, load_weights(tmp_path / "w.pth").model)


def test_toppose_checkpoint_round_trip(tmp_path):
    model = _random_model("lite")
    spec = ModelSpec(arch="lite", preprocess="rtpose")
    save_checkpoint(tmp_path / "c.pth", model, spec, {"data": "synthetic"})
    loaded = load_weights(tmp_path / "c.pth")
    assert loaded.spec == spec and loaded.provenance == {"data": "synthetic"}
    assert _same_outputs(model, loaded.model)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth"]  # no temp file left


def test_wrong_shape_is_named(openpose, tmp_path):
    state = export_layout(openpose, "textbook")
    state["model1_1.0.weight"] = torch.zeros(3, 3, 3, 3)
    del state["model6_2.12.bias"]
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"1 missing: model6_2.12.bias.*mis-shaped: model1_1.0.weight"):
        load_weights(tmp_path / "w.pth")


def test_truncated_file(openpose, tmp_path):
    torch.save(export_layout(openpose, "textbook"), tmp_path / "w.pth")
    data = (tmp_path / "w.pth").read_bytes()
    (tmp_path / "t.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="t.pth: truncated"):
        load_weights(tmp_path / "t.pth")


def test_other_network_and_wrong_arch(tmp_path):
    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "lin.pth")
    with pytest.raises(WeightsError, match="unknown weight layout"):
        load_weights(tmp_path / "lin.pth")
    torch.save(_random_model("lite").state_dict(), tmp_path / "lite.pth")
    with pytest.raises(WeightsError, match="not openpose"):
        load_weights(tmp_path / "lite.pth", arch="openpose")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/toppose_pwned",))


def test_code_running_pickle_is_refused(tmp_path):
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"w": _Evil()}, f)
    with pytest.raises(WeightsError, match="refused to unpickle"):
        load_weights(tmp_path / "evil.pth")
    assert not os.path.exists("/tmp/toppose_pwned")


def test_info_command(openpose, tmp_path):
    torch.save(export_layout(openpose, "caffe"), tmp_path / "body_pose_model.pth")
    result = CliRunner().invoke(app, ["info", str(tmp_path / "body_pose_model.pth")])
    assert result.exit_code == 0, result.output
    assert "layout:        caffe" in result.output and "52,311,446" in result.output and "rtpose" in result.output
    bad = CliRunner().invoke(app, ["info", str(tmp_path / "missing.pth")])
    assert bad.exit_code == 1 and "missing.pth: no such file" in bad.output
