"""The project's default estimator against another real estimator on real video (issue 15):

    python -m bench.weizmann.pose_agreement [--params params.yaml] [--workers 1] [--fresh] [--out FILE.json]

The 31 real Weizmann videos in ../shared/datasets/weizmann/videos (180x144, one person each,
static camera) go through the pipeline twice, into data/bench_weizmann/ (git-ignored; reruns
resume):
- prepare: the ``pyskl`` adapter on Weizmann_xsub_litehrnet.pkl with ``video_dir: videos``
  (the 62 clips without a video are excluded); decode with params.yaml's ``decode`` section;
- the pose stage with params.yaml's default image estimator, BlazePose (``pose.blazepose``
  options, ``pose.max_persons``, ``pose.tracking``), on the decoded frames;
  ``--fresh`` deletes its parts first, so its wall time is the whole run (else resumed videos count
  as done);
- the pose stage with ``pose.estimator: import`` of the LiteHRNet poses in the pickle (COCO-17
  mapped to the 14 keypoints: the same mapping rules as BlazePose's 33 landmarks, so head top
  and neck are derived the same way from nose and shoulders in both).

LiteHRNet is the reference here, not ground truth: the numbers measure agreement. Per frame:
- "finds the person": the estimator has at least one person with a joint in the frame;
- PCK@a: a reference joint (confidence > ``--ref-min-score``) counts as correct when BlazePose's
  joint of that type lies within a x torso size of it, torso size = the reference's distance from
  neck (shoulder midpoint) to hip midpoint in pixels of the 180x144 frame (frames without both
  shoulders and both hips in the reference are left out). BlazePose's person is the one (of its
  up to ``max_persons``) nearest to the reference person. "all" counts a joint BlazePose misses
  (no person, or that joint missing) as wrong; "found" only counts joints BlazePose has.
Left and right joints are pooled per joint type.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.weizmann.common import PICKLE, SHARED, WORK  # noqa: E402
from pipeline.datasets import get_adapter  # noqa: E402
from pipeline.decoding import DecodeSettings, decode_dataset  # noqa: E402
from pipeline.keypoints import INDEX, KEYPOINT_NAMES  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.pose.runner import PoseSettings, run_pose_stage  # noqa: E402
from pipeline.pose.schema import read_poses, to_dense  # noqa: E402

WIDTH, HEIGHT = 180, 144
JOINT_TYPES = ("head_top", "neck", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def _joints_of(kind: str) -> list[int]:
    return [INDEX[n] for n in KEYPOINT_NAMES if n == kind or n.endswith("_" + kind)]


def run_stages(params_path: str, workers: int, fresh: bool) -> dict[str, float]:
    p = load_params(params_path)
    manifest = get_adapter("pyskl").build_manifest(SHARED, {"pickle": PICKLE, "video_dir": "videos", "strict": False})
    manifest.dataset = "weizmann31"
    manifest.save(WORK / "manifest.parquet")
    d = p.decode
    decode_dataset(WORK / "manifest.parquet", SHARED, WORK / "frames", WORK / "frames.parquet",
                   settings=DecodeSettings(short_side=d.short_side, fps=d.fps, jpeg_quality=d.jpeg_quality),
                   workers=workers, strict=False)
    if fresh:
        shutil.rmtree(WORK / "blazepose.parts", ignore_errors=True)
    times = {}
    runs = {"blazepose": PoseSettings(estimator="blazepose", options=dict(p.pose.blazepose),
                                      max_persons=p.pose.max_persons, dtype=p.pose.dtype,
                                      frames_dir=str(WORK / "frames"), tracking=p.pose.tracking),
            "litehrnet": PoseSettings(estimator="import", options={"format": "pyskl", "source": str(SHARED / PICKLE)},
                                      max_persons=p.pose.max_persons, dtype=p.pose.dtype, root=str(SHARED),
                                      tracking=p.pose.tracking)}
    for name, settings in runs.items():
        start = time.perf_counter()
        run_pose_stage(WORK / "manifest.parquet", WORK / "frames.parquet", WORK / f"{name}.parquet",
                       WORK / f"{name}.videos.parquet", WORK / f"{name}.parts", settings=settings,
                       workers=workers, strict=False)
        times[name] = time.perf_counter() - start
    return times


def agreement(ref_min_score: float, max_persons: int) -> dict:
    counts = {v: int(n) for v, n in pd.read_parquet(WORK / "litehrnet.videos.parquet")[["video_id", "num_frames"]].values}
    ref = to_dense(read_poses(WORK / "litehrnet.parquet"), counts, max_persons)
    est = to_dense(read_poses(WORK / "blazepose.parquet"), counts, max_persons)
    scale = np.array([WIDTH, HEIGHT], np.float32)
    found = {"litehrnet": 0, "blazepose": 0}
    overlap = {"both": 0, "litehrnet only": 0, "blazepose only": 0, "neither": 0}
    frames = 0
    hits = {a: {k: [] for k in JOINT_TYPES} for a in (0.1, 0.2)}
    hits_found = {a: {k: [] for k in JOINT_TYPES} for a in (0.1, 0.2)}
    torsos = []
    offset_y = {k: [] for k in JOINT_TYPES}   # BlazePose minus LiteHRNet, image y (down), torso units
    for vid, n in counts.items():
        r, e = ref[vid][:n], est[vid][:n]
        for f in range(n):
            frames += 1
            ref_people = [p for p in range(max_persons) if (r[f, p, :, 2] > 0).any()]
            est_people = [p for p in range(max_persons) if (e[f, p, :, 2] > 0).any()]
            found["litehrnet"] += bool(ref_people)
            found["blazepose"] += bool(est_people)
            overlap[("both" if est_people else "litehrnet only") if ref_people else
                    ("blazepose only" if est_people else "neither")] += 1
            if not ref_people:
                continue
            rp = r[f, ref_people[0]]  # Weizmann: one person; LiteHRNet's file holds at most one
            sho, hip = rp[[INDEX["left_shoulder"], INDEX["right_shoulder"]]], rp[[INDEX["left_hip"], INDEX["right_hip"]]]
            if not ((sho[:, 2] > 0).all() and (hip[:, 2] > 0).all()):
                continue
            torso = float(np.linalg.norm((sho[:, :2].mean(0) - hip[:, :2].mean(0)) * scale))
            if torso <= 0:
                continue
            torsos.append(torso)
            best, best_d = None, np.inf
            for p in est_people:
                both = (rp[:, 2] > 0) & (e[f, p, :, 2] > 0)
                if both.any():
                    d = np.linalg.norm((rp[both, :2] - e[f, p, both, :2]) * scale, axis=-1).mean()
                    if d < best_d:
                        best, best_d = p, d
            for kind in JOINT_TYPES:
                for j in _joints_of(kind):
                    if not rp[j, 2] > max(ref_min_score, 0.0):
                        continue
                    has = best is not None and e[f, best, j, 2] > 0
                    dist = np.linalg.norm((rp[j, :2] - e[f, best, j, :2]) * scale) / torso if has else np.inf
                    if has:
                        offset_y[kind].append(float((e[f, best, j, 1] - rp[j, 1]) * scale[1] / torso))
                    for a in (0.1, 0.2):
                        hits[a][kind].append(dist <= a)
                        if has:
                            hits_found[a][kind].append(dist <= a)
    pck = {f"pck@{a}": {k: float(np.mean(v)) if v else None for k, v in hits[a].items()} for a in hits}
    pck_found = {f"pck@{a}": {k: float(np.mean(v)) if v else None for k, v in hits_found[a].items()} for a in hits_found}
    for table, source in ((pck, hits), (pck_found, hits_found)):
        for a in source:
            joined = [x for v in source[a].values() for x in v]
            table[f"pck@{a}"]["all joints"] = float(np.mean(joined)) if joined else None
    return {"videos": len(counts), "frames": frames, "found_fraction": {k: v / frames for k, v in found.items()},
            "found_overlap": {k: v / frames for k, v in overlap.items()},
            "pck_all": pck, "pck_found": pck_found,
            "torso_px": {"median": float(np.median(torsos)), "p10": float(np.percentile(torsos, 10)),
                         "p90": float(np.percentile(torsos, 90))},
            "median_offset_y": {k: float(np.median(v)) if v else None for k, v in offset_y.items()},
            "joints_counted": {k: len(v) for k, v in hits[0.1].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--ref-min-score", type=float, default=0.0)
    ap.add_argument("--fresh", action="store_true", help="re-run BlazePose on every video (times the whole run)")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here too")
    args = ap.parse_args()
    times = run_stages(args.params, args.workers, args.fresh)
    p = load_params(args.params)
    res = agreement(args.ref_min_score, p.pose.max_persons)
    res["pose_stage_seconds"] = times
    res["blazepose_options"] = dict(p.pose.blazepose)
    print(f"\nWeizmann: {res['videos']} real videos, {res['frames']} frames; BlazePose (params.yaml pose.blazepose "
          f"{res['blazepose_options']}) vs LiteHRNet (pyskl pickle) as reference")
    print("finds the person: " + ", ".join(f"{k} {v:.1%}" for k, v in res["found_fraction"].items())
          + " of frames (" + ", ".join(f"{k} {v:.1%}" for k, v in res["found_overlap"].items()) + ")")
    t = res["torso_px"]
    print(f"torso (reference neck to mid-hip): median {t['median']:.1f} px, 10-90 % {t['p10']:.1f}-{t['p90']:.1f} px")
    print(f"{'joint type':<11} {'n':>5} {'PCK@0.1':>8} {'PCK@0.2':>8}   {'found@0.1':>9} {'found@0.2':>9}"
          f"  median y offset (torso; + = BlazePose lower)")
    for kind in (*JOINT_TYPES, "all joints"):
        n = res["joints_counted"].get(kind, sum(res["joints_counted"].values()))
        row = [res[t][f"pck@{a}"][kind] for t in ("pck_all", "pck_found") for a in (0.1, 0.2)]
        print(f"{kind:<11} {n:>5} " + " ".join(f"{x:>8.1%}" if x is not None else f"{'-':>8}" for x in row[:2])
              + "   " + " ".join(f"{x:>9.1%}" if x is not None else f"{'-':>9}" for x in row[2:])
              + (f"  {res['median_offset_y'][kind]:+.3f}" if res["median_offset_y"].get(kind) is not None else ""))
    frames_s = res["frames"] / times["blazepose"] if times["blazepose"] > 0 else 0
    print("pose stage wall time (resumed parts count as done): " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items())
          + (f"; BlazePose {frames_s:.1f} frames/s with {args.workers} worker(s)" if args.fresh else ""))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
