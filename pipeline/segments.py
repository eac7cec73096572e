"""Segment indexes (TSN sparse sampling): each video is cut into T equal segments; training takes a
random frame of each segment, testing its middle frame. One index per dataset split, with a
validation subset carved (seeded, per class) from the training videos for model selection."""
from __future__ import annotations

from dataclasses import dataclass
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


# Whole groups go to validation only where that leaves training enough (issue 29): every class
# that names groups keeps at least MIN_VAL_GROUPS of them in its training videos, and the carve
# takes at most MAX_VAL_SHARE x val_fraction of the split's training videos.
MIN_VAL_GROUPS = 3
MAX_VAL_SHARE = 1.5


@dataclass(frozen=True)
class Carve:
    """A validation carve: the video ids moved from train to val, and the rule that chose them
    ("groups", "videos" or "none") with the reason in words."""
    val: frozenset
    rule: str
    reason: str

    def describe(self) -> str:
        return "no validation" if self.rule == "none" else f"validation by {self.rule[:-1]}: {self.reason}"


def carve(train: pd.DataFrame, fraction: float, seed: int) -> Carve:
    """The validation subset of a split's training videos: ``fraction`` of each class (at least one
    where a class has two or more training videos, never all), chosen by a seeded RNG.

    Where the videos name their source (``group``: UCF101's and the synthetic dataset's actor
    groups, KTH's and NTU's subjects, the generic adapter's group column), whole groups move
    (``fraction`` of the class's groups, at least one, never all): no group of a class is in both
    train and val, as the official splits keep test groups apart, so validation measures what
    test measures (new actors) and cannot reward remembering an actor. The groups are drawn per
    class, so where one subject acts in every class (KTH, NTU) they may be in val for one class
    and train for another.

    The rule: whole groups only when every class whose training videos all name a group has at
    least MIN_VAL_GROUPS (3) groups, and the whole-group carve takes at most MAX_VAL_SHARE (1.5) x
    ``fraction`` of the training videos. Otherwise (a small dataset: with 2 training people one
    whole person would go to validation, half of what the user gave) single videos move, within
    each class spread over its groups in proportion to their sizes, so every group keeps its
    share of training videos where it can. Classes with one group, or with videos that name none,
    always move single videos."""
    val: set[str] = set()
    if fraction <= 0 or train.empty:
        return Carve(frozenset(), "none", "index.val_fraction is 0" if fraction <= 0 else "no training videos")
    classes = []
    for label, videos in train.sort_values("video_id").groupby("label_id"):
        ids = videos["video_id"].to_numpy()
        sources = videos["group"].astype(str).to_numpy() if "group" in videos else np.full(len(ids), "")
        classes.append((videos["label_name"].iloc[0] if "label_name" in videos else label, ids, sources))
    named = [(label, len(set(sources))) for label, _, sources in classes if "" not in set(sources)]
    fewest = min(named, key=lambda x: x[1]) if named else None
    if fewest is None:
        reason = "the videos name no groups"
    elif fewest[1] < MIN_VAL_GROUPS:
        reason = (f"class {fewest[0]} has only {fewest[1]} group{'s' * (fewest[1] != 1)} in training, whole "
                  f"groups need {MIN_VAL_GROUPS}")
    else:
        val = _draw(classes, fraction, seed, by_group=True)
        share = len(val) / len(train)
        if share <= MAX_VAL_SHARE * fraction + 1e-9:
            return Carve(frozenset(val), "groups", f"{fewest[1]}+ groups per class, "
                         f"{share:.0%} of the training videos")
        reason = (f"whole groups would take {share:.0%} of the training videos, more than "
                  f"{MAX_VAL_SHARE:g} x index.val_fraction {fraction:g}")
    return Carve(frozenset(_draw(classes, fraction, seed, by_group=False)), "videos", reason)


def _draw(classes: list, fraction: float, seed: int, *, by_group: bool) -> set[str]:
    rng = np.random.default_rng(seed)
    val = set()
    for _, ids, sources in classes:
        groups = sorted(set(sources))
        grouped = len(groups) >= 2 and "" not in groups
        units = groups if grouped and by_group else ids
        n = int(round(fraction * len(units)))
        if len(units) >= 2:
            n = min(max(n, 1), len(units) - 1)
        if not n:
            continue
        if grouped and by_group:
            chosen = rng.choice(units, size=n, replace=False).tolist()
            val.update(ids[np.isin(sources, chosen)].tolist())
        elif grouped:   # single videos, spread over the class's groups in proportion to their sizes
            order = rng.permutation(len(ids))
            size = {g: int((sources == g).sum()) for g in groups}
            seen: dict[str, int] = {}
            keys = []
            for pos, i in enumerate(order):
                seen[sources[i]] = seen.get(sources[i], 0) + 1
                keys.append((seen[sources[i]] / size[sources[i]], pos, i))
            val.update(ids[i] for _, _, i in sorted(keys)[:n])
        else:
            val.update(rng.choice(units, size=n, replace=False).tolist())
    return val


def carve_validation(train: pd.DataFrame, fraction: float, seed: int) -> set[str]:
    """Video ids moved from train to val (:func:`carve`, which also says which rule chose them)."""
    return set(carve(train, fraction, seed).val)


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
    decode stage kept only those frames). ``index.attrs["carve"]`` is the validation
    :class:`Carve` (which rule chose the val videos)."""
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
    carved = carve(used[used[col] == "train"], val_fraction, seed)
    used["subset"] = np.where(used["video_id"].isin(carved.val), "val", used[col])
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
    index = index.sort_values("video_id", ignore_index=True)
    index.attrs["carve"] = carved
    return index, skipped


def build_indexes(manifest_path: Path, frames_table_path: Path | None, pose_videos_path: Path | None,
                  out_dir: Path, *, num_segments: int, val_fraction: float, seed: int) -> dict[str, dict]:
    """Write ``out_dir/split_<name>.parquet`` for every split; return subset counts per split.
    Prints per split how many clips train, validate and test, and which carve rule chose the
    validation clips (also in the index's metadata, ``validation``)."""
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
        carved = index.attrs["carve"]
        table = pa.Table.from_pandas(index, preserve_index=False)
        write_parquet(out_dir / f"split_{split}.parquet", table, metadata={
            "dataset": manifest.dataset, "split": split, "classes": manifest.classes,
            "num_segments": num_segments, "pose_only": manifest.pose_only,
            "skipped": skipped.to_dict("records"),
            "validation": {"rule": carved.rule, "reason": carved.reason, "val_fraction": val_fraction}})
        summary[split] = index["subset"].value_counts().to_dict() | {"skipped": len(skipped)}
        n = lambda subset: summary[split].get(subset, 0)  # noqa: E731
        print(f"index {manifest.dataset} split {split}: {n('train')} train / {n('val')} val / {n('test')} test "
              f"clips, {n('skipped')} skipped ({carved.describe()})")
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
