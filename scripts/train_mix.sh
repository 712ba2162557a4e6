#!/usr/bin/env bash
# The recipe for the next bundled model (issue 13 items 3-4, not yet run): render a mix of
# sensors (generic, xtion, d435), clutter among people, camera heights 2.4-3.5 m, tilts 0-20
# degrees and fields of view 58-90 degrees; train `lite` with --gpu-augment (frames cached on
# the GPU, crops and targets built there); evaluate on held-out sets rendered with seeds no
# training set uses. Usage: OUT=dir bash scripts/train_mix.sh [SCALE]   (1 = the real run;
# 0.002 = a smoke test that finishes on a CPU in a few minutes). Environment: INIT=weights to
# fine-tune from (default: from scratch), GPU_AUGMENT=0 to build crops in the CPU loader (the faster
# choice on a CPU), AMP=none on a CPU, DEVICE (auto), EPOCHS, BATCH, LR, TRAIN_MIN, EPOCH_SIZE;
# END_BY=seconds since 1970: train only as long as leaves RESERVE_S (150) for export and evaluation;
# KEEP=dir: best.pth copied there (whole) as soon as training ends; ORACLE=0: no oracle evaluations.
set -euo pipefail
SCALE=${1:-1}
OUT=${OUT:-out/mix}
W=${WORK:-$OUT/work}
mkdir -p "$OUT" "$W"
J=$(nproc)
n() { python3 -c "print(max(8, int($1 * $SCALE)))"; }
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
MOUNT=(--camera-height 2.4:3.5 --tilt 0:20 --fov 58:90)
render() { [ -f "$W/$1/annotations.json" ] || toppose-data synth --out "$W/$1" --workers "$J" "${@:2}" >/dev/null; }

log "render training mix"
seed=111
DATA=()
for s in generic xtion d435; do
  render "top_$s" --view top --people 1:4 --frames "$(n 6000)" --seed $seed --sensor $s --clutter 3 "${MOUNT[@]}"
  render "side_$s" --view side --people 1:3 --frames "$(n 2000)" --seed $((seed + 10)) --sensor $s --clutter 2 --fov 58:90
  DATA+=(--data "$W/top_$s:0.22" --data "$W/side_$s:0.08")
  seed=$((seed + 1))
done
render top_today --view top --people 1:4 --frames "$(n 4000)" --seed 101     # today's recipe keeps its share
DATA+=(--data "$W/top_today:0.1")

log "render held-out sets (seeds 501-503 and today's 201-203; never trained on)"
render test_top_full --view top --people 1:4 --frames "$(n 300)" --seed 501 --fully-in-view --sensor d435 --clutter 2 "${MOUNT[@]}"
render test_top_any --view top --people 1:4 --frames "$(n 300)" --seed 502 --sensor d435 --clutter 2 "${MOUNT[@]}"
render test_side --view side --people 1:3 --frames "$(n 300)" --seed 503 --fully-in-view --sensor d435 --clutter 2
render today_top_full --view top --people 1:4 --frames "$(n 300)" --seed 201 --fully-in-view
render today_top_any --view top --people 1:4 --frames "$(n 300)" --seed 202
render today_side --view side --people 1:3 --frames "$(n 300)" --seed 203 --fully-in-view
render val_mix --view top --people 1:4 --frames "$(n 300)" --seed 601 --sensor d435 --clutter 2 "${MOUNT[@]}"  # model selection
render calib --view top --people 1:4 --frames 64 --seed 401 --sensor d435 --clutter 2 "${MOUNT[@]}"

log "train"
if [ -n "${END_BY:-}" ]; then
  TRAIN_MIN=$(python3 -c "import time; print(round(min(${TRAIN_MIN:-30}, max(0.5, ($END_BY - time.time() - ${RESERVE_S:-150}) / 60)), 2))")
  log "training for at most $TRAIN_MIN min (END_BY)"
fi
OPTS=()
[ -n "${INIT:-}" ] && OPTS+=(--init "$INIT")
[ "${GPU_AUGMENT:-1}" = 1 ] && OPTS+=(--gpu-augment --channels-last)
toppose-train --arch lite "${DATA[@]}" --val "$W/val_mix" --out "$OUT/run" "${OPTS[@]}" --device "${DEVICE:-auto}" \
  --epochs "${EPOCHS:-60}" --epoch-size "${EPOCH_SIZE:-$(n 32000)}" --batch-size "${BATCH:-64}" --optimizer adamw \
  --lr "${LR:-2e-3}" --amp "${AMP:-bf16}" --time-limit "${TRAIN_MIN:-30}" --seed 0 --val-images "$(n 150)"
if [ -n "${KEEP:-}" ]; then
  cp "$OUT/run/best.pth" "$KEEP/best.pth.part" && mv "$KEEP/best.pth.part" "$KEEP/best.pth"
fi
log "evaluate and export"
toppose-export "$OUT/run/best.pth" -o "$OUT/toppose-lite.onnx" --int8 --calibration "$W/calib" --calibration-frames 64 --force
for t in test_top_full test_top_any test_side today_top_full today_top_any today_side; do
  toppose-eval --model "$OUT/toppose-lite.int8.onnx" --data "$W/$t" --out "$OUT/eval_$t.json" >/dev/null
  [ "${ORACLE:-1}" = 0 ] || toppose-eval --oracle --data "$W/$t" --out "$OUT/oracle_$t.json" >/dev/null
  log "$t done"
done
log "done: $OUT"
