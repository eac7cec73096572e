"""KTH (6 classes, 25 persons, 4 scenarios: 599 videos, split by the sequence file into 2,391
segments).

Layout expected under the dataset root (the six official class zips unpacked, plus the official
sequence file)::

    <root>/<video_dir>/<class>/personXX_<class>_dY_uncomp.avi    videos (or frame folders)
    <root>/00sequences.txt                                       segments per video + person split

The split (named ``"1"``) is the one in ``00sequences.txt``'s header (Schuldt et al., ICPR 2004):
training persons 11-18, validation persons 19, 20, 21, 23, 24, 25, 01, 04, test persons 22, 02, 03,
05-10, read from the file itself. The PARNet paper trains on training + validation
(``validation: train``, the default). ``group`` is the person (``person01``). Classes: boxing,
handclapping, handwaving, jogging, running, walking.

Unit (``unit``):

- ``"video"`` (default): one manifest row per video file (599; person13_handclapping_d3 does not
  exist in KTH). ``video_id`` is ``personXX_<class>_dY``.
- ``"segment"``: one row per segment listed in 00sequences.txt (2,391, the paper's count of KTH
  "videos"), ``video_id`` ``personXX_<class>_dY_sK`` (K = 1..4), with the extra columns
  ``frame_start`` and ``frame_end`` (0-based native frame indices, end exclusive) and ``source_id``
  (the video's id). All segments of a video share its ``path``.

Options:

- ``sequences_file`` (default ``"00sequences.txt"``), ``video_dir`` (default ``""``): relative to
  the root.
- ``unit`` (default ``"video"``): ``"video"`` or ``"segment"``.
- ``validation`` (default ``"train"``): subset for the validation persons: ``"train"``,
  ``"unused"`` or ``"test"``.
- ``check_files`` (default ``true``): every listed video must exist; videos on disk that the
  sequence file does not list are recorded as excluded.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline.datasets._common import (Collector, as_bool, choice, exclude_unlisted, fail, join_rel,
                                       media_key, parse_options, read_lines)
from pipeline.datasets.base import DatasetAdapter, Manifest

NAME = "kth"
DEFAULTS = {"sequences_file": "00sequences.txt", "video_dir": "", "unit": "video", "validation": "train",
            "check_files": True}
CLASSES = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
SPLIT = "1"
_HEADER = re.compile(r"^(training|validation|test)\s*:\s*(.*)$", re.IGNORECASE)
_ENTRY = re.compile(r"^(person(\d+)_([a-z]+)_d(\d+))\s+frames\s+(.*)$")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
Entry = tuple[int, str, int, str, list[tuple[int, int]]]  # line, video id, person, class, segments
_MISSING = re.compile(r"^(person\d+_[a-z]+_d\d+)\s+\*missing\*$", re.IGNORECASE)


def _persons(text: str, path: Path, no: int) -> list[int]:
    out = []
    for tok in re.split(r"[,\s]+", text.strip()):
        if not tok:
            continue
        m = re.fullmatch(r"(?:person)?(\d+)", tok, re.IGNORECASE)
        if not m:
            raise fail(path, no, f"cannot read person {tok!r} in the split header",
                       'write it as "Training: person11, 12, 13"')
        out.append(int(m.group(1)))
    return out


def parse_sequences(path: Path) -> tuple[dict[str, list[int]], list[Entry], list[tuple[int, str]]]:
    """-> ({"training"|"validation"|"test": persons}, [(line, video id, person, class, segments)],
    [(line, video id) marked *missing*]) with segments as 1-based inclusive (first, last) pairs."""
    header: dict[str, list[int]] = {}
    entries = []
    missing_videos = []
    for no, text in read_lines(path, "KTH sequence file", "put the official 00sequences.txt in the root"):
        m = _HEADER.match(text)
        if m:
            kind = m.group(1).lower()
            if kind in header:
                raise fail(path, no, f"second {m.group(1)!r} line", "keep one line per subset in the header")
            header[kind] = _persons(m.group(2), path, no)
            continue
        if not text.startswith("person"):
            continue  # prose of the header
        if _MISSING.match(text):
            missing_videos.append((no, _MISSING.match(text).group(1)))
            continue
        m = _ENTRY.match(text)
        if not m:
            raise fail(path, no, f"malformed sequence line {text!r}",
                       'write "personXX_<class>_dY  frames  1-95, 96-185, ..."')
        vid, person, cls, ranges = m.group(1), int(m.group(2)), m.group(3), m.group(5)
        if cls not in CLASSES:
            raise fail(path, no, f"class {cls!r} is not a KTH class", f"use one of {list(CLASSES)}")
        segments = []
        for part in (p.strip() for p in ranges.split(",")):
            if not part:
                continue
            r = _RANGE.match(part)
            if not r or int(r.group(1)) < 1 or int(r.group(2)) < int(r.group(1)):
                raise fail(path, no, f"bad frame range {part!r}",
                           "write 1-based inclusive ranges first-last with first <= last")
            segments.append((int(r.group(1)), int(r.group(2))))
        if not segments:
            raise fail(path, no, f"video {vid} lists no segments", "add its frame ranges or remove the line")
        entries.append((no, vid, person, cls, segments))
    missing = [k for k in ("training", "validation", "test") if k not in header]
    if missing:
        raise fail(path, None, f"the header lacks the {missing} person line(s)",
                   'keep the official header ("Training: person11, ...", "Validation: ...", "Test: ...")')
    seen: dict[int, str] = {}
    for kind, persons in header.items():
        for p in persons:
            if p in seen:
                raise fail(path, None, f"person {p:02d} is in both {seen[p]!r} and {kind!r}",
                           "put each person in one subset")
            seen[p] = kind
    return header, entries, missing_videos


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    unit = choice(NAME, "unit", o["unit"], ("video", "segment"))
    validation = choice(NAME, "validation", o["validation"], ("train", "unused", "test"))
    check = as_bool(NAME, "check_files", o["check_files"])
    path = root / o["sequences_file"]
    header, entries, missing_videos = parse_sequences(path)
    subset_of = {p: {"training": "train", "validation": validation, "test": "test"}[k]
                 for k, persons in header.items() for p in persons}
    index = {c: i for i, c in enumerate(CLASSES)}
    col = Collector(NAME, [SPLIT], strict=o["strict"])
    listed: set[str] = set()
    seen: dict[str, int] = {}
    for no, vid in missing_videos:
        col.exclude(vid, f"marked *missing* in {path.name} (line {no}): KTH has no such recording")
        listed.add(media_key(join_rel(o["video_dir"], vid.split("_")[1], f"{vid}_uncomp")))
    for no, vid, person, cls, segments in entries:
        where = f"{path}:{no}"
        if vid in seen:
            raise fail(path, no, f"duplicate video {vid} (also at line {seen[vid]})", "list each video once")
        seen[vid] = no
        if person not in subset_of:
            raise fail(path, no, f"person {person:02d} is in none of the header's subsets",
                       "add the person to the Training, Validation or Test line")
        rel = join_rel(o["video_dir"], cls, f"{vid}_uncomp.avi")
        rel = col.locate(root, rel, where, check)
        if rel is None:
            continue
        listed.add(media_key(rel))
        common = {"path": rel, "label_id": index[cls], "label_name": cls, "group": f"person{person:02d}"}
        if unit == "video":
            col.add(vid, where, **common)
            col.assign(SPLIT, vid, subset_of[person], where)
            continue
        for k, (first, last) in enumerate(segments, 1):
            sid = f"{vid}_s{k}"
            col.add(sid, where, **common, frame_start=first - 1, frame_end=last, source_id=vid)
            col.assign(SPLIT, sid, subset_of[person], where)
    if check:
        exclude_unlisted(col, root, o["video_dir"], CLASSES, listed)
    extra = ["frame_start", "frame_end", "source_id"] if unit == "segment" else []
    m = col.manifest(list(CLASSES), extra_columns=extra)
    if unit == "segment":
        m.videos = m.videos.astype({"frame_start": "int64", "frame_end": "int64"})
    return m


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest,
                         description="KTH: 6 classes, 25 persons, the 00sequences.txt person split "
                                     "(train+val -> train); unit video (599) or segment (2,391)")
