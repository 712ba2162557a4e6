"""A MobileNet-style OpenPose in the spirit of Lightweight OpenPose (Osokin, 2018).

Depthwise-separable backbone to stride 8 (dilated at the end), a CPM block, one initial
stage and one refinement stage, each with a PAF and a heatmap head.
"""

from __future__ import annotations

import torch
from torch import nn


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1,
         bn: bool = True, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_dw(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, each with BN and ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, dilation, dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Cpm(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.align = conv(cin, cout, 1, bn=False)
        self.trunk = nn.Sequential(*(conv_dw(cout, cout) for _ in range(3)))
        self.conv = conv(cout, cout, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.align(x)
        return self.conv(x + self.trunk(x))


class InitialStage(nn.Module):
    def __init__(self, channels: int, num_pafs: int, num_heatmaps: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(conv(channels, channels, bn=False) for _ in range(3)))
        self.heatmaps = nn.Sequential(conv(channels, 256, 1, bn=False), conv(256, num_heatmaps, 1, bn=False, relu=False))
        self.pafs = nn.Sequential(conv(channels, 256, 1, bn=False), conv(256, num_pafs, 1, bn=False, relu=False))

    def forward(self, x: torch.Tensor):
        t = self.trunk(x)
        return self.pafs(t), self.heatmaps(t)


class RefinementBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.initial = conv(cin, cout, 1, bn=False)
        self.trunk = nn.Sequential(conv(cout, cout), conv(cout, cout, dilation=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.initial(x)
        return x + self.trunk(x)


class RefinementStage(nn.Module):
    def __init__(self, cin: int, channels: int, num_pafs: int, num_heatmaps: int, blocks: int = 4) -> None:
        super().__init__()
        self.trunk = nn.Sequential(RefinementBlock(cin, channels),
                                   *(RefinementBlock(channels, channels) for _ in range(blocks - 1)))
        self.heatmaps = nn.Sequential(conv(channels, channels, 1, bn=False), conv(channels, num_heatmaps, 1, bn=False, relu=False))
        self.pafs = nn.Sequential(conv(channels, channels, 1, bn=False), conv(channels, num_pafs, 1, bn=False, relu=False))

    def forward(self, x: torch.Tensor):
        t = self.trunk(x)
        return self.pafs(t), self.heatmaps(t)


class LiteOpenPose(nn.Module):
    """(N, 3, H, W) -> final PAF, final heatmap, stages [paf1, heat1, paf2, heat2] at stride 8."""

    def __init__(self, num_pafs: int = 38, num_heatmaps: int = 19, channels: int = 128) -> None:
        super().__init__()
        self.num_pafs, self.num_heatmaps = num_pafs, num_heatmaps
        self.backbone = nn.Sequential(
            conv(3, 32, stride=2), conv_dw(32, 64), conv_dw(64, 128, stride=2), conv_dw(128, 128),
            conv_dw(128, 256, stride=2), conv_dw(256, 256), conv_dw(256, 512),
            conv_dw(512, 512, dilation=2), conv_dw(512, 512), conv_dw(512, 512), conv_dw(512, 512))
        self.cpm = Cpm(512, channels)
        self.initial = InitialStage(channels, num_pafs, num_heatmaps)
        self.refine = RefinementStage(channels + num_pafs + num_heatmaps, channels, num_pafs, num_heatmaps)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for head in (self.initial.pafs, self.initial.heatmaps, self.refine.pafs, self.refine.heatmaps):
            nn.init.normal_(head[-1][0].weight, std=0.01)

    def forward(self, x: torch.Tensor):
        features = self.cpm(self.backbone(x))
        paf1, heat1 = self.initial(features)
        paf2, heat2 = self.refine(torch.cat([features, paf1, heat1], dim=1))
        return paf2, heat2, [paf1, heat1, paf2, heat2]

    def stem_parameter_prefixes(self) -> tuple[str, ...]:
        return ("backbone.", "cpm.")

    def stage_parameter_prefixes(self, stage: int) -> tuple[str, ...]:
        return ("initial.",) if stage == 1 else ("refine.",)

    def head_parameter_prefixes(self) -> tuple[str, ...]:
        return ("initial.heatmaps.1.", "initial.pafs.1.", "refine.heatmaps.1.", "refine.pafs.1.")

    @property
    def num_stages(self) -> int:
        return 2
