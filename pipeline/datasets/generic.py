"""Your own videos: a folder of videos (or frame folders) and a CSV that labels them.

Layout expected under the dataset root::

    <root>/<any/sub/folders>/<video>.mp4 ...     videos or frame folders, anywhere under the root
    <root>/labels.csv                            header "path,label[,split][,group]"

``path`` is relative to the root (a path that leaves it, through ``..`` or a leading ``/``, is
refused naming its line, or recorded as excluded with ``strict: false``; symlinks inside the root
are followed); ``label`` is the class name; ``split`` (optional) is ``train``,
``test`` or ``unused`` per video; ``group`` (optional) is e.g. a subject id. Other columns are
ignored. Without ``folds`` there is one split, named ``"default"``: the ``split`` column when the
CSV has one, otherwise a seeded random ``test_fraction`` of each class (stratified) goes to test.
With ``folds`` (needs a ``group`` column, no ``split`` column) there is one split per fold, named
``"1"``..``"k"``: each fold tests whole groups and trains on the others, every video is tested in
exactly one fold, and one prepare/decode/pose pass serves them all. Classes are the sorted label
names unless ``classes`` fixes their order.

Options:

- ``csv`` (default ``"labels.csv"``): the CSV file, relative to the root.
- ``test_fraction`` (default ``0.3``), ``seed`` (default ``0``), ``stratify`` (default ``true``):
  the random split when the CSV has no ``split`` column (each class with 2+ videos keeps at least
  one video in train and one in test).
- ``folds`` (default ``null``: one split): ``by_group`` (leave one group out: fold i tests the
  i-th group in sorted order, k = the number of groups) or an integer k >= 2 (k folds of whole
  groups, the groups dealt out so that each fold's test set holds about 1/k of every class as far
  as the groups allow; seeded by ``seed``, deterministic). ``test_fraction`` and ``stratify`` are
  not used with folds. Every row needs a group.
- ``classes`` (default ``null``): list of class names in label-id order; a label outside it is an
  error (with ``strict: false``: its row is recorded as excluded).
- ``min_class_videos`` (default ``2``): without ``classes``, a label on fewer rows than this is
  taken for a typo (``wavee``), not a new class: an error naming its line (with ``strict: false``:
  its rows are recorded as excluded). 1 accepts every label.
- ``id_from`` (default ``"stem"``): video id from the file name without extension (``"stem"``) or
  from the whole relative path (``"path"``: ``a/b/c.mp4`` -> ``a__b__c``), for datasets whose file
  names repeat across folders.
- ``check_files`` (default ``true``): every CSV row must name an existing video; video files under
  the root that the CSV does not name are recorded as excluded.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.datasets._common import (VIDEO_EXTENSIONS, Collector, as_bool, choice, fail, media_key,
                                       parse_options, safe_id)
from pipeline.datasets.base import DatasetAdapter, DatasetError, Manifest

NAME = "generic"
SPLIT = "default"
DEFAULTS = {"csv": "labels.csv", "test_fraction": 0.3, "seed": 0, "stratify": True, "classes": None,
            "id_from": "stem", "check_files": True, "min_class_videos": 2, "folds": None}


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if not path.is_file():
        raise fail(path, None, "label CSV not found",
                   'write a CSV with a "path,label[,split]" header in the dataset root, or set the csv option')
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail(path, None, "is not UTF-8 text", "save the CSV as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise fail(path, None, "the CSV is empty", 'add a "path,label[,split]" header and one row per video') from None
    for need in ("path", "label"):
        if need not in header:
            raise fail(path, 1, f"the header {header} has no {need!r} column",
                       'start the CSV with a header such as "path,label,split"')
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise fail(path, 1, f"duplicate header column(s) {dup}", "name each column once")
    rows = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise fail(path, line, f"has {len(values)} fields, the header has {len(header)}",
                       "give every row the header's columns (quote values that contain commas)")
        rows.append((line, {h: v.strip() for h, v in zip(header, values)}))
    return header, rows


def _random_subsets(ids_by_class: dict[str, list[str]], fraction: float, seed: int,
                    stratify: bool) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    pools = ([sorted(v) for _, v in sorted(ids_by_class.items())] if stratify
             else [sorted(x for v in ids_by_class.values() for x in v)])
    out = {}
    for ids in pools:
        n = len(ids)
        n_test = int(round(n * fraction))
        if n >= 2 and fraction > 0:
            n_test = min(max(n_test, 1), n - 1)
        elif n < 2:
            n_test = 0
        order = rng.permutation(n)
        for rank, i in enumerate(order):
            out[ids[i]] = "test" if rank < n_test else "train"
    return out


def _fold_option(value: Any) -> str | int | None:
    """``folds`` as given: None, "by_group" or an integer k >= 2; a DatasetError otherwise."""
    if value is None or value == "by_group":
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 2:
            raise DatasetError(f"params.yaml: generic option folds is {value}: k folds need k >= 2. Fix: set "
                               "folds: by_group (leave one group out) or an integer k >= 2, or remove folds "
                               "for one split")
        return value
    raise DatasetError(f"params.yaml: generic option folds must be by_group or an integer k >= 2, got "
                       f"{value!r}. Fix: e.g. folds: by_group, or folds: 5")


def _deal_groups(counts: dict[str, Counter], k: int, seed: int) -> dict[str, int]:
    """Group -> fold (0..k-1): the groups, largest first (ties in a seeded order), each to the fold
    where it adds least to sum over classes of (fold's videos of the class / class's videos)^2,
    fewest groups first among equals. Every fold gets a group (k <= number of groups): an empty
    fold never costs more than another, and wins the tie."""
    rng = np.random.default_rng(seed)
    names = sorted(counts)
    tie = dict(zip(names, rng.permutation(len(names))))
    order = sorted(names, key=lambda g: (-sum(counts[g].values()), tie[g]))
    totals: Counter = Counter()
    for c in counts.values():
        totals.update(c)
    held = [Counter() for _ in range(k)]
    members = [0] * k
    fold_tie = rng.permutation(k)
    out = {}
    for g in order:
        cost = [sum((2 * held[f][c] * n + n * n) / totals[c] ** 2 for c, n in counts[g].items()) for f in range(k)]
        f = min(range(k), key=lambda f: (round(cost[f], 12), members[f], fold_tie[f]))
        held[f].update(counts[g])
        members[f] += 1
        out[g] = f
    return out


def _assign_folds(col: Collector, path: Path, folds: str | int, seed: int,
                  groups: dict[str, str], labels: dict[str, str]) -> list[str]:
    """Fill one split per fold ("1".."k") into ``col``; return the split names."""
    names = sorted(set(groups.values()))
    if folds == "by_group":
        if len(names) < 2:
            raise fail(path, None, f"folds: by_group needs two or more groups, the CSV names {len(names)} "
                       f"({names})", "give the videos of different people (or sessions) different groups, "
                       "or remove the folds option")
        fold_of = {g: i for i, g in enumerate(names)}
        k = len(names)
    else:
        k = int(folds)
        if k > len(names):
            raise fail(path, None, f"folds: {k} needs at least {k} groups, the CSV names {len(names)} "
                       f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})",
                       f"set folds to at most {len(names)}, or folds: by_group")
        counts: dict[str, Counter] = {g: Counter() for g in names}
        for vid, g in groups.items():
            counts[g][labels[vid]] += 1
        fold_of = _deal_groups(counts, k, seed)
    splits = [str(i + 1) for i in range(k)]
    for vid, g in sorted(groups.items()):
        for i, split in enumerate(splits):
            col.assign(split, vid, "test" if fold_of[g] == i else "train",
                       f"{path} (fold {split} of folds: {folds}, group {g!r})")
    return splits


def _fraction_and_seed(o: dict[str, Any]) -> tuple[float, int]:
    try:
        fraction = float(o["test_fraction"])
        seed = int(o["seed"])
    except (TypeError, ValueError):
        raise DatasetError("params.yaml: generic options test_fraction (0..1) and seed (an integer) must be "
                           f"numbers, got {o['test_fraction']!r}, {o['seed']!r}") from None
    if not 0.0 <= fraction < 1.0:
        raise DatasetError(f"params.yaml: generic option test_fraction must be in [0, 1), got {fraction}")
    return fraction, seed


def _check_columns(path: Path, header: list[str], rows: list, folds: str | int | None) -> None:
    """Rows present; with folds, a group column and no split column."""
    if not rows:
        raise fail(path, None, "the CSV has a header but no rows", "add one row per video")
    if folds is not None and "group" not in header:
        raise fail(path, 1, f"folds: {folds} needs a 'group' column (e.g. the person), the header {header} has "
                   "none", 'add a group column ("path,label,group") naming each video\'s person or '
                   "session, or remove the folds option")
    if folds is not None and "split" in header:
        raise fail(path, 1, f"has a 'split' column and the folds option (folds: {folds}) is set: the folds "
                   "choose the test videos", "remove the split column, or the folds option to keep it")


def _min_class_videos(o: dict[str, Any]) -> int:
    try:
        min_videos = int(o["min_class_videos"])
    except (TypeError, ValueError):
        min_videos = 0
    if min_videos < 1 or isinstance(o["min_class_videos"], bool):
        raise DatasetError(f"params.yaml: generic option min_class_videos must be an integer >= 1, got "
                           f"{o['min_class_videos']!r}")
    return min_videos


def _classes(o: dict[str, Any], rows: list, min_videos: int) -> tuple[list[str], dict[str, int]]:
    """The classes (the option, or the sorted labels) and the rare labels (label -> rows)."""
    if o["classes"] is not None:
        classes = [str(c) for c in o["classes"]]
        if len(set(classes)) != len(classes):
            raise DatasetError(f"params.yaml: generic option classes lists a class twice: {classes}")
        return classes, {}
    counts = Counter(r["label"] for _, r in rows if r["label"])
    rare = {label: n for label, n in counts.items() if n < min_videos}
    return sorted(set(counts) - set(rare)), rare


def _label_problem(label: str, rare: dict[str, int], classes: list[str],
                   min_videos: int) -> tuple[str | None, str | None]:
    """(problem, fix) for a label that is rare or outside the classes option; (None, None) else."""
    if label in rare:
        problem = (f"label {label!r} is on {rare[label]} row(s), fewer than min_class_videos "
                   f"({min_videos})" + (f": a typo of one of {classes}?" if classes else ""))
        return problem, ("correct the label, add videos of the class, or lower "
                         "datasets.<name>.options.min_class_videos")
    if label not in classes:
        return (f"label {label!r} is not in the classes option {classes}",
                "add it to datasets.<name>.options.classes or correct the row")
    return None, None


@dataclass
class _Listing:
    """What the CSV rows name, gathered row by row."""
    keys: set[str] = field(default_factory=set)                 # media keys of every listed row
    given: dict[str, tuple[str, str]] = field(default_factory=dict)   # video id -> (path, where)
    by_class: dict[str, list[str]] = field(default_factory=dict)      # for the random split
    fold_groups: dict[str, str] = field(default_factory=dict)
    fold_labels: dict[str, str] = field(default_factory=dict)


def _row_path(path: Path, line: int, r: dict[str, str]) -> str:
    rel = r["path"].replace("\\", "/").rstrip("/")
    if not rel:
        raise fail(path, line, "empty path", "give the video's path relative to the dataset root")
    if not r["label"]:
        raise fail(path, line, f"empty label for {rel}", "give every video a class name")
    return rel


def _video_id(path: Path, line: int, key: str, id_from: str, given: dict[str, tuple[str, str]]) -> str:
    vid = safe_id(Path(key).name if id_from == "stem" else key.replace("/", "__"))
    if vid in given:
        raise fail(path, line, f"duplicate video id {vid!r} (also {given[vid][0]} at {given[vid][1]})",
                   "remove the repeated row, or set id_from: path if different folders reuse file names")
    return vid


def _row_subset(col: Collector, path: Path, line: int, r: dict[str, str], vid: str, rel: str,
                folds: str | int | None, has_split: bool, seen: _Listing) -> None:
    """Note the row's fold group, assign its split column's subset, or keep it for the random split."""
    where = f"{path}:{line}"
    if folds is not None:
        if not r["group"]:
            raise fail(path, line, f"empty group for {rel} (folds: {folds} keeps each group's videos "
                       "together)", "give every video a group, e.g. the person in it")
        seen.fold_groups[vid], seen.fold_labels[vid] = r["group"], r["label"]
    elif has_split:
        subset = r["split"].lower()
        if subset not in ("train", "test", "unused"):
            raise fail(path, line, f"split {r['split']!r} is not train, test or unused",
                       "use train / test / unused (validation is carved from train by the index stage)")
        col.assign(SPLIT, vid, subset, where)
    else:
        seen.by_class.setdefault(r["label"], []).append(vid)


def _list_videos(col: Collector, root: Path, path: Path, rows: list, o: dict[str, Any], *,
                 classes: list[str], rare: dict[str, int], min_videos: int, id_from: str, check: bool,
                 folds: str | int | None, has_split: bool) -> _Listing:
    """Add every CSV row to ``col`` (or record it as excluded)."""
    index = {c: i for i, c in enumerate(classes)}
    seen = _Listing()
    for line, r in rows:
        where = f"{path}:{line}"
        rel = col.locate(root, _row_path(path, line, r), where, check)
        if rel is None:
            continue
        problem, fix = _label_problem(r["label"], rare, classes, min_videos)
        if problem:
            if o["strict"]:
                raise fail(path, line, problem, f"{fix} (strict: false records the row as excluded)")
            col.exclude(rel, f"{problem} (at {where})")
            seen.keys.add(media_key(rel))
            continue
        key = media_key(rel)
        vid = _video_id(path, line, key, id_from, seen.given)
        seen.given[vid] = (rel, where)
        seen.keys.add(key)
        col.add(vid, where, path=rel, label_id=index[r["label"]], label_name=r["label"],
                group=r.get("group", ""))
        _row_subset(col, path, line, r, vid, rel, folds, has_split, seen)
    return seen


def _exclude_unlisted(col: Collector, root: Path, listed: set[str], csv_name: str) -> None:
    """Record the videos under the root that the CSV does not name as excluded."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            if os.path.splitext(fname)[1].lower() in VIDEO_EXTENSIONS:
                rel = Path(dirpath, fname).relative_to(root).as_posix()
                if media_key(rel) not in listed:
                    col.exclude(rel, f"video under the root that {csv_name} does not name")


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    check = as_bool(NAME, "check_files", o["check_files"])
    id_from = choice(NAME, "id_from", o["id_from"], ("stem", "path"))
    fraction, seed = _fraction_and_seed(o)
    folds = _fold_option(o["folds"])
    path = root / o["csv"]
    header, rows = _read_csv(path)
    _check_columns(path, header, rows, folds)
    has_split = "split" in header
    min_videos = _min_class_videos(o)
    classes, rare = _classes(o, rows, min_videos)
    col = Collector(NAME, [SPLIT], strict=o["strict"])
    seen = _list_videos(col, root, path, rows, o, classes=classes, rare=rare, min_videos=min_videos,
                        id_from=id_from, check=check, folds=folds, has_split=has_split)
    if folds is not None:
        col.splits = _assign_folds(col, path, folds, seed, seen.fold_groups, seen.fold_labels)
    elif not has_split:
        for vid, subset in _random_subsets(seen.by_class, fraction, seed,
                                           as_bool(NAME, "stratify", o["stratify"])).items():
            col.assign(SPLIT, vid, subset, f"{path} (random split, seed {seed})")
    if check:
        _exclude_unlisted(col, root, seen.keys, o["csv"])
    return col.manifest(classes)


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest,
                         description="Your own videos: a folder plus a CSV (path, label[, split][, group])")
