"""JSON output, written atomically (``toppose.atomic.atomic_path``; re-exported here for older importers)."""

from __future__ import annotations

import json
import os

from toppose.atomic import atomic_path


def write_json(path: str | os.PathLike, obj, indent: int | None = None) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent))
