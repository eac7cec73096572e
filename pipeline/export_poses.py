"""Write the pose stage's Parquet in the skeleton ecosystem's formats, so pyskl/mmaction2 models
(PoseC3D, ST-GCN++) and OpenPose tooling can use poses this pipeline extracted.

- ``pyskl``: one pickle ``{"split": ..., "annotations": [...]}`` (pipeline/formats/pyskl.py). Per
  video: ``frame_dir`` = video id, ``label``, ``img_shape`` = ``original_shape`` (H, W),
  ``total_frames``, ``keypoint`` [M, T, V, 2] pixels, ``keypoint_score`` [M, T, V] and the extra
  ``person_score`` [M, T]; person slots become M (slots up to the highest one used), a missing
  joint or absent person is 0, 0 with score 0. Splits: per manifest split ``s``, ``train<s>`` /
  ``test<s>`` for numbered splits (pyskl's UCF101/HMDB51 naming), else ``<s>_train`` / ``<s>_val``
  (NTU's); the manifest's train side includes the videos the index later holds out for validation.
- ``openpose_json``: ``<out>/<video_id>/<video_id>_<frame:012d>_keypoints.json`` per frame, OpenPose's
  ``--write_json`` layout (version 1.3, ``pose_keypoints_2d`` x, y, c in pixels, a missing joint
  0, 0, 0, a frame with nobody ``"people": []``), ``person_id`` = the person slot (as OpenPose's
  tracking writes it, so the import keeps the slots) and ``person_score``.

Layouts: ``aic14`` (pyskl default: the 14 keypoints as they are, V = 14), ``coco17`` (pyskl: what
COCO-trained pyskl models expect), ``body25`` (openpose_json default) or ``coco18``, through
``keypoints.from_aic14``: limbs copied, the nose solved from the head-top rule, BODY_25's mid-hip
the mean of the hips, other joints missing.

Pixels: of the video's frame as the estimator would see it at full size: the source video's size
(probed from the dataset root) when the manifest has the file, else the pose table's width/height.

Precision of a round trip (export, then ``pose.estimator: import``): coordinates pass through
pixels in float32 (relative error ~1e-7; ``--dtype float16`` as pyskl's own files: ~1e-3 of the
frame); with aic14 (pyskl) every value comes back; body25/coco18 give the same coordinates but head_top's
confidence returns as min(head_top, neck); coco17 also replaces the neck by the shoulders' midpoint.
Failed videos are left out and listed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.datasets.base import Manifest
from pipeline.formats.openpose_json import openpose_frame, write_openpose_video
from pipeline.formats.pyskl import write_pyskl
from pipeline.keypoints import from_aic14
from pipeline.pose.schema import read_poses, to_dense

FORMATS = {"pyskl": ("aic14", "coco17"), "openpose_json": ("body25", "coco18")}


def pyskl_split_names(split: str) -> tuple[str, str]:
    return (f"train{split}", f"test{split}") if split.isdigit() else (f"{split}_train", f"{split}_val")


def _frame_size(row: dict, stats: dict, root: Path | None) -> tuple[int, int]:
    if root is not None and row.get("path"):
        from pipeline.video import DecodeError, source_size
        try:
            return source_size(root / row["path"])
        except DecodeError:
            pass
    return int(stats["width"]), int(stats["height"])


def _dense_scores(table, num_frames: dict[str, int], max_persons: int) -> dict[str, np.ndarray]:
    out = {v: np.zeros((max(n, 1), max_persons), np.float32) for v, n in num_frames.items()}
    df = table.select(["video_id", "frame", "person", "score"]).to_pandas()
    for vid, g in df.groupby("video_id"):
        if vid in out:
            out[vid][g["frame"].to_numpy(), g["person"].to_numpy()] = g["score"].to_numpy()
    return out


class ExportError(InputError, ValueError):
    """An export that cannot be written as asked."""


def _check_request(manifest_path: Path, poses_path: Path, pose_videos_path: Path, out: Path, fmt: str,
                   layout: str | None) -> str:
    """Refuse an unknown format or layout, an output of the wrong kind or a missing input; return
    the layout."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}. Fix: use one of {sorted(FORMATS)}")
    layout = layout or FORMATS[fmt][0]
    if layout not in FORMATS[fmt]:
        raise ExportError(f"format {fmt} writes layouts {FORMATS[fmt]}, not {layout!r}. Fix: pick one of them")
    if fmt == "pyskl" and Path(out).is_dir():
        raise ExportError(f"{out}: is a folder; pyskl writes one .pkl file. Fix: give --out a file path, "
                          f"e.g. {Path(out) / 'poses.pkl'}")
    if fmt == "openpose_json" and Path(out).exists() and not Path(out).is_dir():
        raise ExportError(f"{out}: is a file; openpose_json writes a folder of JSON files. Fix: give --out a folder")
    for path in (manifest_path, poses_path, pose_videos_path):
        if not Path(path).exists():
            raise ExportError(f"{path} not found. Fix: run the prepare and pose stages for this dataset first")
    return layout


