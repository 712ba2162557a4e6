#!/usr/bin/env bash
# The bundled model's retrain on the sensor mix (issue 13) on a lent GPU machine, in ONE call of
# the device tool (10 minutes a call, 15 minutes of device time a session, a machine start included):
#   here, once:  bash scripts/device_wheels.sh
#   there:       run(command="bash scripts/device_mix.sh", carry=[".whl"], timeout_s=600)
# Not yet run on a GPU; sized from this machine's render and evaluation speeds. It installs toppose
# beside the image's packages, measures GPU throughput (scripts/gpu_checks.py, about 30 s), renders
# scripts/train_mix.sh's mix on every core, fine-tunes the bundled checkpoint there with
# --gpu-augment, grafted first to SKELETON (topview23: issue 14's bundled model, and without the
# decoder's piece merging, as when tracking, its ceiling is 0.409 AP against the standard
# skeleton's 0.314 on people anywhere: benchmarks/results.json, "border"), while BUDGET_S (540)
# seconds from its start, less RESERVE_S (240) for loading, export and evaluation, allow, and
# leaves in $OUT (what the tool brings back): best.pth (as soon as
# training ends), toppose-lite.int8.onnx, evals.tar.gz (the held-out sets' evaluations, the run's
# history and config), results_gpu.json and device.log. What to do with them here: README, "The
# bundled model". A failed step ends it with status 1, keeping what is already in $OUT. A CPU smoke
# run: OUT=/tmp/o SCALE=0.002 DEVICE=cpu AMP=none GPU_AUGMENT=0 BATCH=8 EPOCHS=1 BUDGET_S=400 bash
# scripts/device_mix.sh (its barely trained model may fail the int8 export's parity check: then only
# best.pth and device.log come back)
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
: "${OUT:?set OUT (the device tool sets it): the folder whose files come back}"
mkdir -p "$OUT"
SCALE=${SCALE:-1}
SKELETON=${SKELETON:-topview23}   # or openpose18: the bundled model's own 19 limbs
SITE=${SITE:-/tmp/toppose-site}
MIX=${MIX:-/tmp/toppose-mix-$SCALE}   # rendered sets are reused by a second call on a warm machine

put() {  # put FILE NAME: into $OUT whole or not at all
  cp "$1" "$OUT/$2.part" && mv "$OUT/$2.part" "$OUT/$2"
}

main() {
  rm -rf "$SITE" "$MIX/run"   # a warm machine's earlier call: fresh code, a fresh run folder
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl || return 1
  fi
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE" . || return 1
  export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH} PATH=$SITE/bin:$PATH PYTHONUNBUFFERED=1
  if nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; then   # batched throughput (issue 19)
    python3 scripts/gpu_checks.py --out "$MIX.gpu.json" >/dev/null && put "$MIX.gpu.json" results_gpu.json \
      || echo "gpu_checks.py failed: training goes on"
  else
    echo "no GPU: ${DEVICE:-auto}"
  fi
  INIT=models/toppose-lite.pth
  if [ "$SKELETON" != openpose18 ]; then   # extra PAF channels for the limbs that keep a neckless person together
    mkdir -p "$MIX" && toppose graft "$INIT" "$MIX/init.pth" --skeleton "$SKELETON" --force || return 1
    INIT=$MIX/init.pth
  fi
  END_BY=$((T0 + ${BUDGET_S:-540})) RESERVE_S=${RESERVE_S:-240} INIT=$INIT LR=${LR:-1e-3} \
    KEEP=$OUT ORACLE=0 OUT=$MIX WORK=$MIX/work bash scripts/train_mix.sh "$SCALE" || return 1
  put "$MIX/toppose-lite.int8.onnx" toppose-lite.int8.onnx || return 1
  (cd "$MIX" && tar czf "$MIX/evals.tar.gz" eval_*.json run/history.csv run/config.json) && put "$MIX/evals.tar.gz" evals.tar.gz \
    || return 1
  echo "done in $(( $(date +%s) - T0 )) s: $(ls "$OUT" | tr '\n' ' ')"
}

main 2>&1 | tee "$OUT/device.log"
exit "${PIPESTATUS[0]}"
