"""Helpers shared by the dataset adapters: options, line-numbered reading of split files, errors
that name the file and line, file-name-safe video ids, media lookup on disk, and the collector
that turns split-file entries into a Manifest (never dropping a video silently)."""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from pipeline.datasets.base import SUBSETS, VIDEO_COLUMNS, DatasetError, Manifest

VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v",
                              ".flv", ".wmv", ".3gp", ".ogv", ".ts"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_SAFE = re.compile(r"^[A-Za-z0-9._+-]+$")


# ----------------------------------------------------------------------------------------- options
# Options every adapter takes. ``strict`` is set by the prepare stage from params.yaml's top-level
# ``strict``: true (also the default when absent) makes a split file that names a missing video an
# error; false records that video in ``manifest.excluded`` and goes on. Broken split definitions
# (malformed lines, unknown classes, duplicates) are errors either way.
COMMON_DEFAULTS = {"strict": True}


def parse_options(dataset: str, options: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` (plus COMMON_DEFAULTS) updated with ``options``; an unknown key is an error
    (usually a typo)."""
    options = dict(options or {})
    known = {**COMMON_DEFAULTS, **defaults}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise DatasetError(f"params.yaml: dataset adapter {dataset!r} has no option(s) {unknown}; "
                           f"known options: {sorted(defaults)} (see pipeline/datasets/{dataset}.py)")
    merged = {**known, **options}
    merged["strict"] = as_bool(dataset, "strict", merged["strict"])
    return merged


def as_bool(dataset: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise DatasetError(f"params.yaml: option {name!r} of dataset adapter {dataset!r} must be true or "
                       f"false, got {value!r}")


def choice(dataset: str, name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        raise DatasetError(f"params.yaml: option {name!r} of dataset adapter {dataset!r} must be one "
                           f"of {allowed}, got {value!r}")
    return value


# ------------------------------------------------------------------------------------------ errors
def fail(path: Path | str, line: int | None, problem: str, fix: str) -> DatasetError:
    """A DatasetError 'file:line: problem. Fix: fix' (line None: the file as a whole)."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return DatasetError(f"{where}: {problem}. Fix: {fix}")


def require_dir(path: Path, what: str, fix: str) -> Path:
    if not path.is_dir():
        raise fail(path, None, f"{what} folder not found", fix)
    return path


def read_lines(path: Path, what: str = "split file", fix: str | None = None) -> list[tuple[int, str]]:
    """Non-blank lines of a text file as (1-based line number, stripped text); CRLF, LF and a UTF-8
    byte-order mark are all accepted."""
    if not path.is_file():
        raise fail(path, None, f"{what} not found",
                   fix or "check the dataset root and the folder options in params.yaml")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [(i, s.strip()) for i, s in enumerate(text.splitlines(), 1) if s.strip()]


# ------------------------------------------------------------------------------------------- ids
def safe_id(name: str) -> str:
    """A file-name-safe video id. Names that are already safe are kept; otherwise other characters
    become '_' (runs of '_' collapse to one) and a short hash of the original name keeps ids
    distinct."""
    if _SAFE.match(name):
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    readable = re.sub(r"_{2,}", "_", _UNSAFE.sub("_", name)).strip("_")
    return f"{readable or 'video'}-{digest}"


def strip_video_ext(name: str) -> str:
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in VIDEO_EXTENSIONS else name


# ----------------------------------------------------------------------------------------- media
def join_rel(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def confine(rel: str) -> str | None:
    """``rel`` normalized (``a/./b/../c`` -> ``a/c``), or None when it leaves the dataset root: an
    absolute path, a drive letter, or ``..`` past the root. Lexical on purpose: a symlink inside the
    root is the user's choice and is followed wherever it points (docs/reliability.md)."""
    rel = rel.replace("\\", "/")
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel):
        return None
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../"):
        return None
    return "" if norm == "." else norm


def resolve_media(root: Path, rel: str) -> str | None:
    """``rel`` if it exists under root (a video file or a frame folder); else a frame folder named
    like the video without its extension; else None."""
    if (root / rel).exists():
        return rel
    stem = strip_video_ext(rel)
    if stem != rel and (root / stem).is_dir():
        return stem
    return None


def list_media(folder: Path) -> list[str]:
    """Names of the videos in a folder: files with a video extension and sub-folders (frame
    folders), sorted. Hidden entries are ignored."""
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if e.is_dir() or os.path.splitext(e.name)[1].lower() in VIDEO_EXTENSIONS:
                out.append(e.name)
    return sorted(out)


def media_key(rel: str) -> str:
    """Key that matches a listed video with what is on disk, whether a file or a frame folder."""
    return strip_video_ext(rel.strip("/"))


# -------------------------------------------------------------------------------------- manifest
@dataclass
class Collector:
    """Gathers videos and their subset per split while remembering where each came from, so a
    conflict can name both places. Videos named in no split of ``splits`` never get in: callers
    record them in ``excluded``."""
    dataset: str
    splits: list[str]
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    subsets: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    excluded: list[tuple[str, str]] = field(default_factory=list)
    strict: bool = True
    _missing: set[str] = field(default_factory=set)

    def add(self, video_id: str, where: str, **fields: Any) -> None:
        """Register a video (``fields``: path, label_id, label_name, group and any extra column).
        The same id twice must describe the same video."""
        for key in ("path", "gt_path"):
            if fields.get(key) and confine(str(fields[key])) is None:
                raise DatasetError(f"{where}: {key} {fields[key]!r} of video {video_id!r} leaves the dataset "
                                   "root. Fix: name files relative to the root, without "
                                   "'..' or a leading '/' (folder options in params.yaml too)")
        known = self.videos.get(video_id)
        if known is None:
            self.videos[video_id] = fields
            self.origin[video_id] = where
            return
        differ = {k: (known.get(k), v) for k, v in fields.items() if known.get(k) != v}
        if differ:
            k, (a, b) = next(iter(differ.items()))
            raise DatasetError(f"{where}: duplicate video id {video_id!r}: {k} is {b!r} here but {a!r} at "
                               f"{self.origin[video_id]}. Fix: every video must have one id, one path "
                               "and one label; remove or rename one of the two entries")

    def assign(self, split: str, video_id: str, subset: str, where: str) -> None:
        assert subset in SUBSETS, subset
        per_split = self.subsets.setdefault(split, {})
        if video_id in per_split:
            prev_subset, prev_where = per_split[video_id]
            raise DatasetError(f"{where}: duplicate entry: video {video_id!r} is already in split "
                               f"{split!r} as {prev_subset!r} at {prev_where}. Fix: list each video once "
                               "per split (train or test, not both)")
        per_split[video_id] = (subset, where)

    def exclude(self, item: str, reason: str) -> None:
        self.excluded.append((item, reason))

    def locate(self, root: Path, rel: str, where: str, check: bool) -> str | None:
        """The entry's path as found on disk (a video file or its frame folder); None, after
        :meth:`missing` recorded it, when it is not there. Without ``check`` the path as given.
        A path that leaves the root is refused either way (:meth:`outside`)."""
        inside = confine(rel)
        if inside is None or not inside:
            self.outside(rel, where)
            return None
        if not check:
            return inside
        found = resolve_media(root, inside)
        if found is None:
            self.missing(root, rel, where)
        return found

    def outside(self, rel: str, where: str) -> None:
        """A split entry whose path leaves the dataset root: an error when strict, else recorded in
        ``excluded``; never a video of the manifest."""
        problem = f"path {rel!r} leaves the dataset root"
        if self.strict:
            raise DatasetError(f"{where}: {problem}. Fix: name the video relative to the root, without '..' "
                               "or a leading '/' (move or symlink the video under the root); with strict: "
                               "false in params.yaml it is recorded as excluded instead")
        self.exclude(rel, f"{problem}; named at {where}")

    def missing(self, root: Path, rel: str, where: str, what: str = "names a missing video") -> None:
        """A split entry whose video is not on disk: an error when strict, else recorded once in
        ``excluded`` (the caller then leaves the video out)."""
        if self.strict:
            raise DatasetError(f"{where}: {what} {root / rel}. Fix: restore the video (or its frame "
                               "folder), remove the entry, or set check_files: false to read the split files "
                               "without videos (with strict: false in params.yaml it is recorded as "
                               "excluded instead)")
        if rel not in self._missing:
            self._missing.add(rel)
            self.exclude(rel, f"missing on disk; named at {where}")

    def manifest(self, classes: list[str], *, pose_only: bool = False,
                 extra_columns: Iterable[str] = ()) -> Manifest:
        extra = list(extra_columns)
        rows = []
        for vid in sorted(self.videos):
            f = self.videos[vid]
            row = {"video_id": vid, "path": f.get("path", ""), "label_id": int(f["label_id"]),
                   "label_name": f["label_name"], "group": str(f.get("group", ""))}
            for s in self.splits:
                row[f"split_{s}"] = self.subsets.get(s, {}).get(vid, ("unused", ""))[0]
            for c in extra:
                row[c] = f.get(c)
            rows.append(row)
        columns = list(VIDEO_COLUMNS) + [f"split_{s}" for s in self.splits] + extra
        videos = pd.DataFrame(rows, columns=columns)
        videos["label_id"] = videos["label_id"].astype("int64")
        for c in ("video_id", "path", "label_name", "group"):
            videos[c] = videos[c].astype(str)
        excluded = pd.DataFrame({"item": [i for i, _ in self.excluded],
                                 "reason": [r for _, r in self.excluded]}, dtype=str)
        m = Manifest(dataset=self.dataset, classes=list(classes), splits=list(self.splits), videos=videos,
                     excluded=excluded, pose_only=pose_only)
        m.validate()
        return m


def exclude_unlisted(col: Collector, root: Path, folder_rel: str, classes: Iterable[str],
                     listed_keys: set[str], skip: Iterable[str] = ()) -> None:
    """Record as excluded every video under ``root/folder_rel/<class>/`` that no split file names,
    and every non-class folder holding videos. ``listed_keys`` holds media_key() of the paths the
    split files named; ``skip`` names folders (split lists, annotations) that are not classes."""
    base = root / folder_rel if folder_rel else root
    if not base.is_dir():
        return
    classes = set(classes)
    skip = set(skip)
    with os.scandir(base) as it:
        entries = sorted((e.name, e.is_dir()) for e in it if not e.name.startswith("."))
    for name, is_dir in entries:
        if not is_dir or name in skip:
            continue
        media = list_media(base / name)
        if name not in classes:
            if media:
                col.exclude(join_rel(folder_rel, name) + "/",
                            f"folder is not a class of the class index ({len(media)} videos in it)")
            continue
        for m in media:
            rel = join_rel(folder_rel, name, m)
            if media_key(rel) not in listed_keys:
                col.exclude(rel, "on disk but named in no split file (belongs to no subset)")


# ------------------------------------------------------------------------------------- summarize
def summarize(manifest: Manifest) -> str:
    """A header line, then one line per split: train/test/unused counts and the smallest and
    largest per-class train and test counts."""
    v = manifest.videos
    lines = [f"{manifest.dataset}: {len(v)} videos, {len(manifest.classes)} classes, "
             f"{len(manifest.splits)} split(s), {len(manifest.excluded)} excluded"
             + (", pose-only (no videos)" if manifest.pose_only else "")]
    for split in manifest.splits:
        col = manifest.split_column(split)
        counts = v[col].value_counts()
        parts = [f"split {split}: train {int(counts.get('train', 0))}, test {int(counts.get('test', 0))}, "
                 f"unused {int(counts.get('unused', 0))}"]
        for subset in ("train", "test"):
            per_class = (v.loc[v[col] == subset, "label_id"].value_counts()
                         .reindex(range(len(manifest.classes)), fill_value=0))
            if len(per_class):
                parts.append(f"{subset} per class {int(per_class.min())}..{int(per_class.max())}")
        lines.append("  " + "; ".join(parts))
    per_class = v["label_id"].value_counts().reindex(range(len(manifest.classes)), fill_value=0)
    lines.append("  videos per class: " + ", ".join(f"{name} {int(n)}" for name, n in zip(manifest.classes, per_class)))
    return "\n".join(lines)
