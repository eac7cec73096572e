"""CI's metrics gate: compare every run's per-video test predictions with the committed baseline
(metrics/baseline.json), paired and statistically (gate.alpha in params.yaml); exit 1 on a
regression or a missing file. --update-baseline records the current predictions and metrics as the
new baseline, with how they were made (run it deliberately, then commit metrics/baseline.json)."""
import sys
from pathlib import Path

import yaml

from pipeline import paths
from pipeline.gate import GateInputError, check, update_baseline
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--baseline", {"default": str(paths.gate_baseline()),
                                                  "help": "baseline file (default: %(default)s)"}),
                         ("--update-baseline", {"action": "store_true",
                                                "help": "write the baseline from the current metrics"}))
    runs = list(params.runs)
    raw = yaml.safe_load(Path(args.params).read_text())
    predictions = {r: paths.run_predictions(r) for r in runs}
    if args.update_baseline:
        try:
            update_baseline(runs, predictions=predictions, metrics={r: paths.run_metrics(r) for r in runs},
                            models={r: paths.run_dir(r) / "model.pt" for r in runs}, raw_params=raw,
                            train_threads=params.train.threads, out=Path(args.baseline))
        except GateInputError as err:
            sys.exit(f"error: {err}")
        print(f"wrote {args.baseline} from {len(runs)} run(s); commit it with the change that explains it")
        sys.exit(0)
    ok, report = check(runs, predictions=predictions, baseline_path=Path(args.baseline),
                       alpha=params.gate.alpha, raw_params=raw)
    print(report)
    sys.exit(0 if ok else 1)
