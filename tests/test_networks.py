import pytest
import torch

from toppose.model_spec import ModelSpec
from toppose.networks import build_network
from toppose.networks.flops import count_flops
from toppose.skeleton import TOPVIEW


def _params(model):
    return sum(p.numel() for p in model.parameters()), len(list(model.parameters()))


def test_openpose_matches_the_textbook_parameter_count():
    assert _params(build_network(ModelSpec(arch="openpose"))) == (52_311_446, 184)


def test_lite_budget():
    model = build_network(ModelSpec(arch="lite"))
    params, _ = _params(model)
    assert 3_000_000 <= params <= 5_000_000
    assert count_flops(model, (240, 320)) <= 10e9


@pytest.mark.parametrize("arch", ["openpose", "lite"])
@pytest.mark.parametrize("hw", [(240, 320), (368, 368), (104, 136)])
def test_output_shapes(arch, hw):
    model = build_network(ModelSpec(arch=arch)).eval()
    with torch.no_grad():
        paf, heat, stages = model(torch.zeros(1, 3, *hw))
    assert paf.shape == (1, 38, hw[0] // 8, hw[1] // 8)
    assert heat.shape == (1, 19, hw[0] // 8, hw[1] // 8)
    assert len(stages) == 2 * model.num_stages and stages[-1] is heat


def test_extra_limbs_change_paf_channels():
    model = build_network(ModelSpec(arch="lite", skeleton=TOPVIEW)).eval()
    with torch.no_grad():
        paf, heat, _ = model(torch.zeros(1, 3, 64, 64))
    assert paf.shape[1] == TOPVIEW.num_pafs == 46 and heat.shape[1] == 19
