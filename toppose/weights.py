"""Load any known OpenPose weight file by name, never by position; save toppose checkpoints.

Layouts detected (after stripping a DataParallel ``module.`` prefix):

- ``toppose``: a toppose checkpoint (weights + ModelSpec + provenance);
- ``textbook``: the textbook's ``OpenPoseNet`` (``model0.model.N.*``);
- ``tensorboy``: rtpose_model files such as ``pose_model_scratch.pth`` (``model0.N.*``);
- ``caffe``: Hzzone's ``body_pose_model.pth`` (``conv1_1.weight`` ... ``Mconv7_stage6_L2.bias``);
- ``lite``: a bare state dict of toppose's lite network.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch

from toppose.atomic import atomic_path, write_failed
from toppose.errors import ToposeError
from toppose.model_spec import InputEncoding, ModelSpec
from toppose.networks import build_network
from toppose.networks.openpose import NUM_STAGES, STEM, STEM_NAMES, stage_specs
from toppose.skeleton import SKELETONS

CHECKPOINT_FORMAT = "toppose-checkpoint"
DEFAULT_PREPROCESS = {"textbook": "vgg", "tensorboy": "vgg", "caffe": "rtpose", "lite": "vgg"}


class WeightsError(ToposeError):
    """A weights file that cannot be loaded; the message names the file and the problem."""


@dataclass
class LoadedWeights:
    model: torch.nn.Module
    spec: ModelSpec
    layout: str
    provenance: dict = field(default_factory=dict)
    checkpoint: dict | None = None  # the full toppose checkpoint (training state), if any


def _stem_conv_indices() -> list[int]:
    idx, out = 0, []
    for item in STEM:
        if item == "M":
            idx += 1
        else:
            out.append(idx)
            idx += 2
    return out


def caffe_to_textbook() -> dict[str, str]:
    """Hzzone/caffe layer name -> textbook module prefix, e.g. conv5_1_CPM_L1 -> model1_1.0."""
    names = dict(zip(STEM_NAMES, (f"model0.model.{i}" for i in _stem_conv_indices())))
    for branch in (1, 2):
        for j in range(5):
            names[f"conv5_{j + 1}_CPM_L{branch}"] = f"model1_{branch}.{2 * j}"
        for t in range(2, NUM_STAGES + 1):
            for j in range(7):
                names[f"Mconv{j + 1}_stage{t}_L{branch}"] = f"model{t}_{branch}.{2 * j}"
    return names


def detect_layout(keys: list[str]) -> str:
    keyset = set(keys)
    if any(k.startswith("model0.model.") for k in keys):
        return "textbook"
    if "model0.0.weight" in keyset:
        return "tensorboy"
    if "conv1_1.weight" in keyset and any(k.startswith("Mconv") for k in keys):
        return "caffe"
    if any(k.startswith("backbone.") for k in keys) and any(k.startswith("refine.") for k in keys):
        return "lite"
    raise ValueError(f"unknown weight layout (first keys: {', '.join(keys[:4])})")


def to_canonical(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Rename a foreign state dict's keys to toppose's module names (by name, not order)."""
    return _rename(state, layout, to_toppose=True)


def _rename(state: dict[str, torch.Tensor], layout: str, to_toppose: bool) -> dict[str, torch.Tensor]:
    """Rename keys between ``layout`` and toppose's names, either way. A caffe key missing from the
    table is kept as it is on the way in and is an error (KeyError) on the way out."""
    if layout in ("textbook", "lite"):
        return dict(state)
    if layout == "tensorboy":
        old, new = ("model0.", "model0.model.") if to_toppose else ("model0.model.", "model0.")
        return {(new + k[len(old):]) if k.startswith(old) else k: v for k, v in state.items()}
    if layout == "caffe":
        table = caffe_to_textbook()
        table = table if to_toppose else {v: k for k, v in table.items()}
        out = {}
        for k, v in state.items():
            layer, _, kind = k.rpartition(".")
            out[f"{table[layer]}.{kind}" if layer in table or not to_toppose else k] = v
        return out
    raise ValueError(f"unknown layout {layout!r}")


def _skeleton_for(state: dict[str, torch.Tensor], arch: str):
    last = {"openpose": f"model{NUM_STAGES}_1.{2 * (len(stage_specs(NUM_STAGES, 1, 1)) - 1)}.weight",
            "lite": "refine.pafs.1.0.weight"}[arch]
    if last not in state:
        return SKELETONS["openpose18"]
    num_pafs = state[last].shape[0]
    for skeleton in SKELETONS.values():
        if skeleton.num_pafs == num_pafs:
            return skeleton
    raise ValueError(f"no known skeleton has {num_pafs} PAF channels")


