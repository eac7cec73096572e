"""Penn Action (2,326 videos, 15 classes, one official split: 1,258 train / 1,068 test; 13 joints
annotated in every frame).

Layout expected under the dataset root (``Penn_Action.tar.gz`` unpacked)::

    <root>/<labels_dir>/0001.mat ... 2326.mat    action, x, y, visibility (frames x 13),
                                                 dimensions [H W N], train (1 / -1), ...
    <root>/<frames_dir>/0001/000001.jpg ...      frames (optional)

The labels alone are enough: without the frames folder the manifest is ``pose_only`` (``path``
"") and the pose stream trains on the ground-truth joints. With frames, ``path`` is
``frames/<id>``. The split is named ``"1"`` (train flag 1 -> train, -1 -> test). Classes are the 15
action names sorted. Extra manifest columns: ``num_frames`` (from ``dimensions``) and ``gt_path``.

Ground truth: ``load_groundtruth`` maps the 13 joints to the 14-keypoint layout with
``to_aic14(..., "penn13")``; a joint with visibility 0 is missing (NaN, confidence 0); width and
height come from ``dimensions``. The data's joint order (checked against all 2,326 label files)
is head, R shoulder, L shoulder, R elbow, L elbow, R wrist, L wrist, R hip, L hip, R knee, L knee,
R ankle, L ankle, i.e. right before left: for people annotated ``pose = front`` the second joint
lies on the image-left of the third in 97% of frames (100% in the classes whose view stays put,
e.g. pull-up, squat, jumping jacks), and on the image-right for ``pose = back`` (pull-up, squat:
100%; bowl: 99.7%).

Options:

- ``labels_dir`` (default ``"labels"``), ``frames_dir`` (default ``"frames"``): relative to the root.
- ``pose_only`` (default ``"auto"``): ``auto`` = pose-only exactly when ``frames_dir`` is absent;
  ``true`` ignores any frames; ``false`` requires the frames.
- ``check_files`` (default ``true``): with frames, every labelled video needs its frame folder
  (frame folders without a label file are recorded as excluded).
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.datasets._common import Collector, as_bool, fail, join_rel, parse_options, safe_id
from pipeline.datasets.base import DatasetAdapter, GroundTruthPoses, Manifest
from pipeline.keypoints import to_aic14

NAME = "penn_action"
DEFAULTS = {"labels_dir": "labels", "frames_dir": "frames", "pose_only": "auto", "check_files": True}
CLASSES = ("baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing",
           "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar",
           "tennis_forehand", "tennis_serve")
SPLIT = "1"


def _loadmat(path: Path, names: list[str]) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path, variable_names=names)
    except Exception as exc:  # scipy raises several types for corrupt files
        raise fail(path, None, f"cannot read the MATLAB file ({exc})",
                   "re-extract the file from Penn_Action.tar.gz") from exc
    missing = [n for n in names if n not in mat]
    if missing:
        raise fail(path, None, f"lacks the field(s) {missing}", "use the official Penn Action label files")
    return mat


def _scalar(path: Path, mat: dict[str, Any], name: str) -> Any:
    value = np.asarray(mat[name]).ravel()
    if value.size != 1:
        raise fail(path, None, f"field {name!r} must hold one value, got shape {np.shape(mat[name])}",
                   "use the official Penn Action label files")
    return value[0]


def _dimensions(path: Path, mat: dict[str, Any]) -> tuple[int, int, int]:
    dims = np.asarray(mat["dimensions"]).ravel()
    if dims.size != 3:
        raise fail(path, None, f"dimensions must be [H W N], got {dims.tolist()}",
                   "use the official Penn Action label files")
    return int(dims[0]), int(dims[1]), int(dims[2])


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    check = as_bool(NAME, "check_files", o["check_files"])
    labels_dir = root / o["labels_dir"]
    if not labels_dir.is_dir():
        raise fail(labels_dir, None, "Penn Action labels folder not found",
                   "unpack Penn_Action.tar.gz so that <root>/labels/0001.mat exists, or set labels_dir")
    mode = o["pose_only"]
    frames_there = (root / o["frames_dir"]).is_dir()
    if mode == "auto":
        pose_only = not frames_there
    else:
        pose_only = as_bool(NAME, "pose_only", mode)
        if not pose_only and not frames_there:
            raise fail(root / o["frames_dir"], None, "frames folder not found (pose_only: false)",
                       "unpack the frames, or set pose_only: auto/true to use the labels alone")
    index = {c: i for i, c in enumerate(CLASSES)}
    col = Collector(NAME, [SPLIT], strict=o["strict"])
    files = sorted(e.name for e in os.scandir(labels_dir) if e.name.endswith(".mat") and not e.name.startswith("."))
    if not files:
        raise fail(labels_dir, None, "holds no .mat label files", "unpack the Penn Action labels here")
    for fname in files:
        path = labels_dir / fname
        mat = _loadmat(path, ["action", "train", "dimensions"])
        action = str(_scalar(path, mat, "action")).strip()
        if action not in index:
            raise fail(path, None, f"action {action!r} is not one of the 15 Penn Action classes",
                       f"use one of {list(CLASSES)}")
        flag = int(_scalar(path, mat, "train"))
        if flag not in (1, -1):
            raise fail(path, None, f"train flag is {flag}, expected 1 (train) or -1 (test)",
                       "use the official Penn Action label files")
        vid = safe_id(fname[:-4])
        rel = ""
        if not pose_only:
            rel = join_rel(o["frames_dir"], fname[:-4])
            if check and not (root / rel).is_dir():
                col.missing(root, rel, str(path), "labels a video whose frame folder is missing:")
                continue
        col.add(vid, str(path), path=rel, label_id=index[action], label_name=action, group="",
                num_frames=_dimensions(path, mat)[2], gt_path=join_rel(o["labels_dir"], fname))
        col.assign(SPLIT, vid, "train" if flag == 1 else "test", str(path))
    if not pose_only and check:
        labelled = {f[:-4] for f in files}
        for e in sorted(os.scandir(root / o["frames_dir"]), key=lambda e: e.name):
            if e.is_dir() and not e.name.startswith(".") and e.name not in labelled:
                col.exclude(join_rel(o["frames_dir"], e.name), "frame folder without a label file")
    m = col.manifest(list(CLASSES), pose_only=pose_only, extra_columns=["num_frames", "gt_path"])
    m.videos["num_frames"] = m.videos["num_frames"].astype("int64")
    return m


def load_groundtruth(root: Path, row: pd.Series) -> GroundTruthPoses:
    root = Path(root)
    gt_rel = row.get("gt_path") or join_rel(DEFAULTS["labels_dir"], f"{row['video_id']}.mat")
    path = root / gt_rel
    if not path.is_file():
        raise fail(path, None, f"label file of video {row['video_id']} not found",
                   "restore it from Penn_Action.tar.gz or rebuild the manifest (prepare stage)")
    mat = _loadmat(path, ["x", "y", "visibility", "dimensions"])
    x, y, vis = (np.asarray(mat[k], dtype=np.float32) for k in ("x", "y", "visibility"))
    if x.ndim != 2 or x.shape[1] != 13 or y.shape != x.shape or vis.shape != x.shape:
        raise fail(path, None, f"x, y, visibility must be frames x 13, got {x.shape}, {y.shape}, {vis.shape}",
                   "use the official Penn Action label files")
    height, width, _ = _dimensions(path, mat)
    visible = vis > 0
    points = np.stack([np.where(visible, x, np.nan), np.where(visible, y, np.nan),
                       visible.astype(np.float32)], -1)[:, None]  # [F, 1, 13, 3]
    return GroundTruthPoses(keypoints=to_aic14(points, "penn13"), width=width, height=height)


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest, load_groundtruth=load_groundtruth,
                         description="Penn Action: 15 classes, official train/test flag, 13 joints "
                                     "(works from the labels alone: pose-only)")
