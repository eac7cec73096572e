"""What every dataset adapter produces: a manifest of videos with labels and split membership, and
(for datasets that ship keypoints) ground-truth poses per video."""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.errors import InputError
from pipeline.io import read_parquet_metadata, write_parquet

SUBSETS = ("train", "test", "unused")
VIDEO_COLUMNS = ("video_id", "path", "label_id", "label_name", "group")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._+-]+$")


class DatasetError(InputError, ValueError):
    """Bad dataset input. The message names the file (and line) and says how to fix it."""


@dataclass(frozen=True)
class GroundTruthPoses:
    """Poses a dataset ships for one video, in the 14-keypoint layout.

    keypoints: float32 [F, P, 14, 3], (x, y) in pixels of the original frame and a confidence
    (visibility) in [0, 1]; missing joints have NaN x, y and confidence 0; absent persons are
    all-missing. Frame f is the f-th frame of the video at its native frame rate.
    """
    keypoints: np.ndarray
    width: int
    height: int


@dataclass
class Manifest:
    """``videos`` has the columns VIDEO_COLUMNS plus ``split_<name>`` per official split, each holding
    a subset name from SUBSETS. ``path`` is relative to the dataset root: a video file, a folder of
    frames, or "" for a pose-only dataset. ``group`` is a subject/group id or "".
    ``excluded`` lists what the adapter saw and left out: columns ``item`` and ``reason``."""
    dataset: str
    classes: list[str]
    splits: list[str]
    videos: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"item": [], "reason": []}))
    pose_only: bool = False

    def split_column(self, split: str) -> str:
        if split not in self.splits:
            raise DatasetError(f"dataset {self.dataset!r} has no split {split!r}; it has {self.splits}")
        return f"split_{split}"

    def validate(self) -> None:
        missing = [c for c in VIDEO_COLUMNS if c not in self.videos.columns]
        if missing:
            raise DatasetError(f"{self.dataset}: manifest lacks columns {missing}")
        dup = self.videos["video_id"][self.videos["video_id"].duplicated()].tolist()
        if dup:
            raise DatasetError(f"{self.dataset}: duplicate video ids {dup[:5]}")
        bad = [v for v in self.videos["video_id"] if not _SAFE_ID.match(v)]
        if bad:
            raise DatasetError(f"{self.dataset}: video ids must be file-name safe, got {bad[:5]}")
        escaping = [p for p in self.videos["path"]
                    if p.startswith("/") or posixpath.normpath(p or ".").split("/")[0] == ".."]
        if escaping:
            raise DatasetError(f"{self.dataset}: video paths must stay inside the dataset root, got {escaping[:5]}")
        labels = self.videos["label_id"]
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise DatasetError(f"{self.dataset}: label ids outside 0..{len(self.classes) - 1}")
        for split in self.splits:
            col = self.split_column(split)
            if col not in self.videos.columns:
                raise DatasetError(f"{self.dataset}: manifest lacks column {col}")
            odd = set(self.videos[col]) - set(SUBSETS)
            if odd:
                raise DatasetError(f"{self.dataset}: {col} holds {sorted(odd)}; allowed {SUBSETS}")

    def save(self, path: str | Path) -> None:
        self.validate()
        write_parquet(path, pa.Table.from_pandas(self.videos, preserve_index=False),
                      metadata={"dataset": self.dataset, "classes": self.classes,
                                "splits": self.splits, "pose_only": self.pose_only})
        excluded = pa.Table.from_pandas(self.excluded.astype(str), preserve_index=False)
        write_parquet(Path(path).with_suffix(".excluded.parquet"), excluded)

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        path = Path(path)
        if not path.exists():
            raise DatasetError(f"{path}: manifest not found; run the prepare stage first")
        meta = read_parquet_metadata(path)
        videos = pd.read_parquet(path)
        excluded_path = path.with_suffix(".excluded.parquet")
        excluded = pd.read_parquet(excluded_path) if excluded_path.exists() else None
        kwargs = {} if excluded is None else {"excluded": excluded}
        return cls(dataset=meta["dataset"], classes=list(meta["classes"]), splits=list(meta["splits"]),
                   videos=videos, pose_only=bool(meta.get("pose_only", False)), **kwargs)


@dataclass(frozen=True)
class DatasetAdapter:
    """One per dataset. ``build_manifest(root, options)`` reads the native layout and official
    split files; ``load_groundtruth(root, video_row)`` returns shipped poses or None when the
    dataset has none. ``options`` is the dataset's free-form section of params.yaml."""
    name: str
    build_manifest: Callable[[Path, dict[str, Any]], Manifest]
    load_groundtruth: Callable[[Path, pd.Series], GroundTruthPoses | None] = lambda root, row: None
    description: str = ""
