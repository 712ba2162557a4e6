"""The one overwrite rule and atomic writing, for files and whole output folders.

An existing output is refused unless the command was given ``--force``. Every output is
written under a temporary name beside its final one and renamed only when complete, so a
reader (or a rerun) never meets a half-written file; write errors (a full disk) surface as
``OSError`` naming the final path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from toppose.errors import OutputError


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_parent(path: str | os.PathLike) -> None:
    """Refuse an output whose folder cannot be created or written."""
    path = Path(path)
    ancestor = _existing_ancestor(path.parent)
    if not ancestor.is_dir():
        raise OutputError(f"{path}: cannot be created ({ancestor} is a file, not a folder)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot be created ({ancestor} is not writable)")


def check_output(path: str | os.PathLike, force: bool, option: str = "") -> None:
    """An output file: refused when it exists (unless ``force``) or when it is a folder."""
    path = Path(path)
    label = f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise OutputError(f"{label}: is a folder, expected a file name")
    if path.exists() and not force:
        raise OutputError(f"{label}: exists (add --force to replace it)")
    check_parent(path)


def check_output_dir(path: str | os.PathLike, force: bool, option: str = "--out") -> None:
    """An output folder: refused when it holds anything (unless ``force``) or is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path}: is a file, expected a folder")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputError(f"{option} {path}: exists and is not empty (add --force to replace it)")
    check_parent(path)  # the folder is built beside its final place, then renamed


def _named(e: OSError, path: Path) -> OSError:
    """``e`` with the final path as its file name (a temp name means nothing to the user)."""
    return OSError(e.errno, e.strerror or str(e), str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    created = _make_parents(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path, done = Path(tmp), False
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp_path, path)
        done = True
    except OSError as e:
        if e.filename is None or str(e.filename) == str(tmp_path):
            raise _named(e, path) from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)
        if not done:
            _remove_empty(created)


def _make_parents(path: Path) -> list[Path]:
    """Create ``path``'s missing folders; returns them, deepest first (to undo on failure)."""
    missing, folder = [], path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` as a whole.

    With ``force`` an existing ``path`` is replaced (nothing stale survives); without it an
    existing non-empty ``path`` is refused. On any error or interrupt the temporary folder
    is removed and ``path`` is left as it was.
    """
    path = Path(path)
    check_output_dir(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OSError as e:
        if e.filename is not None and str(e.filename).startswith(str(tmp)):
            rest = str(e.filename)[len(str(tmp)):]
            raise OSError(e.errno, e.strerror, f"{path}{rest}") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_failed(path: str | os.PathLike, what: str, size: int = 0) -> OSError:
    """The error for a writer that only says it failed (OpenCV, torch): a full disk named as such."""
    path = Path(path)
    folder = _existing_ancestor(path.parent)
    full = shutil.disk_usage(folder).free < size + 65536
    return OSError(errno.ENOSPC if full else errno.EIO, "No space left on device" if full else f"could not write {what}",
                   str(path))
