#!/usr/bin/env bash
# The model zoo's Penn Action entry (zoo/penn_action_tmp), from scratch: data, training and test
# evaluation with the profile bench/penn_action/zoo.yaml, accuracy on degraded ground truth, then
# the checkpoint and its model card copied into zoo/. Run from anywhere; ~10-30 min on a 2-core CPU.
#   bash bench/penn_action/zoo.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PY=${PY:-.venv/bin/python} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
RUN=${RUN:-penn_zoo_1}
ENTRY=${ENTRY:-penn_action_tmp}
PARAMS=bench/penn_action/zoo.yaml RUN=$RUN bash bench/penn_action/run.sh
"$PY" -m bench.penn_action.robustness --params bench/penn_action/zoo.yaml --run "$RUN"
"$PY" -m bench.penn_action.publish_zoo --run "$RUN" --entry "$ENTRY"
