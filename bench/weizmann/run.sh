#!/usr/bin/env bash
# Weizmann xsub benchmark (issue 15): prepare -> decode (nothing: pose-only) -> pose (import of the
# LiteHRNet pickle) -> index with bench/weizmann/params.yaml, then TMP training per seed on the CPU:
#
#   bash bench/weizmann/run.sh [CONFIG]     # CONFIG: one of bench/weizmann/tmp_seeds.py CONFIGS
#
# Choosing CONFIG: python -m bench.weizmann.tmp_seeds select (validation only).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
for stage in prepare decode pose index; do
  "$PY" -m "stages.$stage" --params bench/weizmann/params.yaml --dataset weizmann
done
"$PY" -m bench.weizmann.tmp_seeds test --config "${1:-adamw_lr3e-3_e100_b8}"
