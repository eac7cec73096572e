"""The project's synthetic dataset (written by ``pipeline/synth``): a UCF101-style layout with
ground-truth keypoints already in the 14-keypoint layout.

Layout expected under the dataset root::

    <root>/classInd.txt                                  "1 <class>" ...
    <root>/videos/<class>/<video_id>.mp4                 videos
    <root>/splits/trainlist0{1,2,3}.txt                  "<class>/<video_id>.mp4 <label>"
    <root>/splits/testlist0{1,2,3}.txt                   "<class>/<video_id>.mp4" (label optional)
    <root>/keypoints/<video_id>.npz                      keypoints float32 [F, P, 14, 3]
                                                         (x px, y px, visibility 0/1), width,
                                                         height, fps

``path`` is ``videos/<class>/<video_id>.mp4``; ``video_id`` is the file stem; splits are named
``"1"``, ``"2"``, ``"3"``; ``group`` is the ``gNN`` part of the id (``synth_<class>_gNN_cMM``; ""
if absent). Extra column ``gt_path``.

Ground truth: ``load_groundtruth`` returns the npz keypoints with visibility 0 turned into missing
joints (NaN, confidence 0).

Options:

- ``class_index`` (default ``"classInd.txt"``), ``split_dir`` (default ``"splits"``),
  ``video_dir`` (default ``"videos"``), ``keypoints_dir`` (default ``"keypoints"``): relative to the
  root.
- ``splits`` (default ``null`` = all found): split numbers to use.
- ``check_files`` (default ``true``): every listed video must exist; videos on disk that no list
  names are recorded as excluded.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.datasets._common import as_bool, fail, join_rel, parse_options
from pipeline.datasets.base import DatasetAdapter, GroundTruthPoses, Manifest
from pipeline.datasets.ucf101 import build_ucf_style, ucf101_group
from pipeline.keypoints import NUM_KEYPOINTS

NAME = "synth"
DEFAULTS = {"class_index": "classInd.txt", "split_dir": "splits", "video_dir": "videos",
            "keypoints_dir": "keypoints", "splits": None, "check_files": True}


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    kp_dir = o["keypoints_dir"]
    return build_ucf_style(NAME, root, split_dir=root / o["split_dir"], class_index=root / o["class_index"],
                           video_dir=o["video_dir"], splits=o["splits"],
                           check_files=as_bool(NAME, "check_files", o["check_files"]), strict=o["strict"],
                           group_of=ucf101_group,
                           extra=lambda vid, cls: {"gt_path": join_rel(kp_dir, f"{vid}.npz")})


def load_groundtruth(root: Path, row: pd.Series) -> GroundTruthPoses:
    root = Path(root)
    path = root / (row.get("gt_path") or join_rel(DEFAULTS["keypoints_dir"], f"{row['video_id']}.npz"))
    if not path.is_file():
        raise fail(path, None, f"keypoints of synthetic video {row['video_id']} not found",
                   "regenerate the synthetic dataset (synth stage)")
    try:
        with np.load(path) as z:
            kps = np.array(z["keypoints"], dtype=np.float32)
            width, height = int(z["width"]), int(z["height"])
    except (KeyError, ValueError, OSError) as exc:
        raise fail(path, None, f"unreadable keypoints file ({exc})", "regenerate the synthetic dataset") from exc
    if kps.ndim != 4 or kps.shape[2:] != (NUM_KEYPOINTS, 3):
        raise fail(path, None, f"keypoints must be [F, P, {NUM_KEYPOINTS}, 3], got {kps.shape}",
                   "regenerate the synthetic dataset")
    missing = ~(kps[..., 2] > 0) | ~np.isfinite(kps[..., :2]).all(-1)
    kps[..., :2][missing] = np.nan
    kps[..., 2][missing] = 0.0
    return GroundTruthPoses(keypoints=kps, width=width, height=height)


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest, load_groundtruth=load_groundtruth,
                         description="The project's synthetic dataset (UCF101-style, 14-keypoint ground truth)")
