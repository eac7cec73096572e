"""The numbers of bench/penn_action/protocol.sh: each candidate's validation top-1 (seed 0, the
choice), then the chosen candidate's test metrics and robustness per seed with their mean +- std
(sample standard deviation over the seeds). Reads models/<run>/history.json,
metrics/runs/<run>.json and metrics/runs/<run>.robustness.json for runs penn_<candidate>_s<seed>.

  python -m bench.penn_action.protocol_summary --chosen profile --seeds 0 1 2 \\
      --candidates profile alt --conditions joints_10 joints_30 flicker_20 all \\
      [--out metrics/runs/penn_protocol.json]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pipeline import paths
from pipeline.io import read_json, write_json


def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (0 for a single value)."""
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "n": len(a)}


def best_val_top1(history: list[dict]) -> float:
    return max(h["val_top1"] for h in history if "val_top1" in h)


def summarise(chosen: str, seeds: list[int], candidates: list[str], conditions: list[str],
              metrics_dir: Path = Path("metrics/runs"), models_dir: Path | None = None) -> dict:
    run_dir = (lambda run: models_dir / run) if models_dir else paths.run_dir
    run = lambda cand, seed: f"penn_{cand}_s{seed}"  # noqa: E731
    choice = {c: best_val_top1(read_json(run_dir(run(c, seeds[0])) / "history.json")) for c in candidates}
    per_seed = {}
    for seed in seeds:
        m = read_json(metrics_dir / f"{run(chosen, seed)}.json")
        rob = read_json(metrics_dir / f"{run(chosen, seed)}.robustness.json")["conditions"]
        per_seed[seed] = {"val_top1": m["val_top1"], "best_epoch": m["best_epoch"], "test_videos": m["num_videos"],
                          "top1": m["concat"]["top1"], "top5": m["concat"]["top5"],
                          "mean_class_accuracy": m["concat"]["mean_class_accuracy"],
                          "fused_top1": m["fused"]["top1"],
                          **{f"{c}_top1": rob[c]["top1"] for c in conditions}}
    keys = list(next(iter(per_seed.values())))
    summary = {k: mean_std([per_seed[s][k] for s in seeds]) for k in keys if k not in ("best_epoch", "test_videos")}
    return {"candidates_val_top1_seed0": choice, "chosen": chosen, "seeds": seeds, "per_seed": per_seed,
            "mean_std": summary, "conditions": conditions}


def report(result: dict) -> str:
    pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
    lines = ["Penn Action, split 1, TMP on ground-truth joints; protocol: choices on validation only",
             "validation top-1, seed 0 (the choice): " +
             ", ".join(f"{c} {pct(v)}" for c, v in result["candidates_val_top1_seed0"].items()) +
             f" -> {result['chosen']}"]
    per_seed, ms = result["per_seed"], result["mean_std"]
    cols = ["val_top1", "top1", "top5", "mean_class_accuracy", "fused_top1"] + \
        [f"{c}_top1" for c in result["conditions"]]
    lines.append(f"{'seed':>6} " + " ".join(f"{c:>19}" for c in cols))
    for seed, row in per_seed.items():
        lines.append(f"{seed:>6} " + " ".join(f"{pct(row[c]):>19}" for c in cols) +
                     f"   (best epoch {row['best_epoch']}, {row['test_videos']} test videos)")
    lines.append(f"{'mean':>6} " + " ".join(f"{pct(ms[c]['mean']) + ' +- ' + pct(ms[c]['std']):>19}" for c in cols))
    lines.append("(percent; +- is the sample standard deviation over the seeds; top-1/top-5/mean class "
                 "accuracy of the concatenation head; *_top1 after the robustness degradations)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.penn_action.protocol_summary", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chosen", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", nargs="+", default=["profile", "alt"])
    parser.add_argument("--conditions", nargs="+", default=["joints_10", "joints_30", "flicker_20", "all"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        result = summarise(args.chosen, args.seeds, args.candidates, args.conditions)
    except FileNotFoundError as err:
        print(f"error: {err.filename}: missing; run bash bench/penn_action/protocol.sh", file=sys.stderr)
        return 1
    print(report(result))
    if args.out:
        write_json(args.out, result)
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
