"""Copy a trained Penn Action model into the model zoo and write its model card from the measured
numbers (the evaluate stage's metrics and bench.penn_action.robustness's), so every number on
the card comes from the commands it names.

  python -m bench.penn_action.publish_zoo [--run penn_zoo_1] [--entry penn_action_tmp]

The checkpoint must load with torch's weights-only unpickler and stay small (MAX_MB), since the
zoo is committed to git.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import torch

from bench.penn_action.robustness import CONDITIONS
from pipeline import paths
from pipeline.io import atomic_path, read_json
from pipeline.zoo import ROOT

MAX_MB = 5.0
COMMANDS = """\
# 1. data, training and test evaluation (about 10-30 min on a 2-core CPU)
PARAMS=bench/penn_action/zoo.yaml RUN={run} bash bench/penn_action/run.sh
# 2. accuracy on ground truth degraded like an estimator
python -m bench.penn_action.robustness --params bench/penn_action/zoo.yaml --run {run}
# 3. copy the model here and write this card
python -m bench.penn_action.publish_zoo --run {run} --entry {entry}
# or all three: bash bench/penn_action/zoo.sh"""


def card(entry: str, run: str, ckpt: dict, metrics: dict, robust: dict, size: int, digest: str) -> str:
    classes = ckpt["classes"]
    cfg = ckpt["model_config"]
    info = ckpt["run"]
    aug = {k: v for k, v in (info.get("pose_augment") or {}).items() if v not in (0, 0.0)}
    c, f = metrics["concat"], metrics["fused"]
    pose = info.get("pose") or {}
    blaze = (pose.get("estimators") or {}).get("blazepose") or {}
    tf = pose.get("track_filter") or {}
    order = [name for name in CONDITIONS if name in robust["conditions"]]   # as the benchmark lists them
    rows = "\n".join(f"| {name} | {r['what']} | {r['top1']:.2%} | {r['top5']:.2%} | {r['mean_class_accuracy']:.2%} |"
                     for name, r in ((n, robust["conditions"][n]) for n in order))
    return f"""# Model card: `{entry}`

A pose-only PARNet model (variant `{cfg['variant']}`: the TA-LSTM pose stream, no pixels) that
recognises {len(classes)} sports and exercise actions of Penn Action in anyone's video from the
skeleton of its main person. `python -m stages.predict my_clip.mp4` uses it when no `--model` is
given; predict runs the BlazePose estimator on the video (the model was trained on ground-truth
joints, which a new video does not have), over every frame as the pose stage would pose it, with the
settings recorded in the checkpoint (pipeline/pose/video_pose.py): BlazePose options
`{blaze}`, people tracked across frames ({pose.get('tracking')}) and a track seen in at most
{tf.get('max_frames')} frames with a mean score under {tf.get('max_score')} dropped as a false person.

**For**: a quick, CPU-only guess at which of these {len(classes)} actions one clearly visible person
performs, and a working example of the pipeline's predict path. **Not for**: any other action, crowds
or scenes without such a person, or anything where a wrong answer matters (limits below).

## Classes

{", ".join(f"`{name}`" for name in classes)}

## Training data and protocol

- Penn Action's ground-truth joints (`../shared/datasets/penn_action/labels`, 13 joints mapped to
  the project's 14: the head point stands for the head top, neck = shoulder midpoint; joints
  marked invisible are missing). No frames: the dataset is used pose-only.
- Official split: {metrics['num_videos']} test videos; the training videos minus a validation subset
  ({info.get('name', run)}, `index.val_fraction` of `bench/penn_action/zoo.yaml`) that picks the epoch
  (best epoch {metrics['best_epoch']}, validation top-1 {metrics['val_top1']:.2%}).
- The settings (`bench/penn_action/zoo.yaml`) are the Penn Action protocol's `alt` candidate
  (`bench/penn_action/protocol.sh`), which it chose over the profile without estimator-like
  degradations on validation top-1 alone (docs/benchmarks.md, "Penn Action pose-stream benchmark"). Nothing was
  chosen on test: this model's test set was evaluated once, by the evaluate stage, after training;
  the degraded test sets below only measure.
- Model: hidden size {cfg['hidden_size']}, TA-LSTM window {cfg['window']}, {cfg['num_persons']} person,
  {info['num_segments']} steps (TSN segments, middle frame at test), person view (the clip's
  people box, so framing and frame size do not matter).
- Robust to what an estimator does: training clips get, besides rotation/scale/stretch/shift and
  the left-right flip, joints dropped, jitter, the person dropped from frames (flicker) and tracks
  cut short (`pipeline/pose_augment.py`): {", ".join(f"{k} {v}" for k, v in aug.items() if k != "view")}.

## Accuracy on Penn Action's test videos (ground truth)

| head | top-1 | top-5 | mean class accuracy |
|---|---|---|---|
| concat (what predict ranks) | {c['top1']:.2%} | {c['top5']:.2%} | {c['mean_class_accuracy']:.2%} |
| fused | {f['top1']:.2%} | {f['top5']:.2%} | {f['mean_class_accuracy']:.2%} |

## Accuracy on ground truth degraded like an estimator

Each test video's joints degraded before the model's view (seed {robust['seed']}, one per video):

| condition | what | top-1 | top-5 | mean class accuracy |
|---|---|---|---|---|
{rows}

## Limits

- It knows only these {len(classes)} actions and has no "other" class: any video gets one of them.
  Read a low top-1 probability as "none of these".
- One person: the estimator's best-scored track. Penn Action shows one athlete, mostly filling the
  frame, filmed from the side or the front; crowds, tiny people, heavy occlusion and unusual
  viewpoints are outside what it saw.
- Trained and tested on annotated joints. Real estimator errors were imitated, not measured:
  Penn Action's frames are not available here, so its accuracy on BlazePose's poses of Penn
  Action videos is unknown. BlazePose has no head-top joint (it is extrapolated from the nose,
  which in profile lands in front of the face) while Penn's head point is annotated.
- The real clips of `../shared/datasets/clips` are of other actions: the check on them
  (`tests/test_zoo.py`) shows prediction runs and is stable, not that it is right.

## File

`{entry}/model.pt`: {size / 1e6:.2f} MB, sha256 `{digest}`, loads with `torch.load(..., weights_only=True)`
(`pipeline.model_io.load_model`).

## How it was made

```bash
{COMMANDS.format(run=run, entry=entry)}
```
"""


