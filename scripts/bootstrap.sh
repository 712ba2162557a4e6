#!/usr/bin/env bash
# Create .venv with the CPU build of torch and toppose (train, realsense, track-eval and dev extras) in editable mode (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# System libraries: libusb-1.0 (pyrealsense2, the realsense extra loads it), mosquitto (the MQTT
# tests start a real broker) and openssl (they make its TLS certificates). Installed when missing and
# when we may; otherwise one line says what to do.
need=()
ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so\.0' || need+=(libusb-1.0-0)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}"; }
    else
        echo "bootstrap: install ${need[*]} (Debian: sudo apt-get install ${need[*]}) for RealSense support and the MQTT tests" >&2
    fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pin the CPU build first: an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[train,realsense,track-eval,dev]"
