"""Which BlazePose tracks are false people, and what the tracker's filter should drop (issue 12):

    python -m bench.tracking_filter [--cache DIR] [--data ../shared/datasets]

Clips with reference poses from another, top-down estimator, one person each (so every track that
does not sit on the reference person is a false person):
- Weizmann (``weizmann/videos``, LiteHRNet poses in the pyskl pickle beside them), 5 clips:
  side, two-hand wave, one-hand wave, jump, jump in place (three of them a person standing still);
- NTU RGB+D throw (``openpose_json``, OpenPose COCO-18 per frame; an office with chairs);
- UCF101 ApplyEyeMakeup (``clips``, HRNet COCO-17 from PaddleVideo; a close-up face), first 100 frames.
Labelled by eye (first 60 frames): HMDB51 cartwheel (two children, a seated spectator, objects on
a desk) and Kinetics segway (one rider). Unlabelled, for the slot statistics of scenes with many
people: ``opencv_vtest.avi`` (first 80 frames, 3-5 walking pedestrians) and the arm-wrestling clip
(first 60 frames).

BlazePose runs with params.yaml's ``pose.blazepose`` options and ``pose.max_persons`` on the
frames at their native size; its detections are cached in ``--cache`` (default
``/tmp/tracking_filter_cache``) so the analysis reruns in seconds. The detections are linked into
tracks exactly as the pose stage links them (``pipeline.pose.tracking.link_tracks``). A track is
true when its keypoint box overlaps the reference person's box (IoU >= 0.3) in at least half of its
frames. Per track: frames, the mean person score, and the motion: the median over its frames of
the distance its box centre moved since the previous detection, divided by the track's median box
height (so "static" means the same thing at every size). Printed: the distributions for true and
false people (``--tracks``: every track), what a grid of filter thresholds (and those of
``pose.track_filter``) drop, and, after that filter, the detections the old tracker (the N tracks
of highest summed score) and ``assign_slots`` keep, with the slot occupant changes within ``--window``
frames that continue where the last occupant ended or jump, for three values of ``new_slot_distance``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pipeline.keypoints import to_aic14  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.pose.tracking import (assign_slots, box_iou, filter_tracks, keypoint_boxes,  # noqa: E402
                                    link_tracks, track_features)
from pipeline.video import read_video_rgb  # noqa: E402

WEIZMANN = ("daria_6", "denis_0", "lena_9", "ido_3", "moshe_4")
REFERENCE_IOU = 0.3
# Labelled by eye (track index of link_tracks with its defaults: the people in the frames): the
# cartwheel clip's true people are the two children and the seated spectator at the lower right;
# the segway clip's only person is the rider.
BY_EYE = {"cartwheel": {0, 1, 4, 8, 9, 10, 11}, "segway": {0}}
UNREFERENCED = {"arm_wrestling": "arm_wrestling_demo.mp4", "segway": "R6llTwEh07w.mp4",
                "cartwheel": "hmdb51_Turnk_r_Pippi_Michel_cartwheel_f_cm_np2_le_med_6.avi"}


def _weizmann(data: Path):
    with open(data / "weizmann" / "Weizmann_xsub_litehrnet.pkl", "rb") as f:
        ann = {a["frame_dir"]: a for a in pickle.load(f)["annotations"]}
    for name in WEIZMANN:
        a = ann[name]
        kp = np.concatenate([a["keypoint"], a["keypoint_score"][..., None]], -1)[0]   # [T, 17, 3]
        yield name, data / "weizmann" / "videos" / f"{name}.mp4", None, _ref_boxes(kp, "coco17")


def _ntu(data: Path):
    root = data / "openpose_json"
    video = root / "S004C003P003R001A007_rgb_960x540.mp4"
    doc = json.loads((root / "S004C003P003R001A007_rgb" / "S004C003P003R001A007_rgb.json").read_text())
    frames = sorted(doc["data"], key=lambda d: d["frame_index"])
    boxes = np.full((max(d["frame_index"] for d in frames), 4), np.nan, np.float32)
    for d in frames:
        people = [np.asarray(s["pose"], np.float32).reshape(18, 2) for s in d["skeleton"]]
        if not people:
            continue
        # the biggest skeleton is the actor (frames 60-61 also hold a false person on a chair)
        per = [(p[(p > 0).all(-1)] * [960, 540]) for p in people]
        per = [p for p in per if len(p) >= 2]
        if per:
            p = max(per, key=lambda p: np.ptp(p[:, 1]))
            boxes[d["frame_index"] - 1] = [*p.min(0), *p.max(0)]
    yield "ntu_throw", video, None, boxes


def _ucf(data: Path):
    with open(data / "clips" / "v_ApplyEyeMakeup_g01_c01.hrnet_coco17.pkl", "rb") as f:
        a = pickle.load(f)
    kp = np.concatenate([a["keypoint"], a["keypoint_score"][..., None]], -1).astype(np.float32)
    h, w = a["img_shape"]
    # the reference is at 340x256; the video is 320x240
    kp[..., 0] *= 320 / w
    kp[..., 1] *= 240 / h
    best = int(np.argmax(kp[..., 2].sum((1, 2))))
    yield "ucf_makeup", data / "clips" / "v_ApplyEyeMakeup_g01_c01.avi", 100, _ref_boxes(kp[best], "coco17")


def _ref_boxes(kp: np.ndarray, layout: str) -> np.ndarray:
    aic = to_aic14(np.where(kp[..., 2:] > 0.3, kp, np.nan).astype(np.float32), layout)
    aic[..., 2] = np.where(np.isfinite(aic[..., 0]), 1.0, 0.0)
    return keypoint_boxes(aic)


def clips(data: Path):
    yield from _weizmann(data)
    yield from _ntu(data)
    yield from _ucf(data)
    yield "vtest", data / "media" / "opencv_vtest.avi", 80, None
    for name, video in UNREFERENCED.items():
        yield name, data / "clips" / video, 60, None


def detect(name: str, video: Path, max_frames: int | None, cache: Path, estimator_factory):
    path = cache / f"{name}.npz"
    if path.exists():
        z = np.load(path)
        splits = np.cumsum(z["counts"])[:-1]
        return list(zip(np.split(z["keypoints"], splits), np.split(z["scores"], splits)))
    frames, _ = read_video_rgb(video, max_frames=max_frames)
    estimator = estimator_factory()
    found = [estimator(f) for f in frames]
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, keypoints=np.concatenate([d.keypoints for d in found]),
             scores=np.concatenate([d.scores for d in found]),
             counts=np.asarray([len(d.scores) for d in found]))
    print(f"  {name}: {len(found)} frames estimated", flush=True)
    return [(d.keypoints, d.scores) for d in found]


def label_tracks(kps: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """True per track when its box overlaps the reference person's in at least half its frames."""
    out = []
    for t in range(kps.shape[1]):
        present = np.nonzero((kps[:, t, :, 2] > 0).any(-1))[0]
        hits = 0
        for f in present:
            if f < len(ref) and np.isfinite(ref[f]).all():
                hits += box_iou(keypoint_boxes(kps[f, t][None]), ref[f][None])[0, 0] >= REFERENCE_IOU
        out.append(hits >= 0.5 * len(present))
    return np.asarray(out, bool)


