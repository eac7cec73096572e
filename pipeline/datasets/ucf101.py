"""UCF101 (13,320 clips, 101 classes, three official train/test splits).

Layout expected under the dataset root (the official ``UCF101.rar`` unpacked, plus the official
``UCF101TrainTestSplits-RecognitionTask.zip`` unpacked beside it)::

    <root>/<video_dir>/<Class>/v_<Class>_gGG_cCC.avi      videos (or frame folders v_..._cCC/)
    <root>/<split_dir>/classInd.txt                       "1 ApplyEyeMakeup" ... (1-based)
    <root>/<split_dir>/trainlist0{1,2,3}.txt              "<Class>/<file>.avi <label>"
    <root>/<split_dir>/testlist0{1,2,3}.txt               "<Class>/<file>.avi"

CRLF (as shipped) and LF line endings are both accepted. Split ``k`` is named ``"k"`` ("1", "2",
"3"); a video listed in neither list of a split is ``unused`` there. ``group`` is the ``gGG`` part
of the file name (the 25 groups the official splits are built from).

Options (``datasets.<name>.options`` in params.yaml):

- ``split_dir`` (default ``"ucfTrainTestlist"``): folder of the class index and split lists,
  relative to the root.
- ``class_index`` (default ``"classInd.txt"``): class index file inside ``split_dir``.
- ``video_dir`` (default ``""``): folder holding the class folders, relative to the root (e.g.
  ``"UCF-101"`` if the archive was unpacked into a sub-folder).
- ``splits`` (default ``null`` = every ``trainlist0k.txt`` found): list of split numbers to use.
- ``check_files`` (default ``true``): every listed video must exist (as the listed file, or as a
  frame folder of the same name without extension); videos on disk that no list names are
  recorded in ``manifest.excluded``. ``false`` parses the lists alone.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from pipeline.datasets._common import (Collector, as_bool, exclude_unlisted, fail, join_rel, media_key,
                                       parse_options, read_lines, safe_id,
                                       strip_video_ext)
from pipeline.datasets.base import DatasetAdapter, DatasetError, Manifest

NAME = "ucf101"
DEFAULTS = {"split_dir": "ucfTrainTestlist", "class_index": "classInd.txt", "video_dir": "",
            "splits": None, "check_files": True}
_GROUP = re.compile(r"_(g\d+)_c\d+$")
_LIST = re.compile(r"^(train|test)list(\d+)\.txt$")


def read_class_index(path: Path) -> list[str]:
    """``"<id> <name>"`` lines with ids 1..N (any order) -> class names in id order."""
    by_id: dict[int, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    for no, text in read_lines(path, "class index"):
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise fail(path, no, f"malformed class index line {text!r}",
                       'each line must be "<id> <class name>", e.g. "1 ApplyEyeMakeup"')
        cid, name = int(parts[0]), parts[1]
        if cid in by_id:
            raise fail(path, no, f"class id {cid} already used at line {by_id[cid][1]}",
                       "give every class its own id")
        if name in seen:
            raise fail(path, no, f"class {name!r} already listed at line {seen[name]}", "list each class once")
        by_id[cid] = (name, no)
        seen[name] = no
    if not by_id:
        raise fail(path, None, "class index is empty", 'add one "<id> <class name>" line per class')
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise fail(path, None, f"class ids must be 1..{len(by_id)} without gaps, got {sorted(by_id)[:5]}...",
                   "number the classes 1, 2, 3, ...")
    return [by_id[i][0] for i in range(1, len(by_id) + 1)]


def discover_splits(split_dir: Path, wanted: Any, dataset: str) -> dict[str, dict[str, Path]]:
    """Split name ("1", "2", ...) -> {"train": trainlist path, "test": testlist path}."""
    found: dict[str, dict[str, Path]] = {}
    if split_dir.is_dir():
        for p in sorted(split_dir.iterdir()):
            m = _LIST.match(p.name)
            if m:
                found.setdefault(str(int(m.group(2))), {})[m.group(1)] = p
    if not found:
        raise fail(split_dir, None, "no trainlist0k.txt / testlist0k.txt split files found",
                   "point split_dir (params.yaml datasets options) at the folder holding the split lists")
    for k, kinds in found.items():
        if set(kinds) != {"train", "test"}:
            missing = ({"train", "test"} - set(kinds)).pop()
            raise fail(split_dir / f"{missing}list{int(k):02d}.txt", None, f"split {k} has no {missing} list",
                       "restore the file from the official split archive")
    available = sorted(found, key=int)
    if wanted is None:
        return {k: found[k] for k in available}
    wanted = [str(int(w)) for w in (wanted if isinstance(wanted, (list, tuple)) else [wanted])]
    bad = [w for w in wanted if w not in found]
    if bad:
        raise DatasetError(f"params.yaml: dataset adapter {dataset!r} option splits names {bad}, but "
                           f"{split_dir} has split lists for {available}")
    return {k: found[k] for k in wanted}


def build_ucf_style(dataset: str, root: Path, *, split_dir: Path, class_index: Path, video_dir: str,
                    splits: Any, check_files: bool, strict: bool, group_of: Callable[[str], str],
                    extra: Callable[[str, str], dict[str, Any]] | None = None,
                    skip_dirs: tuple[str, ...] = ()) -> Manifest:
    """Parse a UCF101-style layout. ``group_of(video_id)`` gives the group; ``extra(video_id,
    class)`` gives extra manifest columns per video."""
    classes = read_class_index(class_index)
    index = {name: i for i, name in enumerate(classes)}
    split_files = discover_splits(split_dir, splits, dataset)
    col = Collector(dataset, list(split_files), strict=strict)
    listed: set[str] = set()
    extra_cols: list[str] = []
    for split, files in split_files.items():
        for subset in ("train", "test"):
            path = files[subset]
            for no, text in read_lines(path):
                where = f"{path}:{no}"
                parts = text.split()
                if len(parts) not in (1, 2) or "/" not in parts[0].replace("\\", "/"):
                    raise fail(path, no, f"malformed line {text!r}",
                               'each line must be "<Class>/<video file>" optionally followed by the 1-based '
                               "label")
                rel_list = parts[0].replace("\\", "/").strip("/")
                cls, _, fname = rel_list.partition("/")
                if cls not in index:
                    raise fail(path, no, f"class {cls!r} is not in the class index {class_index}",
                               "add the class to the class index or correct the line")
                if len(parts) == 2:
                    if not parts[1].lstrip("-").isdigit():
                        raise fail(path, no, f"label {parts[1]!r} is not a number", "use the 1-based class id")
                    if int(parts[1]) != index[cls] + 1:
                        raise fail(path, no, f"label {parts[1]} does not match class {cls!r} (id "
                                   f"{index[cls] + 1} in {class_index})",
                                   "correct the label or move the video to the right class folder")
                rel = join_rel(video_dir, rel_list)
                rel = col.locate(root, rel, where, check_files)
                if rel is None:
                    continue
                listed.add(media_key(rel))
                vid = safe_id(strip_video_ext(fname.rsplit("/", 1)[-1]))
                fields = {"path": rel, "label_id": index[cls], "label_name": cls, "group": group_of(vid)}
                if extra is not None:
                    more = extra(vid, cls)
                    extra_cols = list(more)
                    fields.update(more)
                col.add(vid, where, **fields)
                col.assign(split, vid, subset, where)
    if check_files:
        exclude_unlisted(col, root, video_dir, classes, listed, skip=skip_dirs)
    return col.manifest(classes, extra_columns=extra_cols)


def ucf101_group(video_id: str) -> str:
    m = _GROUP.search(video_id)
    return m.group(1) if m else ""


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    split_dir = root / o["split_dir"]
    return build_ucf_style(NAME, root, split_dir=split_dir, class_index=split_dir / o["class_index"],
                           video_dir=o["video_dir"], splits=o["splits"],
                           check_files=as_bool(NAME, "check_files", o["check_files"]), strict=o["strict"],
                           group_of=ucf101_group, skip_dirs=Path(o["split_dir"]).parts[:1])


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest,
                         description="UCF101: 101 classes, official 3 train/test splits (ucfTrainTestlist)")
