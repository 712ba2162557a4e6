"""Numba compilation settings shared by every kernel of toppose: cached, GIL-free.

Compiled kernels are cached beside the sources; on a read-only install Numba itself falls
back to a user-wide cache (``NUMBA_CACHE_DIR`` overrides both), so only the first run of a
new install pays for compilation.
"""

from numba import njit

jit = njit(cache=True, nogil=True)
# For small helpers called in hot loops: inlined into the caller at Numba's IR level.
jit_inline = njit(cache=True, nogil=True, inline="always")
