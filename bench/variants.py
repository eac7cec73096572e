"""Train and evaluate the model variants of the paper's Table I (and Table II's person fusion) on
one or more runs of params.yaml, through the pipeline's own train/evaluate code, and print the
table. Needs the run's data (run `dvc repro` first). Outputs go to --out, not to models/ or metrics/.

    python -m bench.variants [--runs synth_1] [--variants tmp sa tmp_sa tmp_pa parnet] [--sum-fusion]
                             [--set train.epochs=30 pose_inputs.fill=zeros ...]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from pipeline.evaluate import evaluate_run
from pipeline.params import load_params
from pipeline.runs import run_spec
from pipeline.train import train_run

LABELS = {"tmp": "TMP", "sa": "SA", "tmp_sa": "TMP+SA", "tmp_pa": "TMP+PA", "parnet": "PARNet (TMP+SA+PA)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["synth_1"])
    parser.add_argument("--variants", nargs="+", default=list(LABELS))
    parser.add_argument("--sum-fusion", action="store_true", help="also PARNet with person fusion by sum")
    parser.add_argument("--out", default="/tmp/parnet_variants")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="override params.yaml values (YAML values), e.g. train.epochs=30")
    args = parser.parse_args()
    params = load_params(overrides=args.set)
    rows = [(v, {}) for v in args.variants]
    if args.sum_fusion:
        rows.append(("parnet", {"person_fusion": "sum"}))
    results = {}
    for variant, extra in rows:
        name = variant + ("_sum" if extra else "")
        for run in args.runs:
            p = dataclasses.replace(params, model={**params.model, "variant": variant, **extra})
            spec = run_spec(p, run)
            out = Path(args.out) / f"{run}_{name}"
            data = spec.load_data()
            t0 = time.time()
            train_run(data, frames_dir=spec.frames_dir, model_config=spec.model_config, s=spec.train,
                      run_dir=out, plots_dir=out, run_info=spec.info(), data_fingerprint=spec.data_fingerprint(),
                      pose_augment=spec.pose_augment, pose_inputs=spec.pose_inputs)
            m = evaluate_run(data, out / "model.pt", frames_dir=spec.frames_dir, s=spec.train,
                             batch_size=params.evaluate.batch_size, metrics_path=out / "metrics.json", plots_dir=out)
            results.setdefault(name, []).append((m["concat"]["top1"], m["fused"]["top1"], time.time() - t0))
            print(f"{run} {name}: concat top-1 {m['concat']['top1']:.3f}, fused {m['fused']['top1']:.3f}, "
                  f"heads {m['heads_top1']}", flush=True)
    print(f"\n| variant | concat top-1 | fused top-1 | train+eval s | runs: {', '.join(args.runs)} |")
    print("|---|---|---|---|---|")
    for name, vals in results.items():
        label = LABELS[name.removesuffix("_sum")] + (" (person fusion: sum)" if name.endswith("_sum") else "")
        c, f, t = (np.mean([v[i] for v in vals]) for i in range(3))
        print(f"| {label} | {100 * c:.1f} | {100 * f:.1f} | {t:.0f} | |")


if __name__ == "__main__":
    main()
