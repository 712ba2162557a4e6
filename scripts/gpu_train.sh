#!/usr/bin/env bash
# One prepared run for a lent GPU machine (see README "Bundled model"): render synthetic data
# on all cores, train the bundled lite model, evaluate, export (fp32/fp16/int8), GPU checks,
# DDP over NCCL, then the fine-tuning experiment with whatever time is left.
# Usage: [OUT=out/gpu] [WORK=data/gpu] bash scripts/gpu_train.sh [SCALE]   (SCALE 1 = the real run; 0.02 = smoke test)
# Run from the repository root with the toppose environment active. Data sets: training (seeds 101-102),
# validation for choosing the best epoch (204), int8 calibration (401), tests (201-203); no set serves two roles.
set -uo pipefail
cd "$(dirname "$0")/.."  # OUT and WORK are relative to the repository root
SCALE=${1:-1}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
W=${WORK:-data/gpu}
mkdir -p "$W"
T0=$(date +%s)
n() { python3 -c "print(max(8, int($1 * $SCALE)))"; }
J=$(nproc)
log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
export PYTHONUNBUFFERED=1

log "render"
toppose-data synth --out "$W/top_train" --view top --people 1:4 --frames "$(n 14000)" --seed 101 --workers "$J" >/dev/null
toppose-data synth --out "$W/side_train" --view side --people 1:3 --frames "$(n 6000)" --seed 102 --workers "$J" >/dev/null
toppose-data synth --out "$W/test_top_full" --view top --people 1:4 --frames "$(n 300)" --seed 201 --fully-in-view --workers "$J" >/dev/null
toppose-data synth --out "$W/test_top_any" --view top --people 1:4 --frames "$(n 300)" --seed 202 --workers "$J" >/dev/null
toppose-data synth --out "$W/test_side" --view side --people 1:3 --frames "$(n 300)" --seed 203 --fully-in-view --workers "$J" >/dev/null
toppose-data synth --out "$W/val_top_full" --view top --people 1:4 --frames "$(n 300)" --seed 204 --fully-in-view --workers "$J" >/dev/null
toppose-data synth --out "$W/calib" --view top --people 1:4 --frames 64 --seed 401 --workers "$J" >/dev/null
log "rendered"

TRAIN_MIN=${TRAIN_MIN:-4.5}
toppose-train --arch lite --data "$W/top_train:0.7" --data "$W/side_train:0.3" --val "$W/val_top_full" \
  --out "$W/bundled" --epochs "${EPOCHS:-24}" --epoch-size "$(n 16000)" --batch-size 64 --optimizer adamw --lr 2e-3 \
  --amp bf16 --workers $((J - 1)) --time-limit "$TRAIN_MIN" --seed 0 --val-images 100 --channels-last 2>&1 | grep -v "^\s*$" | tee "$W/train.log"
log "trained"
for t in test_top_full test_top_any test_side; do
  toppose-eval --weights "$W/bundled/best.pth" --data "$W/$t" --out "$W/eval_$t.json" > "$W/eval_$t.txt" 2>&1
  toppose-eval --oracle --data "$W/$t" --out "$W/oracle_$t.json" > /dev/null 2>&1
  log "$t: $(sed -n 2p "$W/eval_$t.txt")"
done
toppose-export "$W/bundled/best.pth" -o "$W/toppose-lite.onnx" --fp16 --int8 --calibration "$W/calib" --calibration-frames 64 --force 2>&1 | grep -v -i warning | tee "$W/export.log"
cp "$W/toppose-lite.onnx" "$W/toppose-lite.int8.onnx" "$W/toppose-lite.fp16.onnx" "$W/bundled/best.pth" "$OUT/" 2>/dev/null
log "exported"

python3 scripts/gpu_checks.py --out benchmarks/results_gpu.json > "$W/gpu_checks.json" 2>"$W/gpu_checks.err" && log "gpu checks done"
python3 -m torch.distributed.run --standalone --nproc_per_node=1 -m toppose.train.cli --arch lite \
  --data "$W/top_train" --out "$W/ddp" --epochs 1 --epoch-size 512 --batch-size 32 --workers 4 --amp bf16 > "$W/ddp.log" 2>&1
log "ddp: $(tail -1 "$W/ddp.log")"

pack() { tar czf "$OUT/logs.tar.gz" -C "$W" --exclude='*.pth' --exclude='*.onnx' --exclude='images' --exclude='*_train' \
  train.log export.log gpu_checks.json gpu_checks.err ddp.log $(cd "$W" && ls -d eval_* oracle_* bundled experiment 2>/dev/null); }
pack
LEFT=$(( ${BUDGET_S:-540} - ($(date +%s) - T0) ))
log "experiment with ${LEFT}s left"
if [ "$LEFT" -gt 120 ]; then
  PRE=$(python3 -c "print(round(($LEFT - 75) * 0.4 / 60, 2))"); FT=$(python3 -c "print(round(($LEFT - 75) * 0.2 / 60, 2))")
  python3 scripts/experiment.py --data "$W" --out "$W/experiment" --pretrain-min "$PRE" --finetune-min "$FT" \
    --batch-size 64 --epoch-size "$(n 8000)" --workers $((J - 1)) --amp bf16 --eval-images "$(n 150)" \
    --results benchmarks/results_experiment.json 2>&1 | grep -v "^\s*$" | tail -12 | tee "$W/experiment.log"
  pack
fi
log "done"
