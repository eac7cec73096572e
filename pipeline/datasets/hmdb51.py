"""HMDB51 (6,766 clips, 51 classes; three official 70/30 splits: per class 70 train, 30 test).

Layout expected under the dataset root (``hmdb51_org.rar`` unpacked, one folder per class, plus a
split folder)::

    <root>/<video_dir>/<class>/<name>.avi             videos (or frame folders <name>/)
    <root>/<split_dir>/...                            split files in either format below

Two split-file formats are read:

- ``official``: the ``testTrainMulti_7030_splits`` files, ``<class>_test_split{1,2,3}.txt``, one
  ``<name>.avi <flag>`` line per clip of the class; flag 1 = train, 2 = test, 0 = unused.
- ``list``: ``<anything>split{1,2,3}_{train,test}.txt`` (e.g. ``hmdb51_split1_train.txt``), one
  ``<class>/<name>.avi [<class>] <class index>`` line per clip (the class index 0- or 1-based, the
  class order is the order of the indices).

Class order: ``official`` sorts the class names; ``list`` follows the indices in the files.
A clip that no split uses (flag 0 in every split file) is recorded in ``manifest.excluded``.
Split ``k`` is named ``"k"``. HMDB has no subject ids: ``group`` is "".

Options:

- ``split_format`` (default ``"auto"``): ``"official"``, ``"list"`` or ``"auto"`` (decided by the
  file names found in ``split_dir``; an error if both kinds are there).
- ``split_dir`` (default ``null``): split folder relative to the root; ``null`` takes the first of
  ``testTrainMulti_7030_splits``, ``lists``, ``splits`` that holds split files.
- ``video_dir`` (default ``""``): folder holding the class folders, relative to the root.
- ``splits`` (default ``null`` = all found): split numbers to use, e.g. ``[1]``.
- ``check_files`` (default ``true``): every used video must exist; videos on disk that no split
  file names are recorded as excluded. ``false`` parses the split files alone.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.datasets._common import (Collector, as_bool, choice, exclude_unlisted, fail, join_rel,
                                       media_key, parse_options, read_lines, safe_id,
                                       strip_video_ext)
from pipeline.datasets.base import DatasetError, DatasetAdapter, Manifest

NAME = "hmdb51"
DEFAULTS = {"split_format": "auto", "split_dir": None, "video_dir": "", "splits": None, "check_files": True}
SPLIT_DIR_CANDIDATES = ("testTrainMulti_7030_splits", "lists", "splits")
_OFFICIAL = re.compile(r"^(.+)_test_split(\d+)\.txt$")
_LISTFILE = re.compile(r"^(?:.*[_-])?split(\d+)_(train|test)(?:list)?\.txt$")
_FLAG = {"0": "unused", "1": "train", "2": "test"}


@dataclass(frozen=True)
class Entry:
    cls: str
    name: str          # the file name as listed, e.g. "April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    split: str
    subset: str
    where: str         # "file:line"


def _pick_splits(found: list[str], wanted: Any, dataset: str, split_dir: Path) -> list[str]:
    if wanted is None:
        return found
    wanted = [str(int(w)) for w in (wanted if isinstance(wanted, (list, tuple)) else [wanted])]
    bad = [w for w in wanted if w not in found]
    if bad:
        raise DatasetError(f"params.yaml: dataset adapter {dataset!r} option splits names {bad}, but "
                           f"{split_dir} has split files for {found}")
    return wanted


def detect_format(split_dir: Path) -> str | None:
    names = [p.name for p in split_dir.iterdir()] if split_dir.is_dir() else []
    official = any(_OFFICIAL.match(n) for n in names)
    listed = any(_LISTFILE.match(n) for n in names)
    if official and listed:
        raise fail(split_dir, None, "holds split files of both the official (<class>_test_splitK.txt) and "
                   "the list (...splitK_train.txt) format", "set split_format: official or list in params.yaml")
    return "official" if official else "list" if listed else None


def read_official(split_dir: Path, wanted: Any, dataset: str,
                  flags: dict[str, str] = _FLAG) -> tuple[list[str], list[str], list[Entry]]:
    """Parse ``<class>_test_split<k>.txt`` files -> (sorted classes, split names, entries)."""
    files: dict[str, dict[str, Path]] = {}
    for p in sorted(split_dir.iterdir()) if split_dir.is_dir() else []:
        m = _OFFICIAL.match(p.name)
        if m:
            files.setdefault(m.group(1), {})[str(int(m.group(2)))] = p
    if not files:
        raise fail(split_dir, None, "no <class>_test_split<k>.txt split files found",
                   "point split_dir at the unpacked official split folder")
    classes = sorted(files)
    found = sorted({k for per in files.values() for k in per}, key=int)
    for cls in classes:
        missing = [k for k in found if k not in files[cls]]
        if missing:
            raise fail(split_dir / f"{cls}_test_split{missing[0]}.txt", None,
                       f"class {cls!r} has no split file for split {missing[0]}",
                       "restore the file from the official split archive")
    splits = _pick_splits(found, wanted, dataset, split_dir)
    entries = []
    for cls in classes:
        for split in splits:
            path = files[cls][split]
            for no, text in read_lines(path):
                parts = text.split()
                if len(parts) != 2 or parts[1] not in flags:
                    raise fail(path, no, f"malformed line {text!r}",
                               f'each line must be "<video file> <flag>" with flag one of {sorted(flags)} '
                               f"({', '.join(f'{k} = {v}' for k, v in sorted(flags.items()))})")
                if "/" in parts[0]:
                    raise fail(path, no, f"video name {parts[0]!r} holds a folder",
                               "list the bare file name; the class comes from the split file's name")
                entries.append(Entry(cls, parts[0], split, flags[parts[1]], f"{path}:{no}"))
    return classes, splits, entries


def read_lists(split_dir: Path, wanted: Any, dataset: str) -> tuple[list[str], list[str], list[Entry]]:
    """Parse ``...split<k>_{train,test}.txt`` path/label/index lists."""
    files: dict[str, dict[str, Path]] = {}
    for p in sorted(split_dir.iterdir()) if split_dir.is_dir() else []:
        m = _LISTFILE.match(p.name)
        if m:
            files.setdefault(str(int(m.group(1))), {})[m.group(2)] = p
    if not files:
        raise fail(split_dir, None, "no ...split<k>_train.txt / ...split<k>_test.txt list files found",
                   "point split_dir at the folder holding the lists")
    found = sorted(files, key=int)
    for k in found:
        for subset in ("train", "test"):
            if subset not in files[k]:
                other = next(iter(files[k].values()))
                raise fail(other, None, f"split {k} has a list file but no {subset} list beside it",
                           f"add the split {k} {subset} list")
    splits = _pick_splits(found, wanted, dataset, split_dir)
    rows = []  # (cls, name, split, subset, index, path, no)
    index_of: dict[str, tuple[int, str]] = {}
    name_of: dict[int, tuple[str, str]] = {}
    for split in splits:
        for subset in ("train", "test"):
            path = files[split][subset]
            for no, text in read_lines(path):
                parts = text.split()
                rel = parts[0].replace("\\", "/").strip("/") if parts else ""
                if len(parts) not in (2, 3) or "/" not in rel or not parts[-1].isdigit():
                    raise fail(path, no, f"malformed line {text!r}",
                               'each line must be "<class>/<video file> [<class>] <class index>"')
                cls, _, name = rel.rpartition("/")
                cls = cls.rsplit("/", 1)[-1]
                if len(parts) == 3 and parts[1] != cls:
                    raise fail(path, no, f"label {parts[1]!r} differs from the class folder {cls!r}",
                               "correct the label or the path")
                idx, where = int(parts[-1]), f"{path}:{no}"
                if cls in index_of and index_of[cls][0] != idx:
                    raise fail(path, no, f"class {cls!r} has index {idx} here but {index_of[cls][0]} at "
                               f"{index_of[cls][1]}", "give each class one index in every list")
                if idx in name_of and name_of[idx][0] != cls:
                    raise fail(path, no, f"index {idx} is class {cls!r} here but {name_of[idx][0]!r} at "
                               f"{name_of[idx][1]}", "give each class its own index")
                index_of.setdefault(cls, (idx, where))
                name_of.setdefault(idx, (cls, where))
                rows.append(Entry(cls, name, split, subset, where))
    ids = sorted(name_of)
    base = ids[0] if ids else 0
    if ids != list(range(base, base + len(ids))) or base not in (0, 1):
        raise fail(split_dir, None, f"class indices must run 0..N-1 (or 1..N) without gaps, got "
                   f"{ids[:3]}...{ids[-3:]}", "renumber the class indices")
    classes = [name_of[i][0] for i in ids]
    return classes, splits, rows


def collect(dataset: str, root: Path, classes: list[str], splits: list[str], entries: list[Entry], *,
            rel_of, check_files: bool, strict: bool = True, extra=None) -> tuple[Collector, set[str], list[str]]:
    """Entries -> Collector. ``rel_of(cls, name)`` is the listed media path relative to the root.
    Clips unused in every split are excluded; used clips must exist when ``check_files``."""
    index = {c: i for i, c in enumerate(classes)}
    per_video: dict[str, dict[str, Any]] = {}
    for e in entries:
        vid = safe_id(strip_video_ext(e.name))
        info = per_video.get(vid)
        if info is None:
            info = per_video[vid] = {"cls": e.cls, "name": e.name, "where": e.where, "subsets": {}}
        elif info["cls"] != e.cls or info["name"] != e.name:
            raise DatasetError(f"{e.where}: duplicate video id {vid!r}: also {info['cls']}/{info['name']} at "
                               f"{info['where']}. Fix: every clip must appear under one class with one name")
        if e.split in info["subsets"]:
            prev = info["subsets"][e.split]
            raise DatasetError(f"{e.where}: duplicate entry: {e.cls}/{e.name} is already in split {e.split} "
                               f"as {prev[0]!r} at {prev[1]}. Fix: list each clip once per split")
        info["subsets"][e.split] = (e.subset, e.where)
    col = Collector(dataset, splits, strict=strict)
    listed: set[str] = set()
    extra_cols: list[str] = []
    for vid in sorted(per_video):
        info = per_video[vid]
        rel = rel_of(info["cls"], info["name"])
        listed.add(media_key(rel))
        if all(s == "unused" for s, _ in info["subsets"].values()):
            col.exclude(rel, f"unused (flag 0) in every split file, e.g. {info['where']}")
            continue
        rel = col.locate(root, rel, info["where"], check_files)
        if rel is None:
            continue
        fields = {"path": rel, "label_id": index[info["cls"]], "label_name": info["cls"], "group": ""}
        if extra is not None:
            more = extra(vid, info["cls"], info["name"])
            extra_cols = list(more)
            fields.update(more)
        col.add(vid, info["where"], **fields)
        for split, (subset, where) in info["subsets"].items():
            col.assign(split, vid, subset, where)
    return col, listed, extra_cols


def find_split_dir(root: Path, split_dir: str | None, fmt: str) -> Path:
    if split_dir:
        return root / split_dir
    for cand in SPLIT_DIR_CANDIDATES:
        d = root / cand
        if d.is_dir() and detect_format(d) in ((fmt,) if fmt != "auto" else ("official", "list")):
            return d
    raise fail(root, None, f"no split folder found (looked for {list(SPLIT_DIR_CANDIDATES)})",
               "unpack the official testTrainMulti_7030_splits archive into the root or set split_dir")


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    fmt = choice(NAME, "split_format", o["split_format"], ("auto", "official", "list"))
    check = as_bool(NAME, "check_files", o["check_files"])
    split_dir = find_split_dir(root, o["split_dir"], fmt)
    if fmt == "auto":
        fmt = detect_format(split_dir)
        if fmt is None:
            raise fail(split_dir, None, "holds no HMDB51 split files (<class>_test_splitK.txt or "
                       "...splitK_train.txt)", "set split_dir to the folder holding them")
    reader = read_official if fmt == "official" else read_lists
    classes, splits, entries = reader(split_dir, o["splits"], NAME)
    video_dir = o["video_dir"]
    col, listed, _ = collect(NAME, root, classes, splits, entries,
                             rel_of=lambda cls, name: join_rel(video_dir, cls, name), check_files=check,
                             strict=o["strict"])
    if check:
        skip = set(split_dir.relative_to(root).parts[:1]) if split_dir.is_relative_to(root) else set()
        exclude_unlisted(col, root, video_dir, classes, listed, skip=skip)
    return col.manifest(classes)


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest,
                         description="HMDB51: 51 classes, 3 official 70/30 splits (official or list format)")
