#!/usr/bin/env bash
# Create .venv with the CPU build of torch and toppose (train, realsense and dev extras) in editable mode (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# pyrealsense2 (the realsense extra) loads the system library libusb-1.0: install it when missing.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so\.0'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libusb-1.0-0; }
    else
        echo "bootstrap: RealSense support needs libusb-1.0 (Debian: sudo apt-get install libusb-1.0-0)" >&2
    fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pin the CPU build first: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[train,realsense,dev]"
