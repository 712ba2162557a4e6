"""One rule for reading a dataclass back from a dict (model files, run configs).

Unknown keys are refused with one line naming the key. Every file toppose has written uses
only keys this version knows, so old files keep loading; a key it does not know comes from a
newer toppose or a hand edit, and ignoring it could silently change how frames are encoded or
decoded -- the one thing a self-describing model file exists to prevent. Free-form sections
(a model's provenance) are data, not schema, and are not checked.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Iterable


def known_fields(cls, d, what: str, required: Iterable[str] | None = None) -> dict:
    """``d`` checked against dataclass ``cls``: a dict whose keys are all fields of ``cls``,
    holding every field in ``required`` (default: the fields without a default).

    Raises ValueError naming ``what`` and the first unknown or missing key.
    """
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    names = [f.name for f in fields(cls)]
    unknown = [k for k in d if k not in names]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {what} (written by a newer toppose?)")
    if required is None:
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"{what} lacks the key {missing[0]!r}")
    return dict(d)
