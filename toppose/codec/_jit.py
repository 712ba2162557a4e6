"""Numba compilation settings shared by the decoder kernels: cached, GIL-free.

Compiled kernels are cached beside the sources, or in a user cache when the install is
read-only, so only the first run of a new install pays for compilation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
from numba import njit


def _ensure_writable_cache() -> None:
    """Cache compiled kernels beside the sources, or in a user cache for read-only installs."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.access(Path(__file__).parent, os.W_OK):
        return
    for base in (os.environ.get("XDG_CACHE_HOME"), str(Path.home() / ".cache"), "/tmp"):
        if base and (os.access(base, os.W_OK) or not os.path.exists(base)):
            path = Path(base) / "toppose" / "numba"
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue
            numba.config.CACHE_DIR = str(path)
            return


_ensure_writable_cache()
jit = njit(cache=True, nogil=True)


