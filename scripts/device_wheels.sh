#!/usr/bin/env bash
# Wheels the lent GPU machine's image lacks, for scripts/device_mix.sh: its python3 (3.12) has torch,
# onnx, onnxruntime, numba, OpenCV, h5py, typer, SciPy and matplotlib (device README: KINDS.md), not
# pycocotools. Downloaded here into .whl/ (git-ignored through .git/info/exclude), carried there.
# Usage, from the repository root: bash scripts/device_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "pycocotools==${PYCOCOTOOLS:-2.0.10}"
ls -l .whl
