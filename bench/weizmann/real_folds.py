"""Weizmann on real video, leave persons out (issues 25 item 5, 29 item 5): TMP, SA and PARNet with
the default profile, poses from BlazePose run on the videos and from the shipped LiteHRNet file.

    bash bench/weizmann/real/run.sh          # setup, stages, variants, comparator, report
    python -m bench.weizmann.real_folds setup [--base params.yaml]
    python -m bench.weizmann.real_folds report [--out data/bench_weizmann/real/out]

``setup`` builds data/bench_weizmann/real/ (git-ignored): ``root/labels.csv`` (path,label,group =
the person) and ``root/videos/<person>_<label id>.mp4`` symlinks to the real videos in
../shared/datasets/weizmann/videos (never copies), leaving out the classes with one video (jack,
wave1, wave2: a class cannot be both trained and tested on one video; bend has none): 28 videos,
6 classes, 9 persons. It then writes ``params.bp.yaml`` and ``params.lh.yaml``: the project's
params.yaml (``--base``) with bench/weizmann/real/params.yaml's ``datasets`` and ``runs``
replacing params.yaml's and its ``decode`` and ``pose`` merged in, and ``pose.estimator``
``blazepose`` (bp) or ``import`` (lh, the LiteHRNet pickle). Everything else (model, train,
pose_inputs, index, ...) is the default profile as it stands.

``report`` prints, per pose source, each variant's concat top-1 per fold, mean ± sample std over
the folds, the correct test clips pooled over the folds, test clips per fold, chance (uniform and
the fold's most frequent class), the index's validation carve per fold, and train+eval seconds.
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import yaml

from bench.weizmann.common import ROOT, SHARED

WORK = ROOT / "data" / "bench_weizmann" / "real"
PROFILE = ROOT / "bench" / "weizmann" / "real" / "params.yaml"
LABELS = {0: "wave2", 1: "bend", 2: "jack", 3: "jump", 4: "pjump", 5: "run", 6: "side", 7: "skip", 8: "walk",
          9: "wave1"}   # label ids of ../shared/datasets/weizmann/README.md (the number in each file name)
SOURCES = {"bp": ("weizmann_real_bp", {"estimator": "blazepose"}, "BlazePose on the videos"),
           "lh": ("weizmann_real_lh", {"estimator": "import"}, "LiteHRNet (shipped pyskl file)")}
VARIANTS = {"tmp": "TMP", "sa": "SA", "parnet": "PARNet"}
# out/<source>_<name>: pose-only TMP comparators with a long schedule (run.sh): the default profile's
# TMP with bench/weizmann's AdamW lr 3e-3, 100 epochs, batch 8; and the same with bench/weizmann's
# person view and keypoint augmentation (N = 1), the xsub benchmark's tuned pose-only profile
COMPARATORS = {"tmp_long": "TMP, AdamW lr 3e-3, 100 epochs",
               "tmp_person": "TMP, AdamW lr 3e-3, 100 epochs, person view + keypoint augmentation (N = 1)"}


def select_videos(video_dir: Path) -> tuple[list[tuple[str, str, str]], dict[str, list[str]]]:
    """(stem, label, person) of the videos kept, and the left-out videos by class: a class needs
    two videos (of two persons) to be trained in one fold and tested in another."""
    rows = []
    for path in sorted(video_dir.glob("*.mp4")):
        person, label_id = path.stem.rsplit("_", 1)
        rows.append((path.stem, LABELS[int(label_id)], person))
    per_class = Counter(label for _, label, _ in rows)
    persons = {label: {p for _, lab, p in rows if lab == label} for label in per_class}
    kept = [r for r in rows if per_class[r[1]] >= 2 and len(persons[r[1]]) >= 2]
    left = {}
    for stem, label, _ in rows:
        if (stem, label, _) not in kept:
            left.setdefault(label, []).append(stem)
    return kept, left


def build_root(root: Path, video_dir: Path) -> tuple[list[tuple[str, str, str]], dict[str, list[str]]]:
    kept, left = select_videos(video_dir)
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for old in videos.iterdir():
        if old.is_symlink() and old.stem not in {s for s, _, _ in kept}:
            old.unlink()
    for stem, _, _ in kept:
        link, target = videos / f"{stem}.mp4", (video_dir / f"{stem}.mp4").resolve()
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        for stem, label, person in kept:
            w.writerow([f"videos/{stem}.mp4", label, person])
    return kept, left


def compose(base: dict, profile: dict, pose: dict) -> dict:
    """params.yaml with the profile's datasets and runs, its decode and pose merged in, and ``pose``."""
    out = copy.deepcopy(base)
    out["datasets"] = copy.deepcopy(profile["datasets"])
    out["runs"] = copy.deepcopy(profile["runs"])
    for section in ("decode", "pose"):
        merged = dict(out.get(section) or {})
        for key, value in (profile.get(section) or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        out[section] = merged
    out["pose"] = {**out["pose"], **pose}
    return out


def setup(base_path: Path) -> None:
    kept, left = build_root(WORK / "root", SHARED / "videos")
    base = yaml.safe_load(base_path.read_text())
    profile = yaml.safe_load(PROFILE.read_text())
    digest = hashlib.sha256(base_path.read_bytes()).hexdigest()[:12]
    for key, (_, pose, what) in SOURCES.items():
        params = compose(base, profile, pose)
        text = (f"# generated by python -m bench.weizmann.real_folds setup: {base_path.name} (sha256 {digest}) "
                f"+ {PROFILE.relative_to(ROOT)}; poses: {what}\n" + yaml.safe_dump(params, sort_keys=False))
        (WORK / f"params.{key}.yaml").write_text(text)
    classes = Counter(label for _, label, _ in kept)
    print(f"{WORK / 'root'}: {len(kept)} videos, {len(classes)} classes ({dict(sorted(classes.items()))}), "
          f"{len({p for _, _, p in kept})} persons; left out (one video in the class): "
          + ", ".join(f"{c} ({', '.join(v)})" for c, v in sorted(left.items())))
    print(f"params: {WORK}/params.bp.yaml, params.lh.yaml (base {base_path}, sha256 {digest}; model "
          f"{base.get('model', {}).get('backbone')}, pretrained {base.get('model', {}).get('pretrained')})")


def _index_info(dataset: str, split: str) -> dict:
    import pandas as pd

    from pipeline import paths
    from pipeline.io import read_parquet_metadata

    index_path = ROOT / paths.split_index(dataset, split)
    meta = read_parquet_metadata(index_path)
    rows = pd.read_parquet(index_path)
    counts = rows.groupby("subset")["video_id"].nunique().to_dict() if "subset" in rows else {}
    test = rows[rows["subset"] == "test"].drop_duplicates("video_id") if "subset" in rows else rows.iloc[:0]
    majority = test["label_id"].value_counts().max() / len(test) if len(test) else float("nan")
    return {"counts": counts, "validation": meta.get("validation", {}), "majority": majority,
            "classes": len(meta.get("classes", []))}


def report(out: Path) -> None:
    import numpy as np

    total_secs: dict[str, float] = {}
    for key, (dataset, _, what) in SOURCES.items():
        folds = ["1", "2", "3"]
        info = {f: _index_info(dataset, f) for f in folds}
        n_classes = info["1"]["classes"]
        print(f"\n### {what} (dataset {dataset})")
        for f in folds:
            v, c = info[f]["validation"], info[f]["counts"]
            print(f"fold {f}: {c.get('train', 0)} train / {c.get('val', 0)} val / {c.get('test', 0)} test clips; "
                  f"validation by {str(v.get('rule', '?')).rstrip('s')}: {v.get('reason', '')}")
        print("\n| variant | " + " | ".join(f"fold {f}" for f in folds) + " | mean ± std | pooled | train+eval s |")
        print("|---|" + "---|" * len(folds) + "---|---|---|")
        rows = [(v, VARIANTS[v]) for v in VARIANTS] + list(COMPARATORS.items())
        for variant, label in rows:
            tops, correct, videos, secs = [], 0, 0, []
            for f in folds:
                run = f"{dataset}_{f}"
                base = out / (key if variant in VARIANTS else f"{key}_{variant}")
                name = variant if variant in VARIANTS else "tmp"
                metrics = base / f"{run}_{name}" / "metrics.json"
                if not metrics.is_file():
                    tops.append(None)
                    continue
                m = json.loads(metrics.read_text())
                tops.append(m["concat"]["top1"])
                correct += round(m["concat"]["top1"] * m["num_videos"])
                videos += m["num_videos"]
                timing = base / f"{run}_{name}" / "seconds.txt"
                if timing.is_file():
                    secs.append(float(timing.read_text()))
            done = [t for t in tops if t is not None]
            mean = (f"{100 * np.mean(done):.1f} ± {100 * np.std(done, ddof=1):.1f}" if len(done) > 1 else "-")
            print(f"| {label} | " + " | ".join("-" if t is None else f"{100 * t:.1f}" for t in tops)
                  + f" | {mean} | {correct}/{videos} | {' / '.join(f'{s:.0f}' for s in secs) or '-'} |")
            total_secs[key] = total_secs.get(key, 0) + sum(secs)
        tests = [info[f]["counts"].get("test", 0) for f in folds]
        print(f"\ntest clips per fold: {' / '.join(map(str, tests))} ({sum(tests)} in all); chance: uniform "
              f"{100 / n_classes:.1f} % ({n_classes} classes), the fold's most frequent test class "
              + " / ".join(f"{100 * info[f]['majority']:.1f}" for f in folds) + " %")
    print("\ntraining + evaluation, every row and fold: " + ", ".join(f"{k} {s / 60:.1f} min" for k, s in total_secs.items())
          + f" ({sum(total_secs.values()) / 60:.1f} min in all; one thread)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["setup", "report"])
    ap.add_argument("--base", default=str(ROOT / "params.yaml"), help="the default profile (params.yaml)")
    ap.add_argument("--out", default=str(WORK / "out"))
    args = ap.parse_args()
    if args.phase == "setup":
        setup(Path(args.base))
    else:
        report(Path(args.out))


if __name__ == "__main__":
    main()
