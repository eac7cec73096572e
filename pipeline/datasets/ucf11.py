"""UCF11 / UCF YouTube Action (1,600 clips, 11 classes, 25 groups per class).

Layout expected under the dataset root (``UCF11_updated_mpg.rar`` unpacked)::

    <root>/<video_dir>/<class>/v_<action>_GG/v_<action>_GG_CC.mpg   (GG = group 01..25)
    <root>/<video_dir>/<class>/Annotation/...                       ignored

UCF11 ships no split files. The clips come from a list file if there is one (one
``<class>/v_<action>_GG/<clip>.mpg`` per line, e.g. ``listfile_all_clips.txt``), else from the
disk. ``group`` is ``gGG``. Classes come from ``classInd.txt`` in the root when present (one name
per line, optionally after a 1-based id), else the sorted class folders.

Protocols (``protocol``):

- ``"three_splits"`` (default): splits ``"1"``, ``"2"``, ``"3"`` that test on groups 1-7, 8-14 and
  15-21 and train on the other groups, the way UCF101's official three splits are cut. The PARNet
  paper reports UCF11 "over 3 splits" and says "UCF11 and UCF101 both have three splits" without
  listing them; UCF11 has no official three-split files, so this follows UCF101's group
  convention (an assumption; ``test_groups`` changes it).
- ``"logo"``: leave-one-group-out, the original protocol of Liu et al. (CVPR 2009): 25 splits
  ``"g01"`` ... ``"g25"``, each testing on one group and training on the other 24.

Options:

- ``protocol`` (default ``"three_splits"``): ``"three_splits"`` or ``"logo"``.
- ``test_groups`` (default ``{"1": [1..7], "2": [8..14], "3": [15..21]}``): for
  ``three_splits``, split name -> the groups tested in it.
- ``list_file`` (default ``null``): list file relative to the root; ``null`` uses
  ``listfile_all_clips.txt`` when the root has it, else scans the class folders.
- ``class_index`` (default ``null``): class file relative to the root; ``null`` uses
  ``classInd.txt`` when present, else the sorted class folder names.
- ``video_dir`` (default ``""``): folder holding the class folders, relative to the root.
- ``check_files`` (default ``true``): every listed clip must exist; clips on disk missing from the
  list file are recorded as excluded.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pipeline.datasets._common import (Collector, as_bool, choice, fail, join_rel, list_media, media_key,
                                       parse_options, read_lines, safe_id, strip_video_ext)
from pipeline.datasets.base import DatasetAdapter, DatasetError, Manifest

NAME = "ucf11"
NUM_GROUPS = 25
DEFAULT_TEST_GROUPS = {"1": list(range(1, 8)), "2": list(range(8, 15)), "3": list(range(15, 22))}
DEFAULTS = {"protocol": "three_splits", "test_groups": None, "list_file": None, "class_index": None,
            "video_dir": "", "check_files": True}
_GROUP_DIR = re.compile(r"^(.+)_(\d+)$")


def _read_classes(path: Path) -> list[str]:
    names: list[str] = []
    for no, text in read_lines(path, "class index"):
        parts = text.split()
        if len(parts) == 2 and parts[0].isdigit():
            if int(parts[0]) != len(names) + 1:
                raise fail(path, no, f"class id {parts[0]} out of order", "number the classes 1, 2, 3, ...")
            parts = parts[1:]
        if len(parts) != 1:
            raise fail(path, no, f"malformed class line {text!r}", 'write "<class>" or "<id> <class>"')
        if parts[0] in names:
            raise fail(path, no, f"class {parts[0]!r} listed twice", "list each class once")
        names.append(parts[0])
    return names


def _test_groups(o: dict[str, Any]) -> dict[str, set[int]]:
    raw = o["test_groups"] if o["test_groups"] is not None else DEFAULT_TEST_GROUPS
    if not isinstance(raw, dict) or not raw:
        raise DatasetError(f"params.yaml: option test_groups of dataset adapter {NAME!r} must map split "
                           f"names to lists of group numbers, got {raw!r}")
    out = {}
    for split, groups in raw.items():
        try:
            gs = {int(g) for g in groups}
        except (TypeError, ValueError):
            raise DatasetError(f"params.yaml: ucf11 test_groups[{split!r}] must be a list of group numbers "
                               f"1..{NUM_GROUPS}, got {groups!r}") from None
        if not gs or not gs <= set(range(1, NUM_GROUPS + 1)):
            raise DatasetError(f"params.yaml: ucf11 test_groups[{split!r}] must hold group numbers "
                               f"1..{NUM_GROUPS}, got {sorted(gs)}")
        out[str(split)] = gs
    return out


def _scan(root: Path, video_dir: str) -> list[tuple[str, str]]:
    """(relative clip path, where) for every clip in <class>/<v_x_GG>/ folders on disk."""
    base = root / video_dir if video_dir else root
    out = []
    for cls in sorted(os.listdir(base)) if base.is_dir() else []:
        if cls.startswith(".") or not (base / cls).is_dir():
            continue
        for sub in sorted(os.listdir(base / cls)):
            if _GROUP_DIR.match(sub) and (base / cls / sub).is_dir():
                for clip in list_media(base / cls / sub):
                    rel = join_rel(video_dir, cls, sub, clip)
                    out.append((rel, str(root / rel)))
    return out


def _clips(root: Path, video_dir: str, list_file: str | None, check: bool) -> list[tuple[str, str]]:
    """(relative clip path, where) of every clip: from the list file, or from disk without one."""
    if list_file is not None:
        lf = root / list_file
        clips = []
        for no, text in read_lines(lf, "clip list"):
            if len(text.split()) != 1:
                raise fail(lf, no, f"malformed line {text!r}", 'write one "<class>/v_<action>_GG/<clip>" per line')
            clips.append((join_rel(video_dir, text.replace("\\", "/")), f"{lf}:{no}"))
        return clips
    if not check:
        raise DatasetError(f"{root}: ucf11 without a list file reads the clips from disk; set check_files: "
                           "true or name a list_file in params.yaml")
    clips = _scan(root, video_dir)
    if not clips:
        raise fail(root / video_dir if video_dir else root, None,
                   "no clips found in <class>/v_<action>_GG/ folders",
                   "unpack UCF11_updated_mpg here, set video_dir, or give a list_file")
    return clips


def _split_tests(o: dict[str, Any], protocol: str) -> dict[str, set[int]]:
    """Split name -> the groups it tests: the three splits, or one split a group (logo)."""
    if protocol == "three_splits":
        return _test_groups(o)
    splits = [f"g{g:02d}" for g in range(1, NUM_GROUPS + 1)]
    return {s: {g} for s, g in zip(splits, range(1, NUM_GROUPS + 1))}


def _clip_fields(rel: str, where: str, video_dir: str, classes: list[str]) -> tuple[str, int, str]:
    """(class, group number, clip file name) of a <class>/v_<action>_GG/<clip> path."""
    parts = rel[len(video_dir):].strip("/").split("/") if video_dir else rel.split("/")
    if len(parts) != 3:
        raise DatasetError(f"{where}: malformed clip path {rel!r}. Fix: write <class>/v_<action>_GG/<clip>")
    cls, gdir, clip = parts
    if cls not in classes:
        raise DatasetError(f"{where}: class {cls!r} is not in the class index ({classes}). Fix: add it "
                           "to classInd.txt or correct the path")
    m = _GROUP_DIR.match(gdir)
    if not m or not 1 <= int(m.group(2)) <= NUM_GROUPS:
        raise DatasetError(f"{where}: folder {gdir!r} does not end in a group number 01..25. Fix: keep "
                           "the official v_<action>_GG folders")
    return cls, int(m.group(2)), clip


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    protocol = choice(NAME, "protocol", o["protocol"], ("three_splits", "logo"))
    check = as_bool(NAME, "check_files", o["check_files"])
    video_dir = o["video_dir"]
    list_file = o["list_file"]
    if list_file is None and (root / "listfile_all_clips.txt").is_file():
        list_file = "listfile_all_clips.txt"
    clips = _clips(root, video_dir, list_file, check)
    ci = o["class_index"] if o["class_index"] is not None else (
        "classInd.txt" if (root / "classInd.txt").is_file() else None)
    classes = _read_classes(root / ci) if ci is not None else sorted(
        {c[0][len(video_dir):].strip("/").split("/")[0] for c in clips})
    index = {c: i for i, c in enumerate(classes)}
    tests = _split_tests(o, protocol)
    col = Collector(NAME, list(tests), strict=o["strict"])
    listed: set[str] = set()
    first: dict[str, str] = {}
    for rel, where in clips:
        cls, group, clip = _clip_fields(rel, where, video_dir, classes)
        rel = col.locate(root, rel, where, check)
        if rel is None:
            continue
        key = media_key(rel)
        if key in first:
            raise DatasetError(f"{where}: duplicate clip {rel!r} (also at {first[key]}). Fix: list it once")
        first[key] = where
        listed.add(key)
        vid = safe_id(strip_video_ext(clip))
        col.add(vid, where, path=rel, label_id=index[cls], label_name=cls, group=f"g{group:02d}")
        for split, test in tests.items():
            col.assign(split, vid, "test" if group in test else "train", where)
    if check and list_file is not None:
        for rel, _ in _scan(root, video_dir):
            if media_key(rel) not in listed:
                col.exclude(rel, f"on disk but not in {list_file}")
    return col.manifest(classes)


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest,
                         description="UCF11 (YouTube Action): 11 classes, 25 groups; three group splits "
                                     "(UCF101-style) or leave-one-group-out")
