#!/usr/bin/env bash
# Device call 2 (issue 4): the λ family q1..q4 trained on, side by side on one GPU (one
# process each), for as long as BUDGET_S allows. Carry .whl .gdata, right after bench.sh
# (prepare.sh says why): each λ continues its bundled model, staged in /tmp by that call;
# without it, from the bundled default (q3, λ=0.013) — as in the first session, whose warm
# starts had been removed from the machine by the time this ran.
#   BUDGET_S=400 bench/device/train_family.sh  ->  $OUT/sgaplus-msh-q{1..4}.pt, logs.tar.gz
# Phase 1 runs 45 s to measure the steps/s of four runs sharing the GPU; phase 2 resumes
# each with --steps set so the cosine decay ends inside the budget (a run cut by
# --time-limit instead would stop before its learning rate has decayed).
set -o pipefail
T0=$(date +%s)
BUDGET=${BUDGET_S:-400} DEVICE=${DEVICE:-cuda}
source bench/device/setup.sh
mkdir -p "$OUT/logs" runs/gpu
DATA="--data .gdata/bsds500/train --data .gdata/bsds500/val --data .gdata/bsds500/test"
ARGS="--batch 16 --crop 256 --lr 1e-4 --lr-min 1e-6 --val-dir .gdata/kodak24 --val-every 250
      --ckpt-every 60 --device $DEVICE --threads 2 $EXTRA"
FAMILY="1:0.0035 2:0.0067 3:0.013 4:0.025"
DEFAULT=src/sgaplus/weights/default.pt

init_of() {  # q: the bundled sgaplus-msh-q<q>.pt, staged or travelled, else the default
  local f
  for f in "/tmp/sgaplus-stage/sgaplus-msh-q$1.pt" "src/sgaplus/weights/sgaplus-msh-q$1.pt"; do
    if [ -f "$f" ]; then echo "$f"; return; fi
  done
  echo "$DEFAULT"
}
train() {  # q λ steps minutes
  python3 -m sgaplus.cli train --out "runs/gpu/q$1" --lambda "$2" --init "$(init_of "$1")" \
    --steps "$3" --time-limit "$4" $DATA $ARGS --name "sgaplus-msh-q$1" \
    --note "continued on $DEVICE by bench/device/train_family.sh, 4 runs sharing the device" \
    >> "$OUT/logs/q$1.log" 2>&1
}
last() {  # step seconds of a run's last CSV row
  python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1])))[-1]; print(r['step'], r['seconds'])" \
    "runs/gpu/q$1/log.csv"
}

for ql in $FAMILY; do train "${ql%%:*}" "${ql#*:}" 4000 "${PHASE1_MIN:-0.75}" & done
wait
(OMP_NUM_THREADS=4 timeout "${PYTEST_S:-240}" python3 -m pytest -q -p no:cacheprovider \
   > "$OUT/pytest_gpu.log" 2>&1 &)
for ql in $FAMILY; do
  q=${ql%%:*}
  read -r step secs <<< "$(last "$q")"
  [ -n "$secs" ] || { echo "q$q: phase 1 left no log" | tee -a "$OUT/train_family.log"; continue; }
  left=$(( BUDGET - ($(date +%s) - T0) - 50 ))  # 50 s: start-up, validation, export, copy
  steps=$(python3 -c "print(int($step + $step / max($secs, 1e-9) * $left * 0.93))")
  echo "q$q: $step steps in $secs s; phase 2 to step $steps within $left s" | tee -a "$OUT/train_family.log"
  train "$q" "${ql#*:}" "$steps" "$(python3 -c "print(($left + 10) / 60)")" &
done
wait
for ql in $FAMILY; do
  q=${ql%%:*}
  cp "runs/gpu/q$q/model.pt" "$OUT/sgaplus-msh-q$q.pt" && grep -a "sgaplus train:" "$OUT/logs/q$q.log" | tail -n 3
  cp "runs/gpu/q$q/log.csv" "$OUT/logs/q$q.csv"
done
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs train_family.log 2>/dev/null && rm -rf "$OUT/logs"
echo "done in $(( $(date +%s) - T0 )) s"
