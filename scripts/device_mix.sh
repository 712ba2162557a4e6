#!/usr/bin/env bash
# The bundled model's retrain on the sensor mix (issue 13) on a lent GPU machine, in ONE call of
# the device tool (10 minutes a call, 15 minutes of device time a session, a machine start included):
#   here, once:  bash scripts/device_wheels.sh
#   there:       run(command="bash scripts/device_mix.sh", carry=[".whl"], timeout_s=600)
# It installs toppose beside the image's packages, renders scripts/train_mix.sh's mix on every core,
# fine-tunes the bundled checkpoint there with --gpu-augment until BUDGET_S (540) seconds from its
# start, less RESERVE_S (180) for export and evaluation, and leaves in $OUT (what the tool brings
# back): best.pth, toppose-lite.int8.onnx, evals.tar.gz (the held-out sets' eval and oracle JSON,
# the run's history and config), results_gpu.json (scripts/gpu_checks.py: AMP training steps and
# batched inference throughput; first, about 30 s) and device.log. What to do with them here: README, "The bundled
# model". SCALE (1) and DEVICE (auto) let a CPU smoke run it: OUT=/tmp/o SCALE=0.002 DEVICE=cpu
# AMP=none GPU_AUGMENT=0 BUDGET_S=400 bash scripts/device_mix.sh
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
: "${OUT:?set OUT (the device tool sets it): the folder whose files come back}"
mkdir -p "$OUT"
exec > >(tee "$OUT/device.log") 2>&1
SITE=${SITE:-/tmp/toppose-site}
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE" . || exit 1
export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH} PATH=$SITE/bin:$PATH PYTHONUNBUFFERED=1
if nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; then   # batched throughput (issue 19)
  python3 scripts/gpu_checks.py --out "$OUT/results_gpu.json" >/dev/null || echo "gpu_checks.py failed: training goes on"
else
  echo "no GPU: ${DEVICE:-auto}"
fi
MIX=${MIX:-/tmp/toppose-mix}
END_BY=$((T0 + ${BUDGET_S:-540})) RESERVE_S=${RESERVE_S:-180} INIT=models/toppose-lite.pth LR=${LR:-1e-3} \
  OUT=$MIX WORK=$MIX/work bash scripts/train_mix.sh "${SCALE:-1}" || exit 1
cp "$MIX/run/best.pth" "$MIX/toppose-lite.int8.onnx" "$OUT/" || exit 1
(cd "$MIX" && tar czf "$OUT/evals.tar.gz" eval_*.json oracle_*.json run/history.csv run/config.json) || exit 1
echo "done in $(( $(date +%s) - T0 )) s: $(ls "$OUT" | tr '\n' ' ')"
