#!/usr/bin/env bash
# Penn Action benchmark of the pose stream (issue 8): prepare -> decode -> pose (ground truth) ->
# index -> train -> evaluate for dataset `penn`, run `penn_1`, with the profile
# bench/penn_action/params.yaml, on the CPU. Prints the metrics and the wall time of each stage.
#
#   bash bench/penn_action/run.sh                 # from the project root
#   PARAMS=other.yaml bash bench/penn_action/run.sh
#   PARAMS=bench/penn_action/zoo.yaml RUN=penn_zoo_1 bash bench/penn_action/run.sh   # the zoo's run
#
# Outputs go to the pipeline's usual paths: data/{manifests,frames,poses,index}/penn*,
# models/$RUN/, metrics/runs/$RUN.json, metrics/plots/$RUN/{confusion,training}.png (RUN=penn_1).
# A finished training is never resumed: re-running retrains (delete nothing by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."
PARAMS=${PARAMS:-bench/penn_action/params.yaml}
RUN=${RUN:-penn_1}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

total_start=$(date +%s)
stage() {
  local name=$1; shift
  local start=$(date +%s)
  echo "== $name"
  "$PY" -m "stages.$name" --params "$PARAMS" "$@"
  local secs=$(( $(date +%s) - start ))
  echo "== $name: ${secs} s"
  printf '%s\t%s\n' "$name" "$secs" >> "$times"
}
times=$(mktemp)
trap 'rm -f "$times"' EXIT

stage prepare --dataset penn
stage decode --dataset penn
stage pose --dataset penn
stage index --dataset penn
stage train --run "$RUN"
stage evaluate --run "$RUN"

total=$(( $(date +%s) - total_start ))
"$PY" - "$total" "$times" "$RUN" <<'EOF'
import json, sys
total, times, run = int(sys.argv[1]), dict(line.split("\t") for line in open(sys.argv[2]).read().split("\n") if line), sys.argv[3]
m = json.load(open(f"metrics/runs/{run}.json"))
print("\nPenn Action, split 1 (official train/test), pose stream (TMP) on ground-truth joints")
print(f"test videos: {m['num_videos']}; best epoch on validation: {m['best_epoch']} "
      f"(val top-1 {m['val_top1']:.4f})")
for head in ("concat", "fused"):
    h = m[head]
    print(f"{head:>6}: top-1 {h['top1']:.4f}  top-5 {h['top5']:.4f}  mean class accuracy {h['mean_class_accuracy']:.4f}")
print("heads top-1: " + ", ".join(f"{k} {v:.4f}" for k, v in m["heads_top1"].items()))
print("wall time: " + ", ".join(f"{k} {int(v)} s" for k, v in times.items()) + f"; total {total} s ({total / 60:.1f} min)")
print(f"confusion matrix: metrics/plots/{run}/confusion.png; training curves: metrics/plots/{run}/training.png")
EOF
