"""Train and evaluate the model variants of the paper's Table I (and Table II's person fusion) on
one or more runs of params.yaml, through the pipeline's own train/evaluate code, and print the
table. Needs the run's data (run `dvc repro` first). Outputs go to --out, not to models/ or metrics/.

    python -m bench.variants [--params params.yaml] [--runs synth_1] [--variants tmp sa tmp_sa tmp_pa parnet]
                             [--sum-fusion] [--set train.epochs=30 pose_inputs.fill=zeros ...] [--validation-only]

--validation-only compares settings the honest way: it prints each run's validation top-1 at the
epoch training keeps (the best one on validation; every head at that epoch) and never evaluates
the test set, so settings chosen from its table were not chosen on test. It also prints the kept
model's concat top-1 per class on validation (pooled over the runs at the end), which shows where a
setting gains or loses (the embedded dataset's relation pairs).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from pipeline.evaluate import evaluate_run, subset_logits
from pipeline.io import read_json
from pipeline.params import load_params
from pipeline.runs import run_spec
from pipeline.train import train_run

LABELS = {"tmp": "TMP", "sa": "SA", "tmp_sa": "TMP+SA", "tmp_pa": "TMP+PA", "parnet": "PARNet (TMP+SA+PA)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--runs", nargs="+", default=["synth_1"])
    parser.add_argument("--variants", nargs="+", default=list(LABELS))
    parser.add_argument("--sum-fusion", action="store_true", help="also PARNet with person fusion by sum")
    parser.add_argument("--out", default="/tmp/parnet_variants")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="override params.yaml values (YAML values), e.g. train.epochs=30")
    parser.add_argument("--validation-only", action="store_true",
                        help="report validation top-1 at the kept epoch; do not evaluate the test set")
    args = parser.parse_args()
    params = load_params(args.params, overrides=args.set)
    rows = [(v, {}) for v in args.variants]
    if args.sum_fusion:
        rows.append(("parnet", {"person_fusion": "sum"}))
    results, per_class = {}, {}
    for variant, extra in rows:
        name = variant + ("_sum" if extra else "")
        for run in args.runs:
            p = dataclasses.replace(params, model=dataclasses.replace(params.model, variant=variant, **extra))
            spec = run_spec(p, run)
            out = Path(args.out) / f"{run}_{name}"
            data = spec.load_data()
            t0 = time.time()
            trained = train_run(data, frames_dir=spec.frames_dir, model_config=spec.model_config, s=spec.train, seed=spec.seed,
                      run_dir=out, plots_dir=out, run_info=spec.info(), data_fingerprint=spec.data_fingerprint(),
                      pose_augment=spec.pose_augment, pose_inputs=spec.pose_inputs, features_dir=spec.features_dir)
            if args.validation_only:
                kept = kept_epoch_validation(out / "history.json", trained["best"]["epoch"])
                results.setdefault(name, []).append({**kept, "videos": len(data.subset("val")),
                                                     "seconds": time.time() - t0})
                heads, labels, _, _ = subset_logits(data, "val", out / "model.pt", frames_dir=spec.frames_dir,
                                                    s=spec.train, seed=spec.seed, batch_size=params.evaluate.batch_size,
                                                    features_dir=spec.features_dir)
                hits = per_class.setdefault(name, {c: [] for c in data.classes})
                for label, pred in zip(labels, heads["concat"].argmax(1)):
                    hits[data.classes[label]].append(pred == label)
                print(f"{run} {name}: validation (epoch {kept['epoch']}) concat top-1 {kept['concat']:.3f}, "
                      f"heads {kept['heads']}", flush=True)
                continue
            m = evaluate_run(data, out / "model.pt", frames_dir=spec.frames_dir, s=spec.train, seed=spec.seed,
                             batch_size=params.evaluate.batch_size, metrics_path=out / "metrics.json", plots_dir=out,
                             features_dir=spec.features_dir)
            results.setdefault(name, []).append({"concat": m["concat"]["top1"], "fused": m["fused"]["top1"],
                                                 "heads": m["heads_top1"], "videos": m["num_videos"],
                                                 "seconds": time.time() - t0})
            print(f"{run} {name}: concat top-1 {m['concat']['top1']:.3f}, fused {m['fused']['top1']:.3f}, "
                  f"heads {m['heads_top1']}", flush=True)
    print(format_table(results, args.runs, "validation" if args.validation_only else "test"))
    for name, hits in per_class.items():
        print(f"{name} validation top-1 per class, pooled over the runs: "
              + ", ".join(f"{c} {100 * np.mean(h):.0f} ({len(h)})" for c, h in hits.items() if h))


def kept_epoch_validation(history_path: Path, epoch: int) -> dict:
    """The validation top-1 of every head at ``epoch``, the one training kept (train_run's best)."""
    kept = next((r for r in read_json(history_path) if r["epoch"] == epoch and "val_top1" in r), None)
    if kept is None:
        raise SystemExit(f"error: {history_path}: no validation top-1 at epoch {epoch} (empty validation "
                         f"subset?). Fix: set index.val_fraction > 0")
    heads = {k.removeprefix("val_top1_"): v for k, v in kept.items()
             if k.startswith("val_top1_") and k != "val_top1_concat"}
    return {"concat": kept["val_top1"], "fused": float("nan"), "heads": heads, "epoch": kept["epoch"]}


def _mean_std(values) -> str:
    values = 100 * np.asarray(values, dtype=float)
    if np.isnan(values).any():
        return "-"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values.mean():.1f}"


def format_table(results: dict, runs: list[str], subset: str = "test") -> str:
    """Mean ± std over the runs (sample std), the per-run concat top-1 and the heads' mean top-1."""
    lines = [f"\n| variant | concat top-1 | fused top-1 | per run (concat) | heads (mean top-1) | {subset} videos | "
             f"train+eval s |", "|---|---|---|---|---|---|---|"]
    for name, vals in results.items():
        label = LABELS[name.removesuffix("_sum")] + (" (person fusion: sum)" if name.endswith("_sum") else "")
        heads = {h: np.mean([v["heads"][h] for v in vals]) for h in vals[0]["heads"] if h != "concat"}
        lines.append(f"| {label} | {_mean_std([v['concat'] for v in vals])} | {_mean_std([v['fused'] for v in vals])} | "
                     f"{' / '.join(f'{100 * c:.1f}' for c in (v['concat'] for v in vals))} | "
                     f"{', '.join(f'{h} {100 * a:.0f}' for h, a in heads.items()) or '-'} | "
                     f"{sum(v['videos'] for v in vals)} | {np.mean([v['seconds'] for v in vals]):.0f} |")
    return "\n".join(lines) + f"\n(runs: {', '.join(runs)}; ± is the sample std over the runs)"

if __name__ == "__main__":
    main()
