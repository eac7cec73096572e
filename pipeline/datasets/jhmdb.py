"""JHMDB (928 clips of HMDB51, 21 classes, three official splits, 2D joints for every frame).

Layout expected under the dataset root (the official JHMDB archives unpacked)::

    <root>/<frames_dir>/<class>/<clip>/00001.png ...        frames (media: frames, the default)
    <root>/<videos_dir>/<class>/<clip>.avi                  videos (media: videos)
    <root>/<split_dir>/<class>_test_split{1,2,3}.txt        "<clip>.avi 1|2" (1 = train, 2 = test)
    <root>/<joints_dir>/<class>/<clip>/joint_positions.mat  pos_img: 2 x 15 x F pixels (optional)

Classes are the 21 class names sorted. Split ``k`` is named ``"k"``. ``group`` is "". Video ids
are the clip names, made file-name safe (names with characters such as ``(`` or ``!`` get a short
hash suffix; ``path`` keeps the real name).

Ground truth: ``load_groundtruth`` reads ``pos_img`` (the 15 puppet joints: neck, belly, face,
R/L shoulder, R/L hip, R/L elbow, R/L knee, R/L wrist, R/L ankle) for the single annotated person
and maps it to the 14-keypoint layout with ``to_aic14(..., "jhmdb15")``; every joint is annotated
(confidence 1). The frame size is read from the clip's first frame when the frames are there, else
JHMDB's 320 x 240. Without the ``joints_dir`` folder it returns None.

Options:

- ``split_dir`` (default ``"splits"``), ``frames_dir`` (``"Rename_Images"``), ``videos_dir``
  (``"ReCompress_Videos"``), ``joints_dir`` (``"joint_positions"``): folders relative to the root.
- ``media`` (default ``"frames"``): ``"frames"`` (path = the frame folder) or ``"videos"``.
- ``splits`` (default ``null`` = all found): split numbers to use.
- ``check_files`` (default ``true``): every clip must exist in the chosen media folder; clips on
  disk that no split file names are recorded as excluded.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.datasets._common import (as_bool, choice, exclude_unlisted, fail, join_rel, parse_options,
                                       strip_video_ext)
from pipeline.datasets.base import DatasetAdapter, GroundTruthPoses, Manifest
from pipeline.datasets.hmdb51 import collect, read_official
from pipeline.keypoints import to_aic14

NAME = "jhmdb"
DEFAULTS = {"split_dir": "splits", "frames_dir": "Rename_Images", "videos_dir": "ReCompress_Videos",
            "joints_dir": "joint_positions", "media": "frames", "splits": None, "check_files": True}
FRAME_SIZE = (320, 240)
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp")


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    media = choice(NAME, "media", o["media"], ("frames", "videos"))
    check = as_bool(NAME, "check_files", o["check_files"])
    classes, splits, entries = read_official(root / o["split_dir"], o["splits"], NAME)
    media_dir = o["frames_dir"] if media == "frames" else o["videos_dir"]

    def rel_of(cls: str, name: str) -> str:
        return join_rel(media_dir, cls, strip_video_ext(name) if media == "frames" else name)

    def extra(vid: str, cls: str, name: str) -> dict[str, str]:
        return {"gt_path": join_rel(o["joints_dir"], cls, strip_video_ext(name), "joint_positions.mat")}

    col, listed, extra_cols = collect(NAME, root, classes, splits, entries, rel_of=rel_of, check_files=check,
                                      strict=o["strict"], extra=extra)
    if check:
        exclude_unlisted(col, root, media_dir, classes, listed)
    return col.manifest(classes, extra_columns=extra_cols)


def read_pos_img(path: Path) -> np.ndarray:
    """``pos_img`` of a joint_positions.mat as float32 [F, 15, 2]."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path, variable_names=["pos_img"])
    except Exception as exc:  # scipy raises several types for corrupt files
        raise fail(path, None, f"cannot read the MATLAB file ({exc})", "re-extract joint_positions") from exc
    pos = mat.get("pos_img")
    if pos is None or pos.ndim not in (2, 3) or pos.shape[0] != 2 or pos.shape[1] != 15:
        raise fail(path, None, f"pos_img must be 2 x 15 x F, got {None if pos is None else pos.shape}",
                   "use the official JHMDB joint_positions files")
    if pos.ndim == 2:
        pos = pos[:, :, None]
    return np.ascontiguousarray(np.transpose(pos, (2, 1, 0)), dtype=np.float32)


def _frame_size(root: Path, rel: str) -> tuple[int, int]:
    folder = root / rel if rel else None
    if folder is not None and folder.is_dir():
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXT)
        if images:
            from PIL import Image

            with Image.open(images[0]) as im:
                return im.size
    return FRAME_SIZE


def load_groundtruth(root: Path, row: pd.Series) -> GroundTruthPoses | None:
    root = Path(root)
    gt_rel = row.get("gt_path") or join_rel(DEFAULTS["joints_dir"], row["label_name"],
                                            strip_video_ext(Path(str(row["path"])).name), "joint_positions.mat")
    path = root / gt_rel
    if not path.is_file():
        if not (root / Path(gt_rel).parts[0]).is_dir():
            return None  # the joint annotations were not downloaded
        raise fail(path, None, f"no joint annotation for clip {row['video_id']}",
                   "restore the file from the official joint_positions archive")
    pos = read_pos_img(path)
    conf = np.isfinite(pos).all(-1).astype(np.float32)[..., None]
    points = np.concatenate([pos, conf], -1)[:, None]  # [F, 1, 15, 3]
    width, height = _frame_size(root, str(row.get("path", "")))
    return GroundTruthPoses(keypoints=to_aic14(points, "jhmdb15"), width=int(width), height=int(height))


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest, load_groundtruth=load_groundtruth,
                         description="JHMDB: 21 classes, 3 official splits, 2D joints (jhmdb15 -> 14)")
