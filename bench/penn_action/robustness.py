"""Accuracy of a pose-only model on Penn Action's test videos when their ground-truth joints are
degraded the way a real estimator degrades poses: joints missing (10 %, 30 %), jitter, the
person lost in some frames (flicker), tracks that start late or end early, and all of these at
once. The degradations are pipeline.pose_augment's (one home), applied to each test video's
whole pose array (normalised to the frame) with a seed per video, where an estimator's errors
would be: before the model's pose-input preparation (pipeline.pose_inputs, as the checkpoint
records it) and view.

  python -m bench.penn_action.robustness --params bench/penn_action/zoo.yaml --run penn_zoo_1
      [--model models/penn_zoo_1/model.pt] [--out metrics/runs/penn_zoo_1.robustness.json]
      [--conditions joints_10 joints_30 flicker_20] [--set seed=1 ...]

Prints one line per condition (top-1, top-5, mean class accuracy of the concatenation head) and
writes them as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pipeline import paths
from pipeline.evaluate import classification_metrics
from pipeline.io import write_json
from pipeline.params import load_params
from pipeline.pose_augment import PoseAugmentParams, degrade_points
from pipeline.clip_spec import ClipSpec
from pipeline.runs import run_spec
from pipeline.model_io import load_model, predict_logits
from pipeline.data import make_dataset, make_loader

# name -> (what it imitates, the degradation)
CONDITIONS = {
    "clean": ("ground truth as annotated", PoseAugmentParams()),
    "joints_10": ("10 % of joints missing", PoseAugmentParams(joint_drop=0.1)),
    "joints_30": ("30 % of joints missing", PoseAugmentParams(joint_drop=0.3)),
    "jitter_2": ("jitter, std 2 % of the frame", PoseAugmentParams(jitter=0.02)),
    "flicker_20": ("person lost in 20 % of frames", PoseAugmentParams(person_drop=0.2)),
    "short_tracks": ("every track cut to a random 40-100 % of the video",
                     PoseAugmentParams(track_cut=1.0, track_min=0.4)),
    "all": ("10 % joints, jitter 1 %, flicker 10 %, half the tracks cut",
            PoseAugmentParams(joint_drop=0.1, jitter=0.01, person_drop=0.1, track_cut=0.5, track_min=0.4)),
}


def degrade_videos(poses: dict[str, np.ndarray], p: PoseAugmentParams, seed: int) -> dict[str, np.ndarray]:
    """Each video's poses [F, N, 14, 3] degraded by ``p`` with its own seed (order-independent)."""
    return {vid: degrade_points(arr, p, np.random.default_rng([seed, i]))
            for i, (vid, arr) in enumerate(sorted(poses.items()))}


def measure(params_path: str, run: str, model_path: Path, conditions=CONDITIONS, seed: int = 0,
            batch_size: int = 64, overrides: list[str] | tuple = ()) -> dict:
    params = load_params(params_path, overrides)
    spec = run_spec(params, run)
    data = spec.load_data()
    model, ckpt = load_model(model_path)
    if model.uses_frames:
        raise ValueError(f"{model_path}: variant {model.config.variant} sees frames; this benchmark is for "
                         "pose-only models")
    test_ids = set(data.subset("test")["video_id"])
    test_poses = {v: a for v, a in data.poses.items() if v in test_ids}
    results = {}
    for name, (what, p) in conditions.items():
        start = time.perf_counter()
        degraded = dataclasses.replace(data, poses={**data.poses, **degrade_videos(test_poses, p, seed)})
        test = make_dataset(degraded, "test", clip=ClipSpec.from_checkpoint(ckpt, settings=spec.train),
                            frames_dir=None, max_persons=model.config.num_persons, seed=spec.seed, train=False)
        loader = make_loader(test, batch_size=batch_size, epoch=0, seed=spec.seed, shuffle=False,
                             workers=0)
        heads, labels = predict_logits(model, loader, torch.device("cpu"))
        m = classification_metrics(heads, labels, len(data.classes))
        results[name] = {"what": what, "degradation": {k: v for k, v in dataclasses.asdict(p).items()
                                                       if k in ("joint_drop", "jitter", "person_drop",
                                                                "track_cut", "track_min") and v},
                         "top1": m["concat"]["top1"], "top5": m["concat"]["top5"],
                         "mean_class_accuracy": m["concat"]["mean_class_accuracy"],
                         "num_videos": m["num_videos"], "seconds": round(time.perf_counter() - start, 1)}
        r = results[name]
        print(f"{name:>13}  top-1 {r['top1']:.4f}  top-5 {r['top5']:.4f}  mean class {r['mean_class_accuracy']:.4f}"
              f"  ({what}; {r['num_videos']} videos, {r['seconds']} s)", flush=True)
    return {"model": str(model_path), "run": run, "params": params_path, "seed": seed, "conditions": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.penn_action.robustness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="bench/penn_action/zoo.yaml")
    parser.add_argument("--run", default="penn_zoo_1")
    parser.add_argument("--model", type=Path, help="default: models/<run>/model.pt")
    parser.add_argument("--out", type=Path, help="default: metrics/runs/<run>.robustness.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the degradations (the same for every model)")
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS),
                        help="default: all of them")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="params overrides, as the stages take them (e.g. the run's entry under runs:)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = args.model or paths.run_dir(args.run) / "model.pt"
    out = args.out or Path(f"metrics/runs/{args.run}.robustness.json")
    try:
        result = measure(args.params, args.run, model, seed=args.seed, overrides=args.set,
                         conditions={name: CONDITIONS[name] for name in args.conditions})
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    write_json(out, result)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