def publish(run: str, entry: str, zoo_dir: Path = ROOT / "zoo") -> Path:
    model_path = paths.run_dir(run) / "model.pt"
    metrics_path = paths.run_metrics(run)
    robust_path = Path(f"metrics/runs/{run}.robustness.json")
    for path, how in ((model_path, "the train stage"), (metrics_path, "the evaluate stage"),
                      (robust_path, "python -m bench.penn_action.robustness")):
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; run {how} first (see bench/penn_action/zoo.sh)")
    ckpt = torch.load(model_path, map_location="cpu", weights_only=True)
    size = model_path.stat().st_size
    if size > MAX_MB * 1e6:
        raise ValueError(f"{model_path}: {size / 1e6:.1f} MB, over the zoo's {MAX_MB} MB: too big to commit")
    out_dir = zoo_dir / entry
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pt", suffix=".pt") as tmp:
        shutil.copyfile(model_path, tmp)
    digest = hashlib.sha256((out_dir / "model.pt").read_bytes()).hexdigest()
    text = card(entry, run, ckpt, read_json(metrics_path), read_json(robust_path), size, digest)
    with atomic_path(out_dir / "README.md", suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.penn_action.publish_zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="penn_zoo_1")
    parser.add_argument("--entry", default="penn_action_tmp")
    args = parser.parse_args(argv)
    try:
        out = publish(args.run, args.entry)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"published {out / 'model.pt'} and its card {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