def check_and_load(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` into ``model`` strictly; raise ValueError naming every mismatch."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    if problems:
        raise ValueError("; ".join(problems))
    model.load_state_dict(state, strict=True)


def read_file(path: str | Path) -> dict:
    """A weights file's top-level dict, loaded with ``weights_only``; WeightsError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: {'is a folder' if path.is_dir() else 'no such file'}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e) and "Unsupported operand" not in str(e):
            raise WeightsError(f"{path}: not a PyTorch weights file (unreadable pickle)") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsafe pickle"
        raise WeightsError(f"{path}: refused to unpickle (only plain tensors are allowed): {first}") from None
    except Exception as e:  # torch raises many types (KeyError, RuntimeError, EOFError ...) for junk files
        raise WeightsError(f"{path}: truncated or not a PyTorch weights file ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a state dict or checkpoint, found {type(obj).__name__}")
    return obj


def check_finite(state: dict) -> None:
    """Raise ValueError naming the first floating-point tensor holding NaN or inf."""
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"tensor {name} holds {bad} NaN/inf value(s) (the first non-finite tensor)")


def _state_dict(obj: dict) -> dict[str, torch.Tensor]:
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not state:
        raise ValueError(f"'state_dict' is a {type(state).__name__}, not a non-empty dict of tensors")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError("not a state dict (keys are not all names or values not all tensors)")
    check_finite(state)
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_weights(path: str | Path, arch: str | None = None, preprocess: str | None = None,
                 encoding: InputEncoding | None = None) -> LoadedWeights:
    """Load any known weights file into a fresh network.

    ``arch`` and ``preprocess`` override what the file says or implies; an ``arch`` that
    does not fit the weights is an error.
    """
    obj = read_file(path)
    try:
        if obj.get("format") == CHECKPOINT_FORMAT:
            return _load_checkpoint(obj, arch, preprocess, encoding)
        state = _state_dict(obj)
        layout = detect_layout(list(state))
        canonical = to_canonical(state, layout)
        detected = "lite" if layout == "lite" else "openpose"
        if arch is not None and arch != detected:
            raise ValueError(f"weights are a {detected} network ({layout} layout), not {arch}")
        spec = ModelSpec(arch=detected, preprocess=preprocess or DEFAULT_PREPROCESS[layout],
                         encoding=encoding or InputEncoding(), skeleton=_skeleton_for(canonical, detected))
        model = build_network(spec)
        check_and_load(model, canonical)
        return LoadedWeights(model.eval(), spec, layout, {"source": str(path), "layout": layout})
    except ValueError as e:
        raise WeightsError(f"{path}: {e}") from None


def _load_checkpoint(obj: dict, arch, preprocess, encoding) -> LoadedWeights:
    if not isinstance(obj.get("spec"), dict):
        raise ValueError("toppose checkpoint without a 'spec' (model description)")
    try:
        spec = ModelSpec.from_dict(obj["spec"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"invalid 'spec' in the checkpoint ({type(e).__name__}: {e})") from None
    state = _state_dict({"state_dict": obj.get("state_dict")})
    if arch is not None and arch != spec.arch:
        raise ValueError(f"checkpoint holds a {spec.arch} network, not {arch}")
    if preprocess or encoding:
        spec = ModelSpec(arch=spec.arch, preprocess=preprocess or spec.preprocess,
                         encoding=encoding or spec.encoding, stride=spec.stride, skeleton=spec.skeleton)
    model = build_network(spec)
    check_and_load(model, state)
    return LoadedWeights(model.eval(), spec, "toppose", dict(obj.get("provenance", {})), obj)


def save_checkpoint(path: str | Path, model: torch.nn.Module, spec: ModelSpec,
                    provenance: dict | None = None, **training_state) -> None:
    """Write a toppose checkpoint atomically (temp file + rename)."""
    model = getattr(model, "module", model)
    obj = {"format": CHECKPOINT_FORMAT, "version": 1, "spec": spec.to_dict(),
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
           "provenance": provenance or {}, **training_state}
    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError:  # torch's zip writer reports a full disk as RuntimeError
            raise write_failed(path, "the checkpoint", sum(v.nbytes for v in obj["state_dict"].values())) from None


def export_layout(model: torch.nn.Module, layout: str) -> dict[str, torch.Tensor]:
    """The model's state dict in a foreign layout (for interoperability and tests)."""
    return _rename(model.state_dict(), layout, to_toppose=False)
