"""Network architectures (torch). Pick one by name with ``build_network``."""

from __future__ import annotations

from toppose.model_spec import ModelSpec
from toppose.networks.lite import LiteOpenPose
from toppose.networks.openpose import OpenPoseNet

ARCHITECTURES = {"openpose": OpenPoseNet, "lite": LiteOpenPose}


def build_network(spec: ModelSpec):
    """A freshly initialised network for ``spec`` (its skeleton sets the output channels)."""
    try:
        factory = ARCHITECTURES[spec.arch]
    except KeyError:
        raise ValueError(f"unknown architecture {spec.arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    return factory(num_pafs=spec.skeleton.num_pafs, num_heatmaps=spec.skeleton.num_heatmaps)
