"""Segment indexes (TSN sparse sampling): each video is cut into T equal segments; training takes a
random frame of each segment, testing its middle frame. One index per dataset split, with a
validation subset carved (seeded, per class) from the training videos for model selection."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.datasets.base import Manifest
from pipeline.errors import InputError
from pipeline.io import write_parquet
from pipeline.report import problem_report


def segment_bounds(start: int, end: int, num_segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ranges [lo, hi) of T segments over [start, end).

    A video shorter than T gets one-frame segments that step through its frames in order
    (some repeat), so every segment still maps to a real frame and time order is kept.
    """
    length = end - start
    if length <= 0:
        raise ValueError(f"empty frame range [{start}, {end})")
    edges = start + (np.arange(num_segments + 1) * length) // num_segments
    lo = edges[:-1]
    hi = np.maximum(edges[1:], lo + 1)
    return lo.astype(np.int32), hi.astype(np.int32)


def middle_frames(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return ((lo + hi - 1) // 2).astype(np.int32)


def carve_validation(train: pd.DataFrame, fraction: float, seed: int) -> set[str]:
    """Video ids moved from train to val: ``fraction`` of each class (at least one where a class has
    two or more training videos), chosen by a seeded RNG.

    Where a class's videos name their source (``group``: UCF101's and the synthetic dataset's
    actor groups, KTH's and NTU's subjects) and it has two or more, whole groups move (``fraction``
    of the class's groups, at least one, never all): no group of a class is in both train and val,
    as the official splits keep test groups apart, so validation measures what test measures (new
    actors) and cannot reward remembering an actor. The groups are drawn per class, so where one
    subject acts in every class (KTH, NTU) they may be in val for one class and train for another.
    Otherwise single videos move."""
    rng = np.random.default_rng(seed)
    val = set()
    if fraction <= 0:
        return val
    for _, videos in train.sort_values("video_id").groupby("label_id"):
        ids = videos["video_id"].to_numpy()
        sources = videos["group"].astype(str).to_numpy() if "group" in videos else np.full(len(ids), "")
        groups = sorted(set(sources))
        grouped = len(groups) >= 2 and "" not in groups
        units = groups if grouped else ids
        n = int(round(fraction * len(units)))
        if len(units) >= 2:
            n = min(max(n, 1), len(units) - 1)
        chosen = rng.choice(units, size=n, replace=False).tolist() if n else []
        val.update(ids[np.isin(sources, chosen)].tolist() if grouped else chosen)
    return val


def frame_counts(frames_table: pd.DataFrame | None, pose_videos: pd.DataFrame | None) -> dict[str, int]:
    """Frames per usable video: decoded frames, or (pose-only datasets) the pose stage's count. A
    video whose pose failed is not usable, however well it decoded."""
    counts: dict[str, int] = {}
    if pose_videos is not None:
        ok = pose_videos[pose_videos["status"] == "ok"]
        counts.update(zip(ok["video_id"], ok["num_frames"].astype(int)))
    if frames_table is not None:
        ok = frames_table[frames_table["status"] == "ok"]
        counts.update(zip(ok["video_id"], ok["num_frames"].astype(int)))
    if pose_videos is not None:
        for video_id in pose_videos.loc[pose_videos["status"] != "ok", "video_id"]:
            counts.pop(video_id, None)
    return counts


def failure_reasons(*tables: pd.DataFrame | None) -> dict[str, str]:
    """video_id -> the error of a video that failed in the decode or pose table."""
    reasons: dict[str, str] = {}
    for table in tables:
        if table is not None and "error" in table:
            bad = table[table["status"] == "failed"]
            reasons.update({v: str(e) for v, e in zip(bad["video_id"], bad["error"]) if v not in reasons})
    return reasons


def build_split_index(manifest: Manifest, split: str, counts: dict[str, int], *, num_segments: int,
                      val_fraction: float, seed: int, ranges_decoded: bool = False,
                      reasons: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (index, skipped): one index row per usable video of the split's train/val/test
    subsets, and the videos left out (video_id, subset, reason: from ``reasons`` where known).
    Rows with frame_start/frame_end sample within that range, unless ``ranges_decoded`` (the
    decode stage kept only those frames)."""
    videos = manifest.videos
    col = manifest.split_column(split)
    used = videos[videos[col].isin(["train", "test"])].copy()
    usable = used["video_id"].map(lambda v: counts.get(v, 0) > 0)
    reasons = reasons or {}
    left_out = used.loc[~usable, "video_id"]
    skipped = pd.DataFrame({"video_id": left_out, "subset": used.loc[~usable, col],
                            "reason": [reasons.get(v, "no decoded frames or poses (see the decode/pose tables)")
                                       for v in left_out]})
    used = used[usable]
    val_ids = carve_validation(used[used[col] == "train"], val_fraction, seed)
    used["subset"] = np.where(used["video_id"].isin(val_ids), "val", used[col])
    rows = []
    for r in used.itertuples(index=False):
        total = counts[r.video_id]
        start = 0 if ranges_decoded else int(getattr(r, "frame_start", 0) or 0)
        end = -1 if ranges_decoded else int(getattr(r, "frame_end", -1))
        end = total if end is None or end < 0 or end > total else end
        if end <= start:
            start, end = 0, total
        lo, hi = segment_bounds(start, end, num_segments)
        rows.append({"video_id": r.video_id, "label_id": int(r.label_id), "subset": r.subset,
                     "num_frames": total, "seg_start": lo.tolist(), "seg_end": hi.tolist(),
                     "mid": middle_frames(lo, hi).tolist()})
    index = pd.DataFrame(rows, columns=["video_id", "label_id", "subset", "num_frames", "seg_start",
                                        "seg_end", "mid"])
    return index.sort_values("video_id", ignore_index=True), skipped


def build_indexes(manifest_path: Path, frames_table_path: Path | None, pose_videos_path: Path | None,
                  out_dir: Path, *, num_segments: int, val_fraction: float, seed: int) -> dict[str, dict]:
    """Write ``out_dir/split_<name>.parquet`` for every split; return subset counts per split."""
    manifest = Manifest.load(manifest_path)
    read = lambda p: pd.read_parquet(p) if p is not None and Path(p).exists() else None  # noqa: E731
    frames_table, pose_videos = read(frames_table_path), read(pose_videos_path)
    counts = frame_counts(frames_table, pose_videos)
    reasons = failure_reasons(frames_table, pose_videos)
    summary = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in manifest.splits:
        index, skipped = build_split_index(manifest, split, counts, num_segments=num_segments,
                                           val_fraction=val_fraction, seed=seed,
                                           ranges_decoded=not manifest.pose_only, reasons=reasons)
        _check_not_empty(index, skipped, manifest_path, split)
        table = pa.Table.from_pandas(index, preserve_index=False)
        write_parquet(out_dir / f"split_{split}.parquet", table, metadata={
            "dataset": manifest.dataset, "split": split, "classes": manifest.classes,
            "num_segments": num_segments, "pose_only": manifest.pose_only,
            "skipped": skipped.to_dict("records")})
        summary[split] = index["subset"].value_counts().to_dict() | {"skipped": len(skipped)}
        print(f"index {manifest.dataset} split {split}: " +
              ", ".join(f"{k} {v}" for k, v in sorted(summary[split].items())))
        text = problem_report(f"index {manifest.dataset} split {split} SKIPPED",
                              zip(skipped["video_id"], skipped["subset"] + ": " + skipped["reason"]),
                              f"{out_dir / f'split_{split}.parquet'} (metadata 'skipped')")
        if text:
            print(text)
    return summary


def _check_not_empty(index: pd.DataFrame, skipped: pd.DataFrame, manifest_path: Path, split: str) -> None:
    """A split with no training or no test video cannot train or be scored: stop with one line."""
    for subset, name in (("train", "training"), ("test", "test")):
        if not (index["subset"] == subset).any():
            lost = int((skipped["subset"] == subset).sum())
            raise InputError(f"{manifest_path}: split {split} has no {name} videos ({lost} skipped as failed in "
                             f"decode or pose). Fix: give the split {name} videos in labels.csv or the split "
                             "files, or repair the failed ones (see the decode and pose tables)")
