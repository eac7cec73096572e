"""Does the metrics gate hold under varied numerics and still catch real regressions?

Trains and evaluates runs of params.yaml through the pipeline's own code, once per case, each in its
own process (ATEN_CPU_CAPABILITY and friends are read when torch loads), then runs the gate's paired
comparison of every case against the `reference` case (the pipeline exactly as `dvc repro` runs
it) and, with --committed, against the committed baseline (metrics/baseline.json). Two tables:

- numerics: the same code under other CPU kernels (ATEN_CPU_CAPABILITY default / avx2 / avx512,
  an emulated AVX2-only machine), 2 torch threads, 0 or 2 loader workers, and another seed (the
  largest change a rerun can bring: a fresh draw of every random number). The gate must PASS;
- injections: regressions made in this process only, by monkeypatching or by overriding settings,
  never by code in the pipeline: zero pose input, uniform PA attention, half the epochs, shuffled
  training labels in the first run, no left/right joint swap on flips, blank (zero) frames; and,
  cheaply, the reference model evaluated with one of zero pose input, uniform attention or blank
  frames (`*_at_test`). The gate should FAIL.

Needs the runs' data (`dvc repro index@synth`). Outputs go to --out (never models/ or metrics/); a
case whose predictions exist is not trained again, so an interrupted bench resumes. CPU is scarce:
pick a subset, e.g.

    python -m bench.gate_regressions --runs synth_1 --cases reference aten_avx2 zero_pose
    python -m bench.gate_regressions --list
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

NUMERICS = {  # name -> (environment, train-setting overrides)
    "reference": ({}, {}),
    "aten_default": ({"ATEN_CPU_CAPABILITY": "default"}, {}),
    "aten_avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, {}),
    "aten_avx512": ({"ATEN_CPU_CAPABILITY": "avx512"}, {}),
    "avx2_machine": ({"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                      "ONEDNN_MAX_CPU_ISA": "AVX2"}, {}),
    "threads2": ({"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}, {"threads": 2}),
    "workers0": ({}, {"workers": 0}),
    "workers2": ({}, {"workers": 2}),
    "seed1": ({}, {"seed": 1}),
}
INJECTIONS = ("zero_pose", "uniform_attention", "half_epochs", "shuffle_labels", "no_flip_swap", "zero_frames")
AT_TEST = ("zero_pose_at_test", "uniform_attention_at_test", "zero_frames_at_test")   # the reference model, injected at evaluation only
CLEARED_ENV = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA",
               "DNNL_MAX_CPU_ISA")


def _patch_everywhere(name: str, original, replacement) -> None:
    """Rebind ``name`` in every loaded pipeline module that holds ``original`` (robust to where the
    pipeline happens to import it from)."""
    for mod_name, mod in list(sys.modules.items()):
        if mod_name.startswith("pipeline") and getattr(mod, name, None) is original:
            setattr(mod, name, replacement)


def inject(name: str, run: str, first_run: str) -> dict:
    """Apply injection ``name`` to this process; returns train-setting overrides."""
    import numpy as np
    import torch

    import pipeline.train as train_mod
    if name == "zero_pose":
        original = train_mod.to_model_inputs

        def zero_pose_inputs(batch, model, device):
            # (frames, poses, person mask[, joint visibility]): the joints and their visibility become
            # zeros; the person mask stays (an all-empty mask is another failure, not this one)
            inputs = list(original(batch, model, device))
            for i in (1, 3)[: len(inputs) - 2]:
                inputs[i] = torch.zeros_like(inputs[i]) if inputs[i] is not None else None
            return tuple(inputs)
        _patch_everywhere("to_model_inputs", original, zero_pose_inputs)
    elif name == "zero_frames":  # e.g. a decode or normalisation bug that blanks the frames
        original = train_mod.to_model_inputs

        def zero_frame_inputs(batch, model, device):
            inputs = list(original(batch, model, device))
            inputs[0] = torch.zeros_like(inputs[0]) if inputs[0] is not None else None
            return tuple(inputs)
        _patch_everywhere("to_model_inputs", original, zero_frame_inputs)
    elif name == "uniform_attention":
        from pipeline.model.pa import PoseAwareAttention

        def uniform(self, mid, fused, joints=None):
            batch, steps = fused.shape[:2]
            weights = torch.full(mid.shape[:1] + mid.shape[-2:], 1.0 / (mid.shape[-1] * mid.shape[-2]),
                                 dtype=mid.dtype, device=mid.device)
            feature = mid.mean((2, 3))
            return feature.unflatten(0, (batch, steps)), weights.unflatten(0, (batch, steps))
        PoseAwareAttention.forward = uniform
    elif name == "half_epochs":
        return {"halve_epochs": True}
    elif name == "shuffle_labels" and run == first_run:
        from pipeline import data as data_mod
        original = data_mod.make_dataset

        def shuffled(data, subset, **kwargs):
            ds = original(data, subset, **kwargs)
            if subset == "train":
                rng = np.random.default_rng(0)
                ds.rows["label_id"] = rng.permutation(ds.rows["label_id"].to_numpy())
            return ds
        _patch_everywhere("make_dataset", original, shuffled)
    elif name == "no_flip_swap":
        from pipeline.keypoints import FLIP_PERM
        _patch_everywhere("FLIP_PERM", FLIP_PERM, tuple(range(len(FLIP_PERM))))
    return {}


def child(case: str, run: str, first_run: str, out: Path, params_path: str, epochs: int | None) -> None:
    """Train and evaluate one run under one case (in a fresh process)."""
    import torch

    from pipeline.evaluate import evaluate_run
    from pipeline.params import load_params
    from pipeline.runs import run_spec
    from pipeline.train import train_run

    params = load_params(params_path)
    spec = run_spec(params, run)
    if epochs:
        spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=epochs, min_steps=0))
    overrides = dict(NUMERICS[case][1]) if case in NUMERICS else inject(case.removesuffix("_at_test"), run, first_run)
    if overrides.pop("halve_epochs", False):
        overrides["epochs"] = max(1, spec.train.epochs // 2)
        overrides["min_steps"] = 0   # train.min_steps would give the halved joint phase its epochs back
    settings = dataclasses.replace(spec.train, **overrides)
    spec = dataclasses.replace(spec, train=settings)
    run_dir = out / case / run
    t0 = time.time()
    data = spec.load_data()
    model_path = out / "reference" / run / "model.pt" if case in AT_TEST else run_dir / "model.pt"
    if case not in AT_TEST:
        train_run(data, frames_dir=spec.frames_dir, model_config=spec.model_config, s=spec.train, seed=spec.seed,
                  run_dir=run_dir, plots_dir=run_dir / "plots", run_info=spec.info(), data_fingerprint=spec.data_fingerprint(),
                  pose_augment=spec.pose_augment)
    metrics = evaluate_run(data, model_path, frames_dir=spec.frames_dir, s=spec.train, seed=spec.seed,
                           batch_size=params.evaluate.batch_size, metrics_path=run_dir / "metrics.json",
                           plots_dir=run_dir / "plots", predictions_path=run_dir / "predictions.tmp.csv")
    info = {"case": case, "run": run, "seconds": round(time.time() - t0, 1),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "settings": dataclasses.asdict(settings),
            "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
            "concat_top1": metrics["concat"]["top1"], "fused_top1": metrics["fused"]["top1"]}
    (run_dir / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    os.replace(run_dir / "predictions.tmp.csv", run_dir / "predictions.csv")  # written last: the case is done


def run_case(case: str, run: str, first_run: str, out: Path, params_path: str, epochs: int | None) -> None:
    if (out / case / run / "predictions.csv").exists():
        return
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    env.update(NUMERICS.get(case, ({}, {}))[0])
    (out / case / run).mkdir(parents=True, exist_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] training {case} / {run}", flush=True)
    with open(out / case / run / "log.txt", "w") as log:
        proc = subprocess.run([sys.executable, "-m", "bench.gate_regressions", "--child", case, "--runs", run,
                               "--first-run", first_run, "--out", str(out), "--params", params_path]
                              + (["--epochs", str(epochs)] if epochs else []),
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"{case} / {run} failed (exit {proc.returncode}); see {out / case / run / 'log.txt'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["synth_1", "synth_2", "synth_3"])
    parser.add_argument("--cases", nargs="+", default=list(NUMERICS) + list(INJECTIONS) + list(AT_TEST),
                        help="numerics cases and/or injections (--list)")
    parser.add_argument("--out", default="/tmp/parnet_gate_bench")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train this many epochs in every case, train.min_steps off (a quick probe of which "
                        "numerics change the bits)")
    parser.add_argument("--committed", action="store_true",
                        help="also compare the reference case with the committed baseline")
    parser.add_argument("--no-train", action="store_true", help="only compare the cases already trained")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--first-run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    if args.list:
        print("numerics:", " ".join(NUMERICS), "\ninjections:", " ".join(INJECTIONS + AT_TEST))
        return
    if args.child:
        child(args.child, args.runs[0], args.first_run, out, args.params, args.epochs)
        return
    unknown = sorted(set(args.cases) - set(NUMERICS) - set(INJECTIONS) - set(AT_TEST))
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; known: {list(NUMERICS) + list(INJECTIONS + AT_TEST)}")
    cases = ["reference"] + [c for c in args.cases if c != "reference"]
    if not args.no_train:
        for case in cases:
            for run in args.runs:
                run_case(case, run, args.runs[0], out, args.params, args.epochs)
    report(cases, args.runs, out, args.params, args.committed)


def report(cases: list[str], runs: list[str], out: Path, params_path: str, committed: bool) -> None:
    from pipeline import paths
    from pipeline.gate import compare_predictions, format_report, read_baseline, read_prediction_csv
    from pipeline.params import load_params

    alpha = load_params(params_path).gate.alpha

    def tables(case: str) -> dict | None:
        files = [out / case / run / "predictions.csv" for run in runs]
        return {run: read_prediction_csv(f) for run, f in zip(runs, files)} if all(f.exists() for f in files) else None

    reference = tables("reference")
    if reference is None:
        sys.exit(f"no reference predictions under {out}/reference; run without --no-train first")
    comparisons = {case: (reference, tables(case)) for case in cases if case != "reference"}
    if committed:
        base = read_baseline(paths.gate_baseline())
        comparisons["reference vs committed baseline"] = ({r: base["runs"][r]["predictions"] for r in runs}, reference)
    summary = []
    for case, (base, cur) in comparisons.items():
        if cur is None:
            summary.append((case, None))
            continue
        result = compare_predictions(base, cur, alpha=alpha)
        print(format_report(result, title=f"== {case} vs {'reference' if case in cases else ''}".rstrip()), "\n")
        summary.append((case, result))
    kind = {c: "numerics" if c in NUMERICS else "injection" for c in cases}

    def model_hashes(case: str) -> list[str] | None:
        files = [out / case / run / "info.json" for run in runs]
        return [json.loads(f.read_text())["model_sha256"] for f in files] if all(f.exists() for f in files) else None

    print(f"runs {', '.join(runs)}; alpha {alpha}; changes in points of top-1, pooled over the runs; "
          f"model: are the trained weights byte-identical to the reference's")
    print(f"{'case':<34} {'kind':<10} {'model':<6} {'concat':>7} {'fused':>7} {'changed':>7} {'min drop':>8}  "
          f"verdict  seconds")
    for case, result in summary:
        if result is None:
            print(f"{case:<34} {kind.get(case, ''):<10} (not trained)")
            continue
        pooled = {r.head: r for r in result.rows if r.scope == result.pooled_scope}
        same = "-" if case not in kind else "same" if model_hashes(case) == model_hashes("reference") else "differ"
        secs = sum(json.loads((out / case / run / "info.json").read_text())["seconds"] for run in runs) \
            if case in kind else float("nan")
        print(f"{case:<34} {kind.get(case, 'baseline'):<10} {same:<6} {pooled['concat'].change * 100:+7.1f} "
              f"{pooled['fused'].change * 100:+7.1f} {max(r.discordant for r in pooled.values()):7d} "
              f"{max(r.detectable for r in pooled.values()) * 100:8.1f}  {'PASS' if result.ok else 'FAIL':<7}  "
              f"{secs:7.0f}")
    print("changed: videos whose correctness changed (the larger over the two heads); min drop: the smallest "
          "pooled drop that would have failed with that disagreement")


if __name__ == "__main__":
    main()
