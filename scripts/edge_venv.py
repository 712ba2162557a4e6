"""Build a virtual environment with toppose's base (edge) install only: no extras, no torch.

``python scripts/edge_venv.py DEST`` -> DEST/venv with toppose installed from a copy of this
checkout (so the checkout gets no build/ folder). Used by tests/test_install.py and the install-size
benchmark; pip's cache makes a rebuild fast.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "README.md", "toppose", "train", "export", "runtime")


def build_edge_venv(dest: Path, timeout_s: float = 900) -> Path:
    """Create DEST/venv with ``pip install <copy of the checkout>``; returns the venv's python."""
    src = dest / "src"
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(dest / "venv")], check=True, timeout=timeout_s)
    python = dest / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)],
                   check=True, timeout=timeout_s, capture_output=True)
    return python


def site_packages_mb(python: Path) -> float:
    """Size of the venv's site-packages in MB (du -sk)."""
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    kb = subprocess.run(["du", "-sk", site], check=True, capture_output=True, text=True).stdout.split()[0]
    return round(int(kb) / 1024, 1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/edge_venv.py DEST")
    py = build_edge_venv(Path(sys.argv[1]))
    print(f"{py} ({site_packages_mb(py)} MB site-packages)")
