#!/usr/bin/env bash
# Device call 1 (GPU figures for issue 7): carry .whl .stage .gdata/kodak24 (prepare.sh).
#   bench/device/bench.sh   ->  $OUT/refine_speed_gpu.md, $OUT/bench.log
set -o pipefail
source bench/device/setup.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/bench.log"
timeout "${BENCH_S:-200}" python3 bench/refine_speed.py --out "$OUT/refine_speed_gpu.md" 2>&1 | tee -a "$OUT/bench.log"
