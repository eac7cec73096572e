"""Weizmann xsub, pose-only TMP on the LiteHRNet poses imported from the pyskl pickle (issue 15).

    bash bench/weizmann/run.sh                     # prepare/decode/pose/index with the profile, then:
    python -m bench.weizmann.tmp_seeds select [--configs NAME ...]   # validation only, seed 0
    python -m bench.weizmann.tmp_seeds test --config NAME [--seeds 0 1 2]
    python -m bench.weizmann.tmp_seeds report --config NAME [--seeds 0 1 2]  # after one test per seed in parallel

``select`` trains each candidate configuration (CONFIGS: overrides of bench/weizmann/params.yaml) with
seed 0 and prints its validation top-1 (10 videos carved from the 73 training videos by the index
stage): the best epoch's, and the mean of the last 10 epochs. It never evaluates the test set.
``test`` trains the chosen configuration once per seed (the training seed; the validation carve
stays the index stage's) and evaluates each on the 20 test videos (people moshe and shahar), then
prints test top-1 per seed and mean +- std (population std over the seeds). ``report`` prints the
same from the metrics the test runs wrote (for seeds run as separate processes). Outputs go to
data/bench_weizmann/tmp/ (git-ignored), not to models/ or metrics/.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench.weizmann.common import WORK  # noqa: E402
from pipeline.evaluate import evaluate_run  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.runs import run_spec  # noqa: E402
from pipeline.train import train_run  # noqa: E402

PARAMS = "bench/weizmann/params.yaml"
RUN = "weizmann_xsub"
CONFIGS = {
    "sgd_lr0.02_e50_b16": [],  # the profile as written (the Penn Action profile's optimiser settings)
    "sgd_lr0.02_e150_b8": ["train.epochs=150", "train.batch_size=8"],
    "adamw_lr1e-3_e100_b8": ["train.optimizer=adamw", "train.lr=0.001", "train.epochs=100", "train.batch_size=8"],
    "adamw_lr3e-3_e100_b8": ["train.optimizer=adamw", "train.lr=0.003", "train.epochs=100", "train.batch_size=8"],
}
# A config with its own params file instead of PARAMS (issue 29: the default profile's settings).
# default_profile_e100: the same with the "pose-only model with a long schedule": 100
# epochs at AdamW 3e-3 in one phase (the best xsub candidate above, without its person view and
# keypoint augmentation).
CONFIG_PARAMS = {"default_profile": "bench/weizmann/default_profile.yaml",
                 "default_profile_e100": "bench/weizmann/default_profile.yaml"}
CONFIGS["default_profile"] = []
CONFIGS["default_profile_e100"] = ["train.lr=0.003", "train.epochs=100", "train.pose_warmup_epochs=0",
                                   "train.min_steps=0"]


def _train(config: str, seed: int, overrides: list[str]):
    params = load_params(CONFIG_PARAMS.get(config, PARAMS), overrides=[*CONFIGS[config], f"seed={seed}", *overrides])
    spec = run_spec(params, RUN)
    out = WORK / "tmp" / f"{config}_seed{seed}"
    data = spec.load_data()
    t0 = time.time()
    summary = train_run(data, frames_dir=spec.frames_dir, model_config=spec.model_config, s=spec.train, seed=spec.seed,
                        run_dir=out, plots_dir=out, run_info=spec.info(), data_fingerprint=spec.data_fingerprint(),
                        pose_augment=spec.pose_augment, pose_inputs=spec.pose_inputs)
    return params, spec, data, out, summary, time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["select", "test", "report"])
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--config", default=None)
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every run")
    args = ap.parse_args()
    if args.phase == "select":
        rows = []
        for config in args.configs:
            _, _, data, out, summary, secs = _train(config, 0, args.set)
            history = json.loads((out / "history.json").read_text())
            vals = [h["val_top1"] for h in history if "val_top1" in h]
            rows.append((config, summary["best"]["top1"], summary["best"]["epoch"], float(np.mean(vals[-10:])), secs))
            print(f"{config}: best val top-1 {rows[-1][1]:.3f} (epoch {rows[-1][2]}), last-10 mean {rows[-1][3]:.3f}, "
                  f"{secs:.0f} s", flush=True)
        print(f"\nvalidation videos: {len(data.subset('val'))}")
        print("| config | best val top-1 (epoch) | mean val top-1, last 10 epochs | train s |\n|---|---|---|---|")
        for c, b, e, m, s in rows:
            print(f"| {c} | {b:.3f} ({e}) | {m:.3f} | {s:.0f} |")
        return
    if args.config not in CONFIGS:
        raise SystemExit(f"--config must be one of {sorted(CONFIGS)}")
    if args.phase == "report":
        tops = []
        for seed in args.seeds:
            m = json.loads((WORK / "tmp" / f"{args.config}_seed{seed}" / "metrics.json").read_text())
            tops.append(m["concat"]["top1"])
            print(f"seed {seed}: test top-1 {m['concat']['top1']:.4f} on {m['num_videos']} test videos (best epoch "
                  f"{m['best_epoch']}, val top-1 {m['val_top1']:.3f}; heads {m['heads_top1']})")
        print(f"\nWeizmann xsub TMP ({args.config}): test top-1 {100 * np.mean(tops):.1f} +- {100 * np.std(tops):.1f} % "
              f"over seeds {args.seeds} ({', '.join(f'{100 * t:.1f}' for t in tops)})")
        return
    tops = []
    for seed in args.seeds:
        params, spec, data, out, summary, secs = _train(args.config, seed, args.set)
        m = evaluate_run(data, out / "model.pt", frames_dir=spec.frames_dir, s=spec.train, seed=spec.seed,
                         batch_size=params.evaluate.batch_size, metrics_path=out / "metrics.json", plots_dir=out)
        tops.append(m["concat"]["top1"])
        print(f"seed {seed}: test top-1 {m['concat']['top1']:.4f} on {m['num_videos']} test videos "
              f"(best epoch {m['best_epoch']}, val top-1 {m['val_top1']:.3f}; heads {m['heads_top1']}), {secs:.0f} s",
              flush=True)
    print(f"\nWeizmann xsub TMP ({args.config}): test top-1 {100 * np.mean(tops):.1f} +- {100 * np.std(tops):.1f} % "
          f"over seeds {args.seeds} ({', '.join(f'{100 * t:.1f}' for t in tops)})")


if __name__ == "__main__":
    main()
