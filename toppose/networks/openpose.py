"""The textbook / CMU OpenPose network: VGG19 stem + 6 two-branch stages, stride 8.

Attribute and Sequential index names follow the textbook's ``OpenPoseNet`` exactly
(``model0.model.N``, ``model{t}_1`` PAF branches, ``model{t}_2`` heatmap branches), so its
state dicts load as they are; other layouts are renamed in ``toppose.weights``.
"""

from __future__ import annotations

import torch
from torch import nn

# (in, out) of the stem's 3x3 convs; "M" is a 2x2 max-pool. Names index the caffe layers.
STEM = ((3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256),
        (256, 256), "M", (256, 512), (512, 512), (512, 256), (256, 128))
STEM_NAMES = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv3_4", "conv4_1", "conv4_2", "conv4_3_CPM", "conv4_4_CPM")
NUM_STAGES = 6


def _stem() -> nn.Sequential:
    layers: list[nn.Module] = []
    for item in STEM:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(item[0], item[1], 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _branch(specs: list[tuple[int, int, int]]) -> nn.Sequential:
    """Convs (in, out, kernel) with ReLU after every conv but the last."""
    layers: list[nn.Module] = []
    for i, (cin, cout, k) in enumerate(specs):
        layers.append(nn.Conv2d(cin, cout, k, padding=k // 2))
        if i < len(specs) - 1:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def stage_specs(stage: int, out: int, num_inputs: int) -> list[tuple[int, int, int]]:
    if stage == 1:
        return [(128, 128, 3)] * 3 + [(128, 512, 1), (512, out, 1)]
    return [(num_inputs, 128, 7)] + [(128, 128, 7)] * 4 + [(128, 128, 1), (128, out, 1)]


class _Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = _stem()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class OpenPoseNet(nn.Module):
    """(N, 3, H, W) -> final PAF (N, 2K, H/8, W/8), final heatmap (N, J+1, H/8, W/8), stages.

    ``stages`` is the list of all 2 * 6 intermediate outputs [paf1, heat1, ..., paf6, heat6]
    that the loss supervises.
    """

    def __init__(self, num_pafs: int = 38, num_heatmaps: int = 19) -> None:
        super().__init__()
        self.num_pafs, self.num_heatmaps = num_pafs, num_heatmaps
        self.model0 = _Stem()
        cat = 128 + num_pafs + num_heatmaps
        for t in range(1, NUM_STAGES + 1):  # attribute order: model0, model1_1..6_1, model1_2..6_2
            setattr(self, f"model{t}_1", _branch(stage_specs(t, num_pafs, cat)))
        for t in range(1, NUM_STAGES + 1):
            setattr(self, f"model{t}_2", _branch(stage_specs(t, num_heatmaps, cat)))
        self._init_weights()

    def _init_weights(self) -> None:
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d) and not name.startswith("model0"):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor):
        features = self.model0(x)
        stages = []
        inp = features
        for t in range(1, NUM_STAGES + 1):
            paf = getattr(self, f"model{t}_1")(inp)
            heat = getattr(self, f"model{t}_2")(inp)
            stages += [paf, heat]
            inp = torch.cat([paf, heat, features], dim=1)
        return paf, heat, stages

    def stem_parameter_prefixes(self) -> tuple[str, ...]:
        return ("model0.",)

    def stage_parameter_prefixes(self, stage: int) -> tuple[str, ...]:
        return (f"model{stage}_1.", f"model{stage}_2.")

    def head_parameter_prefixes(self) -> tuple[str, ...]:
        last = len(stage_specs(NUM_STAGES, 1, 1)) * 2 - 2
        return tuple(f"model{t}_{b}.{last}." for t in range(2, NUM_STAGES + 1) for b in (1, 2)) + \
            tuple(f"model1_{b}.8." for b in (1, 2))

    @property
    def num_stages(self) -> int:
        return NUM_STAGES