def _video_points(kp: np.ndarray, sc: np.ndarray, layout: str, width: int,
                  height: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One video's [T, N, 14, 3] keypoints and [T, N] scores -> (points in pixels in ``layout``,
    scores, m) for the first m persons, up to the last one seen."""
    used = np.nonzero((kp[..., 2] > 0).any((0, 2)))[0]
    m = int(used.max()) + 1 if len(used) else 0
    kp, sc = kp[:, :m], sc[:, :m]
    pts = from_aic14(kp, layout)
    pts[..., 0] *= width
    pts[..., 1] *= height
    pts = np.where(np.isfinite(pts), pts, 0.0).astype(np.float32)  # missing: 0, 0 with score 0
    return pts, sc, m


def _pyskl_record(vid: str, label: int, pts: np.ndarray, sc: np.ndarray, n: int, width: int, height: int,
                  np_dtype) -> dict:
    return {"frame_dir": vid, "label": label, "img_shape": (height, width),
            "original_shape": (height, width), "total_frames": n,
            "keypoint": np.ascontiguousarray(pts[..., :2].transpose(1, 0, 2, 3)).astype(np_dtype),
            "keypoint_score": np.ascontiguousarray(pts[..., 2].transpose(1, 0, 2)).astype(np_dtype),
            "person_score": np.ascontiguousarray(sc.T).astype(np.float32)}


def _write_openpose(out: Path, vid: str, kp: np.ndarray, pts: np.ndarray, sc: np.ndarray, n: int,
                    m: int) -> None:
    frames = []
    for f in range(n):
        people = [p for p in range(m) if (kp[f, p, :, 2] > 0).any()]
        frames.append(openpose_frame(pts[f, people], sc[f, people], people))
    write_openpose_video(Path(out) / vid, vid, frames)


def _pyskl_split(manifest: Manifest, exported: set[str]) -> dict[str, list[str]]:
    """pyskl's split dict: train and test ids of every manifest split, exported videos only."""
    split = {}
    for s in manifest.splits:
        col = manifest.split_column(s)
        train, test = pyskl_split_names(s)
        v = manifest.videos
        split[train] = [x for x in v.loc[v[col] == "train", "video_id"] if x in exported]
        split[test] = [x for x in v.loc[v[col] == "test", "video_id"] if x in exported]
    return split


def export_poses(manifest_path: Path, poses_path: Path, pose_videos_path: Path, out: Path, *, fmt: str,
                 layout: str | None = None, dtype: str = "float32", root: Path | None = None) -> dict:
    """Write ``out`` (a .pkl for pyskl, a folder for openpose_json); return counts."""
    layout = _check_request(manifest_path, poses_path, pose_videos_path, out, fmt, layout)
    manifest = Manifest.load(manifest_path)
    stats = pd.read_parquet(pose_videos_path).set_index("video_id")
    ok_ids = [v for v in manifest.videos["video_id"] if v in stats.index and stats.loc[v, "status"] == "ok"]
    skipped = [v for v in manifest.videos["video_id"] if v not in set(ok_ids)]
    num_frames = {v: int(stats.loc[v, "num_frames"]) for v in ok_ids}
    table = read_poses(poses_path, ok_ids)
    max_persons = int(table["person"].to_numpy().max()) + 1 if table.num_rows else 1
    dense = to_dense(table, num_frames, max_persons)
    scores = _dense_scores(table, num_frames, max_persons)
    rows = {r["video_id"]: r for r in manifest.videos.to_dict("records")}
    np_dtype = np.float16 if dtype == "float16" else np.float32
    records, written = [], 0
    for vid in ok_ids:
        n = num_frames[vid]
        kp, sc = dense[vid][:n], scores[vid][:n]                      # [T, N, 14, 3], [T, N]
        width, height = _frame_size(rows[vid], stats.loc[vid], root)
        pts, sc, m = _video_points(kp, sc, layout, width, height)
        if fmt == "pyskl":
            records.append(_pyskl_record(vid, int(rows[vid]["label_id"]), pts, sc, n, width, height, np_dtype))
        else:
            _write_openpose(out, vid, kp, pts, sc, n, m)
        written += 1
    if fmt == "pyskl":
        write_pyskl(out, records, _pyskl_split(manifest, set(ok_ids)))
    return {"written": written, "skipped": skipped, "layout": layout}
