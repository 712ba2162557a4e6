"""Shared checks of the bad-input corpus (tests/test_bad_input*.py).

Each case runs a command the way a user would and asserts the error policy: the exit code, one
``error:`` line naming the culprit, no traceback, and no file created, changed or removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

runner = CliRunner()


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` -> (size, mtime in ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns)
    return out


def check(app, args: list, culprit: str, *roots: Path, code: int = 1, env: dict | None = None):
    """Run ``app`` with ``args``; assert the policy, with ``culprit`` in the one error line.

    Nothing under ``roots`` may be created, changed or removed.
    """
    before = [snapshot(r) for r in roots]
    res = runner.invoke(app, [str(a) for a in args], env=env)
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert res.exit_code == code, res.output[-2000:]
    assert len(errors) == 1 and culprit in errors[0], res.output[-2000:]
    assert "Traceback" not in res.output, res.output[-2000:]
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    for root, snap in zip(roots, before):
        after = snapshot(root)
        assert after == snap, f"files changed: {sorted(set(after.items()) ^ set(snap.items()))}"
    return res


def default_sigint() -> None:
    """For subprocesses: Ctrl-C as a terminal delivers it (a shell's background job ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(script: str, args: list, **kw) -> subprocess.CompletedProcess:
    """A console script of this environment as a subprocess."""
    exe = Path(sys.executable).parent / script
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300, **kw)


@contextlib.contextmanager
def mounted(size: str = "64k", read_only: bool = False):
    """A small tmpfs (full after ``size``), or a read-only one; skips where mounting is not allowed."""
    where = Path(tempfile.mkdtemp(prefix="toppose_tmpfs_"))
    options = f"size={size}" + (",ro" if read_only else "")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if res.returncode != 0:
        where.rmdir()
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        where.rmdir()
