"""Shared Numba settings: cached kernels on a read-only install land in the user cache."""

import os
import subprocess
import sys
import textwrap


def test_read_only_install_caches_kernels_in_the_user_cache(tmp_path):
    """Numba's own fallback (which replaced toppose's copy of it): when the source folder
    cannot take a cache, compiled kernels go to $XDG_CACHE_HOME/numba."""
    pkg = tmp_path / "ro"
    pkg.mkdir()
    (pkg / "kernel.py").write_text(textwrap.dedent("""
        from toppose.codec._jit import jit

        @jit
        def twice(x):
            return 2 * x
    """))
    script = textwrap.dedent("""
        from numba.core import caching

        def read_only(self):
            raise OSError("read-only install")

        caching.InTreeCacheLocator.ensure_cache_path = read_only  # as root, chmod cannot make it so
        import kernel
        assert kernel.twice(21) == 42
    """)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(pkg)}
    env.pop("NUMBA_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=tmp_path)
    cached = [p.name for p in (tmp_path / "cache" / "numba").rglob("kernel.twice*")]
    assert any(n.endswith(".nbi") for n in cached) and any(n.endswith(".nbc") for n in cached)
    assert not (pkg / "__pycache__").exists() or not list((pkg / "__pycache__").glob("*.nbi"))
