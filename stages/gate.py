"""CI's metrics regression check: fail when a metric drops by more than gate.tolerance against the
committed baseline (the metrics files at git HEAD, or --baseline-dir)."""
import sys
from pathlib import Path

from pipeline import paths
from pipeline.gate import check_metrics
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--rev", {"default": "HEAD"}), ("--baseline-dir", {"default": None}))
    files = [paths.summary_metrics()] + [paths.run_metrics(r) for r in params.runs]
    ok, report = check_metrics(files, params.gate.tolerance, rev=args.rev,
                               baseline_dir=Path(args.baseline_dir) if args.baseline_dir else None)
    print(report)
    sys.exit(0 if ok else 1)
