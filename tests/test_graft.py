"""``toppose graft``: extra PAF channels on trained weights, original outputs unchanged."""

import pytest
import torch
from typer.testing import CliRunner

from toppose.cli import app
from toppose.graft import GraftError, graft
from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.skeleton import OPENPOSE18, TOPVIEW
from toppose.weights import export_layout, load_weights, save_checkpoint


def _trained(arch):
    """Weights at a trained network's scale (OpenPose's own initialisation; noise for lite)."""
    torch.manual_seed(1)
    model = build_network(ModelSpec(arch=arch)).eval()
    if arch == "lite":
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.05)
    return model


def _outputs(model, hw=(32, 48)):
    x = torch.randn(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(x)


def test_lite_checkpoint_keeps_every_original_output_bit_identical(tmp_path):
    model = _trained("lite")
    save_checkpoint(tmp_path / "in.pth", model, ModelSpec(arch="lite"), {"data": "recipe"})
    result = CliRunner().invoke(app, ["graft", str(tmp_path / "in.pth"), str(tmp_path / "out.pth"),
                                      "--skeleton", "topview23"])
    assert result.exit_code == 0, result.output
    loaded = load_weights(tmp_path / "out.pth")
    assert loaded.spec.skeleton == TOPVIEW and loaded.provenance["data"] == "recipe"
    paf, heat, _ = _outputs(model)
    new_paf, new_heat, _ = _outputs(loaded.model)
    assert torch.equal(new_paf[:, :OPENPOSE18.num_pafs], paf) and torch.equal(new_heat, heat)
    assert new_paf.shape[1] == TOPVIEW.num_pafs and new_paf[:, OPENPOSE18.num_pafs:].abs().max() < 1e-2  # PAFs are unit vectors


@pytest.mark.parametrize("layout", ["caffe", "tensorboy", "textbook"])
def test_foreign_openpose_layouts_keep_original_weights_and_outputs(tmp_path, layout):
    model = _trained("openpose")
    torch.save(export_layout(model, layout), tmp_path / "in.pth")
    graft(tmp_path / "in.pth", tmp_path / "out.pth", TOPVIEW)
    new = load_weights(tmp_path / "out.pth").model
    old_state, new_state = model.state_dict(), new.state_dict()
    for name, t in old_state.items():   # every original output channel's weights, bit for bit
        n = new_state[name]
        if n.shape == t.shape:
            assert torch.equal(n, t), name
        elif n.shape[0] != t.shape[0]:
            assert torch.equal(n[:t.shape[0]], t), name
        else:   # a stage input: zero columns for the new PAFs right after the old ones
            at = OPENPOSE18.num_pafs
            assert torch.equal(n[:, :at], t[:, :at]) and torch.equal(n[:, at + 8:], t[:, at:])
            assert not n[:, at:at + 8].any()
    if layout == "caffe":
        paf, heat, stages = _outputs(model)
        new_paf, new_heat, new_stages = _outputs(new)
        assert torch.equal(new_stages[0][:, :38], stages[0]) and torch.equal(new_stages[1], stages[1])
        # later stages read 8 more (zero-weighted) channels: equal up to float summation order
        torch.testing.assert_close(new_paf[:, :38], paf, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(new_heat, heat, rtol=1e-5, atol=1e-7)


def test_refuses_to_overwrite_and_to_graft_twice(tmp_path):
    save_checkpoint(tmp_path / "in.pth", _trained("lite"), ModelSpec(arch="lite"))
    (tmp_path / "out.pth").write_bytes(b"keep")
    result = CliRunner().invoke(app, ["graft", str(tmp_path / "in.pth"), str(tmp_path / "out.pth")])
    assert result.exit_code == 1 and "exists" in result.output and (tmp_path / "out.pth").read_bytes() == b"keep"
    assert CliRunner().invoke(app, ["graft", str(tmp_path / "in.pth"), str(tmp_path / "out.pth"),
                                    "--force"]).exit_code == 0
    with pytest.raises(GraftError, match="not a prefix"):
        graft(tmp_path / "out.pth", tmp_path / "again.pth", TOPVIEW)
    assert not (tmp_path / "again.pth").exists()
    bad = CliRunner().invoke(app, ["graft", str(tmp_path / "in.pth"), str(tmp_path / "x.pth"), "--skeleton", "nope"])
    assert bad.exit_code == 1 and "unknown skeleton" in bad.output
