"""Choose what trains: presets, name patterns and a stem learning-rate multiplier."""

from __future__ import annotations

from fnmatch import fnmatch

from torch import nn


def trainable_mask(model: nn.Module, preset: str, train_patterns=(), freeze_patterns=()) -> dict[str, bool]:
    """Parameter name -> trainable, for a preset (all, stages, late-stages, heads) plus patterns."""
    stem = model.stem_parameter_prefixes()
    late = tuple(p for t in range(model.num_stages // 2 + 1, model.num_stages + 1)  # openpose: 4-6
                 for p in model.stage_parameter_prefixes(t))
    heads = model.head_parameter_prefixes()
    rules = {"all": lambda n: True, "stages": lambda n: not n.startswith(stem),
             "late-stages": lambda n: n.startswith(late), "heads": lambda n: n.startswith(heads)}
    mask = {}
    for name, _ in model.named_parameters():
        on = rules[preset](name)
        if any(fnmatch(name, p) for p in train_patterns):
            on = True
        if any(fnmatch(name, p) for p in freeze_patterns):
            on = False
        mask[name] = on
    return mask


def apply(model: nn.Module, mask: dict[str, bool], lr: float, stem_lr_mult: float) -> list[dict]:
    """Set requires_grad from ``mask``; return optimiser parameter groups (stem at lr x mult)."""
    stem = model.stem_parameter_prefixes()
    groups = {"stem": [], "rest": []}
    for name, p in model.named_parameters():
        p.requires_grad_(mask[name])
        if mask[name]:
            groups["stem" if name.startswith(stem) else "rest"].append(p)
    out = [{"params": groups["rest"], "lr": lr, "name": "stages"}]
    if groups["stem"]:
        out.append({"params": groups["stem"], "lr": lr * stem_lr_mult, "name": "stem"})
    return [g for g in out if g["params"]]


def table(model: nn.Module, mask: dict[str, bool]) -> str:
    """Trainable / total parameters per top-level module."""
    rows: dict[str, list[int]] = {}
    for name, p in model.named_parameters():
        key = name.split(".")[0]
        r = rows.setdefault(key, [0, 0])
        r[1] += p.numel()
        r[0] += p.numel() if mask[name] else 0
    lines = [f"{'module':12} {'trainable':>12} {'total':>12}"]
    lines += [f"{k:12} {t:12,d} {n:12,d}" for k, (t, n) in rows.items()]
    t, n = sum(r[0] for r in rows.values()), sum(r[1] for r in rows.values())
    lines.append(f"{'all':12} {t:12,d} {n:12,d}")
    return "\n".join(lines)


def freeze_batchnorm(model: nn.Module, mask: dict[str, bool]) -> None:
    """Put batch-norm layers whose parameters are all frozen in eval mode (call after .train()),
    so their running statistics stay as loaded too."""
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            names = [f"{name}.{p}" for p, _ in m.named_parameters()]
            if names and not any(mask[n] for n in names):
                m.eval()
