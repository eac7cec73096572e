"""A dataset straight from a pyskl / mmaction2 2D skeleton pickle (``ucf101_hrnet.pkl``,
``hmdb51_hrnet.pkl``, ``ntu60_hrnet.pkl``, ...): its videos, labels and splits come from the file,
and its poses too (``pose.estimator: import`` with the same pickle as source), so the pose stream
(TMP) trains and tests with no video at all, like Penn Action's labels-only mode.

Layout expected under the dataset root::

    <root>/<pickle>                 {"split": {...}, "annotations": [...]}, see pipeline/formats/pyskl.py
    <root>/<video_dir>/<id>.mp4     the videos (optional): then the manifest is not pose-only

Ids: ``video_id`` is ``frame_dir`` through ``pipeline.formats.common.match_key`` (last path part,
no video extension, file-name safe), the rule the import estimator matches poses by. Labels: the
records' ``label``; class names from ``classes`` (default ``"0"``, ``"1"``, ...). Splits: pyskl
names each side of a split; ``<name>_train`` + ``<name>_val``/``<name>_test`` become split
``<name>`` (NTU ``xsub_train``/``xsub_val`` -> ``xsub``), ``train<k>`` + ``test<k>`` split ``<k>``
(UCF101/HMDB51 ``train1``/``test1`` -> ``1``), ``train`` + ``val``/``test`` split ``default``
(FineGym, Diving48). A video in neither side of a split is ``unused`` there. Extra manifest columns:
``num_frames`` (``total_frames``), ``width``, ``height`` (``img_shape``).

Options:

- ``pickle`` (required): the pickle, relative to the root.
- ``classes`` (default ``null``): class names in label order, a list or a text file (one name per
  line, relative to the root, e.g. pyskl's ``label_map/ucf101.txt``).
- ``video_dir`` (default ``null``): a folder of the videos, relative to the root; ``<id>`` plus a
  video extension (or a frame folder ``<id>``). Records without a video are missing (``strict``:
  error; else excluded). null: pose-only.
- ``splits`` (default ``null``: all): the manifest's split names to keep, e.g. ``["xsub"]``.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a video without its file as excluded instead of stopping.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline.datasets._common import Collector, fail, join_rel, list_media, media_key, parse_options, read_lines
from pipeline.datasets.base import DatasetAdapter, DatasetError, Manifest
from pipeline.formats.common import FormatError, match_key
from pipeline.formats.pyskl import read_annotations

NAME = "pyskl"
DEFAULTS = {"pickle": None, "classes": None, "video_dir": None, "splits": None}
_SIDE = re.compile(r"^(?:(?P<pre>.*?)[_-]?)(?P<side>train|val|test)(?:[_-]?(?P<post>.*))$")


def pair_splits(split: dict[str, list[str]], where: str) -> dict[str, tuple[str, str]]:
    """pyskl split names -> {manifest split: (train key, test key)}."""
    sides: dict[str, dict[str, str]] = {}
    for key in split:
        m = _SIDE.match(key)
        if not m:
            raise DatasetError(f"{where}: split {key!r} is neither a train nor a val/test side. Fix: name the "
                               "sides <name>_train and <name>_val (or train<k>/test<k>)")
        name = "_".join(p for p in (m["pre"], m["post"]) if p) or "default"
        side = "train" if m["side"] == "train" else "test"
        if side in sides.setdefault(name, {}):
            raise DatasetError(f"{where}: split {name!r} has two {side} sides ({sides[name][side]!r}, {key!r}). "
                               "Fix: keep one")
        sides[name][side] = key
    out = {}
    for name, s in sorted(sides.items()):
        if set(s) != {"train", "test"}:
            raise DatasetError(f"{where}: split {name!r} has only a {next(iter(s))} side ({next(iter(s.values()))!r}). "
                               "Fix: give it both a train and a val/test list")
        out[name] = (s["train"], s["test"])
    return out


def _classes(root: Path, option: Any, num_labels: int, where: str) -> list[str]:
    if option is None:
        return [str(i) for i in range(num_labels)]
    names = list(option) if isinstance(option, (list, tuple)) else [t for _, t in read_lines(root / str(option), "class list")]
    if len(names) < num_labels:
        raise DatasetError(f"{where}: labels go up to {num_labels - 1} but classes names {len(names)}. Fix: "
                           "list one class name per label id")
    return [str(n) for n in names]


def _read_pickle(root: Path, o: dict[str, Any]) -> tuple[Path, dict, list, dict[str, tuple[str, str]]]:
    """(path, split, records, split name -> (train key, test key)) of the options' pickle."""
    if not o["pickle"]:
        raise DatasetError("params.yaml: dataset adapter 'pyskl' needs the option pickle (the .pkl file, "
                           "relative to the root)")
    path = root / o["pickle"]
    try:
        split, records = read_annotations(path)
    except FormatError as err:
        raise DatasetError(str(err)) from None
    pairs = pair_splits(split, str(path))
    if o["splits"] is not None:
        unknown = sorted(set(o["splits"]) - set(pairs))
        if unknown:
            raise DatasetError(f"params.yaml: pyskl splits {unknown} are not in {path} (it has {sorted(pairs)})")
        pairs = {k: v for k, v in pairs.items() if k in o["splits"]}
    return path, split, records, pairs


