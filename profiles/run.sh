#!/usr/bin/env bash
# Run one paper profile end to end (profiles/README.md): prepare, decode, pose and index
# its dataset, then train and evaluate each of its runs (the three official splits), then the mean
# over the splits. Every stage resumes where an interrupted call stopped; a finished training is
# never resumed (re-running retrains).
#
#   bash profiles/run.sh profiles/ucf101.yaml              # one GPU
#   GPUS=2 bash profiles/run.sh profiles/ucf101.yaml       # the paper's 2 GPUs (torchrun, DDP, 4 clips each)
#   RUNS="ucf101_1" bash profiles/run.sh profiles/ucf101.yaml   # only some splits
#
# Outputs: data/{manifests,frames,poses,index}/<dataset>*, models/<run>/, metrics/runs/<run>.json,
# metrics/plots/<run>/, and metrics/profiles/<profile>.json (mean and std over the splits).
set -euo pipefail
cd "$(dirname "$0")/.."
PARAMS=${1:?usage: bash profiles/run.sh profiles/<name>.yaml}
PY=${PY:-.venv/bin/python}
GPUS=${GPUS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

info=$("$PY" - "$PARAMS" <<'PYEOF'
import sys
from pipeline.params import load_params
p = load_params(sys.argv[1])
if len(p.datasets) != 1:
    sys.exit(f"{sys.argv[1]}: a profile names one dataset, found {sorted(p.datasets)}")
print(next(iter(p.datasets)), " ".join(p.runs))
PYEOF
)
read -r DATASET ALL_RUNS <<<"$info"
RUNS=${RUNS:-$ALL_RUNS}
"$PY" - "$PARAMS" <<'PYEOF'
import sys
from pathlib import Path
from pipeline.params import load_params
p = load_params(sys.argv[1])
weights = p.model.get("pretrained")
if weights and not Path(weights).is_file():
    sys.exit(f"error: {weights} not found: download the ImageNet weights named in {sys.argv[1]} "
             f"(profiles/README.md) or set model.pretrained")
PYEOF

stage() {
  local name=$1; shift
  local start=$(date +%s)
  echo "== $name $*"
  "$PY" -m "stages.$name" --params "$PARAMS" "$@"
  echo "== $name $*: $(( $(date +%s) - start )) s"
}

stage prepare --dataset "$DATASET"
stage decode --dataset "$DATASET"
stage pose --dataset "$DATASET"
stage index --dataset "$DATASET"
for run in $RUNS; do
  if [ "$GPUS" -gt 1 ]; then
    start=$(date +%s)
    echo "== train --run $run on $GPUS GPUs"
    "$PY" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" -m stages.train --params "$PARAMS" --run "$run"
    echo "== train --run $run: $(( $(date +%s) - start )) s"
  else
    stage train --run "$run"
  fi
  stage evaluate --run "$run"
done

"$PY" - "$PARAMS" $RUNS <<'PYEOF'
import sys
from pathlib import Path
from pipeline import paths
from pipeline.evaluate import summarize_runs
from pipeline.params import load_params
profile, runs = Path(sys.argv[1]), sys.argv[2:]
p = load_params(profile)
out = Path("metrics/profiles") / f"{profile.stem}.json"
summary = summarize_runs({r: paths.run_metrics(r) for r in runs}, {r: p.runs[r].dataset for r in runs}, out)
for dataset, m in summary.items():
    print(f"{dataset}, {m['runs']} split(s): concat top-1 {100 * m['concat.top1']:.1f} % "
          f"(+- {100 * m['concat.top1_std']:.1f}), fused top-1 {100 * m['fused.top1']:.1f} %; written to {out}")
PYEOF
