"""Size of the edge install (base dependencies only) against this checkout's full install."""

import sys
from pathlib import Path

from benchmarks.conftest import ROOT, record

sys.path.insert(0, str(ROOT / "scripts"))
from edge_venv import build_edge_venv, site_packages_mb  # noqa: E402


def test_install_sizes(results, tmp_path):
    base = site_packages_mb(build_edge_venv(tmp_path))
    full = site_packages_mb(Path(sys.executable))  # .venv from scripts/bootstrap.sh: train, realsense, dev extras
    record(results, "install_mb", "base_site_packages", base)
    record(results, "install_mb", "full_site_packages_train_realsense_dev", full)
    record(results, "install_mb", "base_over_full", round(base / full, 3))
    assert base < full