def _quantiles(values) -> str:
    v = np.asarray(values, float)
    if not len(v):
        return "-"
    return " / ".join(f"{x:.3g}" for x in np.percentile(v, [0, 10, 50, 90, 100]))


def slot_transitions(keypoints: np.ndarray, slot_of: np.ndarray, max_gap: int, same: float = 0.5):
    """Occupant changes of a slot after at most ``max_gap`` empty frames (what per-slot gap filling
    would bridge): (continuations: the newcomer starts within ``same`` box heights of where the last
    occupant ended, jumps: farther)."""
    boxes = keypoint_boxes(keypoints.reshape(-1, 14, 3)).reshape(*slot_of.shape, 4)
    cont = jump = 0
    for s in range(int(slot_of.max(initial=-1)) + 1):
        f, t = np.nonzero(slot_of == s)
        order = np.argsort(f, kind="stable")
        f, t = f[order], t[order]
        for k in np.flatnonzero(t[1:] != t[:-1]):
            if f[k + 1] - f[k] - 1 <= max_gap:
                a, b = boxes[f[k], t[k]], boxes[f[k + 1], t[k + 1]]
                height = max(a[3] - a[1], b[3] - b[1], 1.0)
                d = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / height
                cont, jump = cont + (d < same), jump + (d >= same)
    return cont, jump


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tracking_filter_cache"))
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--tracks", action="store_true", help="also print every track")
    parser.add_argument("--window", type=int, default=8,
                        help="slot occupant changes within this many frames count (default 8: the "
                             "longest absence pose_inputs bridges, pose_inputs.bridge_gap)")
    args = parser.parse_args(argv)
    p = load_params(args.params).pose
    tf = p.track_filter

    def factory():
        from pipeline.pose.estimators import build_estimator
        return build_estimator("blazepose", dict(p.blazepose), p.max_persons)

    rows, linked = [], {}
    for name, video, max_frames, ref in clips(args.data):
        frames = detect(name, video, max_frames, args.cache, factory)
        kps, scores = link_tracks(frames)
        linked[name] = (kps, scores)
        feats = track_features(kps, scores)
        if ref is not None:
            labels = label_tracks(kps, ref)
        elif name in BY_EYE:
            labels = [t in BY_EYE[name] for t in range(kps.shape[1])]
        else:
            labels = [None] * kps.shape[1]
        for t, ok in enumerate(labels):
            rows.append({"clip": name, "track": t, "true": None if ok is None else bool(ok),
                         **{k: float(v[t]) for k, v in feats.items()}})
    if args.tracks:
        print(f"{'clip':13s} {'track':>5s} {'true':>5s} {'frames':>6s} {'score':>6s} {'motion':>7s}")
        for r in rows:
            print(f"{r['clip']:13s} {r['track']:5d} {str(r['true']):>5s} {r['frames']:6.0f} "
                  f"{r['score']:6.3f} {r['motion']:7.3f}")

    print("Tracks (link_tracks defaults) per clip: true / false / unlabelled")
    for name in linked:
        sel = [r["true"] for r in rows if r["clip"] == name]
        print(f"  {name:13s} {sel.count(True):3d} / {sel.count(False):3d} / {sel.count(None):3d}")
    for kind, label in ((True, "true"), (False, "false")):
        for short in (True, False):
            sel = [r for r in rows if r["true"] is kind and (r["frames"] <= 5) == short]
            print(f"\n{label} people, {'<= 5' if short else '> 5'} frames: {len(sel)} tracks, "
                  f"{sum(r['frames'] for r in sel):.0f} detections (quantiles 0 / 10 / 50 / 90 / 100 %)")
            for key in ("frames", "score", "motion"):
                print(f"  {key:7s} {_quantiles([r[key] for r in sel])}")

    print("\nWhat a filter drops (a track goes when frames <= F and mean score < S and motion <= M):")
    print(f"{'F':>3s} {'S':>5s} {'M':>5s} | {'false tracks':>12s} {'false dets':>10s} | "
          f"{'true tracks':>11s} {'true dets':>9s} | {'unlabelled':>10s}")
    labelled = {k: sum(1 for r in rows if r["true"] is k) for k in (True, False)}
    dets = {k: sum(r["frames"] for r in rows if r["true"] is k) for k in (True, False)}
    grid = [(f, s, m) for f in (1, 3, 5) for s in (0.2, 0.3, 0.5) for m in (0.05, float("inf"))]
    chosen = (tf.max_frames, tf.max_score, tf.max_motion)
    for f, s, m in grid + ([chosen] if chosen not in grid else []):
        drop = [r for r in rows if r["frames"] <= f and r["score"] < s and r["motion"] <= m]
        by = {k: [r for r in drop if r["true"] is k] for k in (True, False, None)}
        mark = "  <- params.yaml pose.track_filter" if (f, s, m) == chosen else ""
        print(f"{f:3d} {s:5.2f} {m:5.2f} | {len(by[False]):5d}/{labelled[False]:<6d} "
              f"{sum(r['frames'] for r in by[False]):4.0f}/{dets[False]:<5.0f} | "
              f"{len(by[True]):4d}/{labelled[True]:<6d} {sum(r['frames'] for r in by[True]):3.0f}/{dets[True]:<5.0f} | "
              f"{len(by[None]):10d}{mark}")

    print(f"\nSlots (params.yaml filter, N = max_persons): detections kept of those left after the filter, "
          "by the old tracker (the N tracks of highest summed score) and this one; occupant changes "
          f"of a slot within {args.window} frames that continue where the last occupant ended (< 0.5 box "
          "heights) or jump, by new_slot_distance (-1: the slot vacated longest ago; 1: the default; "
          "inf: always the nearest)")
    print(f"{'clip':13s} {'N':>2s} {'detections':>10s} {'old kept':>8s} {'new kept':>8s} | "
          f"{'cont/jump -1':>12s} {'1':>6s} {'inf':>6s}")
    totals: dict[int, np.ndarray] = {}
    for name, (kps, scores) in linked.items():
        keep = filter_tracks(kps, scores, max_frames=tf.max_frames, max_score=tf.max_score,
                             max_motion=tf.max_motion)
        kps, scores = kps[:, keep], scores[:, keep]
        present = (kps[..., 2] > 0).any(-1)
        for n in sorted({p.max_persons, 2}):
            total = np.where(present, np.nan_to_num(scores), 0).sum(0)
            old = present[:, np.argsort(-total, kind="stable")[:n]].sum()
            cells = []
            for distance in (-1.0, 1.0, float("inf")):
                slot_of = assign_slots(kps, scores, n, new_slot_distance=distance)
                cells.append("%d/%d" % slot_transitions(kps, slot_of, args.window))
            print(f"{name:13s} {n:2d} {present.sum():10d} {old:8d} {(slot_of >= 0).sum():8d} | "
                  f"{cells[0]:>12s} {cells[1]:>6s} {cells[2]:>6s}")
            row = [present.sum(), old, (slot_of >= 0).sum()] + [int(v) for c in cells for v in c.split("/")]
            totals[n] = totals.get(n, 0) + np.asarray(row)
    for n, t in totals.items():
        print(f"{'all clips':13s} {n:2d} {t[0]:10d} {t[1]:8d} {t[2]:8d} | {t[3]:>6d}/{t[4]:<5d} "
              f"{t[5]:>3d}/{t[6]:<2d} {t[7]:>3d}/{t[8]:<2d}")


if __name__ == "__main__":
    main()
