#!/usr/bin/env bash
# Weizmann real videos, leave persons out (issues 25 item 5, 29 item 5): TMP, SA, PARNet with the
# default profile (params.yaml's model/train/pose_inputs/index), poses by BlazePose on the videos (bp)
# and the shipped LiteHRNet poses (lh), 3 folds of whole persons; then a pose-only TMP with a long
# schedule as the comparator, and the tables.
#
#   bash bench/weizmann/real/run.sh          # everything; finished runs (metrics.json) are kept
#   rm -rf data/bench_weizmann/real/out      # before it, to train everything again
#
# One python process at a time, one thread: the machine's cores are shared.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
W=data/bench_weizmann/real
"$PY" -m bench.weizmann.real_folds setup
for k in bp lh; do
  for stage in prepare decode pose features index; do
    t0=$SECONDS
    "$PY" -m "stages.$stage" --params "$W/params.$k.yaml" --dataset "weizmann_real_$k" --set train.threads=1
    echo "$stage weizmann_real_$k: $((SECONDS - t0)) s"
  done
done
train() {  # out-folder run variant [overrides...]
  local out=$1 run=$2 variant=$3 k=${2:14:2}; shift 3
  [ -f "$out/${run}_$variant/metrics.json" ] && return 0
  local t0=$SECONDS
  "$PY" -m bench.variants --params "$W/params.$k.yaml" --runs "$run" --variants "$variant" --out "$out" \
      --set train.threads=1 "$@"
  echo $((SECONDS - t0)) > "$out/${run}_$variant/seconds.txt"
}
for k in bp lh; do
  for fold in 1 2 3; do
    for variant in tmp sa parnet; do
      train "$W/out/$k" "weizmann_real_${k}_$fold" "$variant"
    done
    # the comparator: pose-only TMP, bench/weizmann's long schedule (AdamW lr 3e-3, 100 epochs, batch 8)
    train "$W/out/${k}_tmp_long" "weizmann_real_${k}_$fold" tmp train.optimizer=adamw train.lr=0.003 \
        train.epochs=100 train.batch_size=8 train.pose_warmup_epochs=0 train.min_steps=0
    # the same with bench/weizmann/params.yaml's person view and keypoint augmentation, N = 1 (its xsub profile)
    train "$W/out/${k}_tmp_person" "weizmann_real_${k}_$fold" tmp train.optimizer=adamw train.lr=0.003 \
        train.epochs=100 train.batch_size=8 train.pose_warmup_epochs=0 train.min_steps=0 train.flip_prob=0.5 \
        train.warmup_steps=20 pose.max_persons=1 'pose_augment={view: person, person_margin: 0.2, rotation: 15,
        scale: 0.2, stretch: 0.1, shift: 0.05, joint_drop: 0.1, jitter: 0.005}'
  done
done
"$PY" -m bench.weizmann.real_folds report