def _videos_on_disk(root: Path, video_dir: str | None) -> dict[str, str]:
    """Media key -> relative path of the videos in ``video_dir`` ({} for a pose-only dataset)."""
    if video_dir is None:
        return {}
    folder = root / video_dir
    if not folder.is_dir():
        raise fail(folder, None, "video folder not found", "set video_dir to the folder of the videos, "
                   "or null for a pose-only dataset")
    return {media_key(n): join_rel(video_dir, n) for n in list_media(folder)}


def _assign_splits(col: Collector, path: Path, split: dict, pairs: dict[str, tuple[str, str]],
                   ids: dict[str, int]) -> None:
    for name, (train_key, test_key) in pairs.items():
        for subset, key in (("train", train_key), ("test", test_key)):
            for frame_dir in split[key]:
                vid = match_key(frame_dir)
                if vid in col.videos:
                    col.assign(name, vid, subset, f"{path} (split {key!r})")
                elif vid not in ids:
                    col.exclude(frame_dir, f"listed in split {key!r} but has no annotation")


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    path, split, records, pairs = _read_pickle(root, o)
    labels = [int(r.get("label", -1)) for r in records]
    if any(lab < 0 for lab in labels):
        raise fail(path, None, "an annotation has no label or a negative one", "label every record 0..K-1")
    classes = _classes(root, o["classes"], max(labels) + 1 if labels else 0, str(path))
    videos_on_disk = _videos_on_disk(root, o["video_dir"])
    col = Collector(NAME, list(pairs), strict=o["strict"])
    ids = {}
    for i, (r, label) in enumerate(zip(records, labels)):
        vid = match_key(r["frame_dir"])
        where = f"{path} (annotation {i}, frame_dir {r['frame_dir']!r})"
        if vid in ids:
            raise DatasetError(f"{where}: id {vid!r} again (first at annotation {ids[vid]}). Fix: frame_dir "
                               "must name each video once")
        ids[vid] = i
        rel = ""
        if o["video_dir"] is not None:
            rel = videos_on_disk.get(vid)
            if rel is None:
                col.missing(root, join_rel(o["video_dir"], vid), where, "has no video:")
                continue
        shape = r.get("img_shape") or r.get("original_shape") or (0, 0)
        col.add(vid, where, path=rel, label_id=label, label_name=classes[label], group="",
                num_frames=int(r.get("total_frames", 0)), width=int(shape[1]), height=int(shape[0]))
    _assign_splits(col, path, split, pairs, ids)
    if o["video_dir"] is not None:
        for key, rel in videos_on_disk.items():
            if key not in ids:
                col.exclude(rel, "video with no annotation in the pickle")
    m = col.manifest(classes, pose_only=o["video_dir"] is None, extra_columns=["num_frames", "width", "height"])
    for c in ("num_frames", "width", "height"):
        m.videos[c] = m.videos[c].astype("int64")
    return m


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest,
                         description="pyskl/mmaction2 2D skeleton pickle: classes, splits and poses from the "
                                     "file (pose-only, or with a folder of the videos)")
