"""Optional dependency groups (pip extras): the edge install has none of them.

``require_extra`` is called first thing by each command that needs one, so a missing extra is one
line with the pip command to run, never an ImportError traceback.
"""

from __future__ import annotations

import importlib.util

EXTRAS = {"train": ("torch", "onnx", "pycocotools", "matplotlib"), "realsense": ("pyrealsense2",)}


def missing_modules(extra: str, modules: tuple[str, ...] = ()) -> list[str]:
    """The modules of ``extra`` (or only ``modules`` of it) that are not installed."""
    return [m for m in modules or EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require_extra(extra: str, command: str, *modules: str) -> None:
    """Exit 1 naming ``command``, what is missing and the pip line, unless ``extra`` is installed."""
    from toppose.cli import fail  # toppose.cli imports this module

    gone = missing_modules(extra, modules)
    if gone:
        fail(f"{command} needs the '{extra}' extra ({', '.join(gone)} not installed): "
             f"pip install 'toppose[{extra}]'")
