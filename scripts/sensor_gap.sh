#!/usr/bin/env bash
# Which scene factor costs a model AP: today's recipe (top view, 1-4 people fully in frame, 150 frames,
# seed 7001) with one of issue 13's factors changed at a time, then all of them together.
# Usage: bash scripts/sensor_gap.sh [MODEL] [WORK]  -> results/sensor_gap/ap_by_factor.json
set -euo pipefail
MODEL=${1:-runtime/models/toppose-lite.onnx}
W=${2:-data/sensor_gap}
OUT=results/sensor_gap/ap_by_factor.json
declare -A F=([today]="" [d435]="--sensor d435" [xtion]="--sensor xtion" [none]="--sensor none"
  [clutter2]="--clutter 2" [tilt0-20]="--tilt 0:20" [fov58-90]="--fov 58:90" [height2.4-3.5]="--camera-height 2.4:3.5"
  [all]="--sensor d435 --clutter 2 --camera-height 2.4:3.5 --tilt 0:20 --fov 58:90")
ORDER=(today none xtion d435 clutter2 tilt0-20 fov58-90 height2.4-3.5 all)
mkdir -p "$W" "$(dirname "$OUT")"
for k in "${ORDER[@]}"; do
  [ -f "$W/$k/annotations.json" ] || toppose-data synth --out "$W/$k" --view top --people 1:4 --frames 150 \
    --seed 7001 --fully-in-view --workers 2 ${F[$k]} >/dev/null
  toppose-eval --model "$MODEL" --data "$W/$k" --out "$W/eval_$k.json" --force >/dev/null
done
python3 - "$MODEL" "$W" "$OUT" "${ORDER[@]}" <<'PY'
import json, os, sys
model, work, out, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = {n: {k: round(v, 3) for k, v in json.load(open(f"{work}/eval_{n}.json"))["stats"].items() if k in ("AP", "AP50", "AP75")}
        for n in names}
doc = {"model": model, "set": {"view": "top", "people": [1, 4], "fully_in_view": True, "frames": 150, "seed": 7001},
       "command": "bash scripts/sensor_gap.sh " + model, "ap_by_factor": rows}
tmp = out + ".tmp"
json.dump(doc, open(tmp, "w"), indent=1)
os.replace(tmp, out)
print(json.dumps(rows))
PY
