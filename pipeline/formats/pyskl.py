"""The pyskl / mmaction2 2D skeleton pickle.

A file holds ``{"split": {name: [frame_dir, ...]}, "annotations": [record, ...]}`` (a bare list of
records, or one record, also reads). A record has ``frame_dir`` (the video id), ``label``,
``img_shape`` (H, W), ``total_frames``, ``keypoint`` [M, T, V, 2] in pixels and
``keypoint_score`` [M, T, V]; an absent person or joint is 0, 0 with score 0. Kinetics-400's
variant keeps the keypoints out of the record: ``raw_file`` names a *kpfile*, a pickle
``{frame_dir: {"keypoint": [N, V, 3]}}`` of N per-frame detections (x, y, score), with
``frame_inds`` [N] (the frame of each detection) and ``box_score`` [N] in the record or the entry.
Files are read with the restricted unpickler (pipeline.formats.safe_pickle): they cannot run code.

Written files (``write_pyskl``) use the same keys, float32 (or float16) arrays and pickle
protocol 4; ``person_score`` [M, T] is an extra key pyskl ignores, read back on import so the
pose Parquet's person score survives a round trip.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from pipeline.formats.common import FormatError, SourceVideo, resolve_layout
from pipeline.formats.safe_pickle import load_pickle
from pipeline.io import atomic_path

FIX = "use a pyskl/mmaction2 2D skeleton pickle (see pipeline/formats/pyskl.py)"


def read_annotations(path: str | Path) -> tuple[dict[str, list[str]], list[dict]]:
    """(split, annotations) of a pyskl pickle; split is {} when the file has none."""
    data = load_pickle(path)
    if isinstance(data, dict) and "annotations" in data:
        split, records = data.get("split") or {}, data["annotations"]
    elif isinstance(data, dict) and "frame_dir" in data:
        split, records = {}, [data]
    elif isinstance(data, list):
        split, records = {}, data
    else:
        raise FormatError(f"{path}: not a pyskl pickle (expected a dict with 'split' and 'annotations', "
                          f"got {type(data).__name__}). Fix: {FIX}")
    if not isinstance(split, dict) or not all(isinstance(v, (list, tuple)) for v in split.values()):
        raise FormatError(f"{path}: 'split' must map split names to lists of frame_dir. Fix: {FIX}")
    for i, r in enumerate(records):
        if not isinstance(r, dict) or "frame_dir" not in r:
            raise FormatError(f"{path}: annotation {i} has no 'frame_dir'. Fix: {FIX}")
    return {str(k): [str(x) for x in v] for k, v in split.items()}, list(records)


def _img_shape(r: dict, where: str) -> tuple[float, float]:
    shape = r.get("img_shape") or r.get("original_shape")
    if shape is None or len(shape) < 2 or min(shape[:2]) <= 0:
        raise FormatError(f"{where}: no valid img_shape (H, W) (got {shape!r}). Fix: {FIX}")
    return float(shape[1]), float(shape[0])


def _kpfile_path(pickle_path: Path, raw_file: str) -> Path:
    """``raw_file`` relative to the pickle's folder, else its file name there (pyskl's Kinetics
    records hold absolute paths of their authors' cluster). Never a file outside that folder:
    the same lexical confinement as a dataset's paths (docs/reliability.md)."""
    from pipeline.datasets._common import confine   # pipeline.datasets imports this module
    home = pickle_path.parent
    inside, name = confine(str(raw_file)), Path(str(raw_file).replace("\\", "/")).name
    for rel in (inside, name if name not in ("", ".", "..") else None):
        if rel and (home / rel).is_file():
            return home / rel
    raise FormatError(f"{pickle_path}: kpfile {raw_file} not found in the pickle's folder {home} (by that "
                      "relative path or by its file name; paths outside the folder are not opened). Fix: put the "
                      "Kinetics kpfiles beside the annotation pickle")


def record_to_source(r: dict, *, where: str, layout: str, pickle_path: Path | None = None,
                     kpfiles: dict | None = None) -> SourceVideo:
    """One annotation record as a SourceVideo (pixels of img_shape)."""
    where = f"{where} (frame_dir {r['frame_dir']!r})"
    width, height = _img_shape(r, where)
    if "raw_file" in r and "keypoint" not in r:
        return _raw_record(r, where, layout, width, height, pickle_path, kpfiles if kpfiles is not None else {})
    if "keypoint" not in r:
        raise FormatError(f"{where}: no 'keypoint' array and no 'raw_file'. Fix: {FIX}")
    kp = np.asarray(r["keypoint"], np.float32)
    if kp.ndim != 4:
        raise FormatError(f"{where}: keypoint must be [M, T, V, C], got shape {list(kp.shape)}. Fix: {FIX}")
    m, t, v, c = kp.shape
    if "keypoint_score" in r:
        score = np.asarray(r["keypoint_score"], np.float32)
        if score.shape != (m, t, v):
            raise FormatError(f"{where}: keypoint_score shape {list(score.shape)} does not match keypoint "
                              f"{list(kp.shape)}. Fix: {FIX}")
    elif c == 3:
        raise FormatError(f"{where}: keypoint has C=3 and no keypoint_score: a 3D skeleton. Fix: import the "
                          "2D file (e.g. ntu60_hrnet.pkl, not ntu60_3danno.pkl)")
    else:
        score = (np.abs(kp).sum(-1) > 0).astype(np.float32)  # no scores: a joint at 0, 0 is missing
    if c < 2:
        raise FormatError(f"{where}: keypoint has C={c}; need x, y. Fix: {FIX}")
    total = int(r.get("total_frames", t))
    if m and t != total:
        raise FormatError(f"{where}: keypoint holds {t} frames but total_frames is {total}. Fix: {FIX}")
    points = np.concatenate([kp[..., :2], score[..., None]], -1).transpose(1, 0, 2, 3)  # [T, M, V, 3]
    person = r.get("person_score")
    person = None if person is None else np.asarray(person, np.float32).T
    if person is not None and person.shape != points.shape[:2]:
        raise FormatError(f"{where}: person_score must be [M, T] = {[m, t]}, got {list(person.T.shape)}")
    return SourceVideo(key=str(r["frame_dir"]), points=np.ascontiguousarray(points), width=width, height=height,
                       layout=resolve_layout(layout, v, where), tracked=True, person_scores=person,
                       label=_label(r), total_frames=total)


def _label(r: dict) -> int | None:
    label = r.get("label")
    return None if label is None else int(label)


def _raw_record(r, where, layout, width, height, pickle_path, kpfiles) -> SourceVideo:
    if pickle_path is None:
        raise FormatError(f"{where}: a raw_file record needs the pickle's path to find its kpfile")
    kp_path = _kpfile_path(Path(pickle_path), r["raw_file"])
    if kp_path not in kpfiles:
        kpfiles.clear()  # one kpfile in memory at a time: they are large
        kpfiles[kp_path] = load_pickle(kp_path)
    entry = kpfiles[kp_path].get(r["frame_dir"]) if isinstance(kpfiles[kp_path], dict) else None
    if not isinstance(entry, dict) or "keypoint" not in entry:
        raise FormatError(f"{where}: kpfile {kp_path} has no entry {{'keypoint': ...}} for this frame_dir. "
                          "Fix: use the kpfiles that came with the annotation pickle")
    det = np.asarray(entry["keypoint"], np.float32)
    inds = np.asarray(entry.get("frame_inds", r.get("frame_inds")), dtype=np.int64)
    if det.ndim != 3 or det.shape[-1] != 3 or inds.shape != (det.shape[0],):
        raise FormatError(f"{where}: kpfile keypoint must be [N, V, 3] with frame_inds [N], got "
                          f"{list(det.shape)} and {list(inds.shape)}. Fix: {FIX}")
    box = entry.get("box_score", r.get("box_score"))
    box = np.ones(len(det), np.float32) if box is None else np.asarray(box, np.float32)
    total = int(r.get("total_frames", (inds.max() + 1) if len(inds) else 0))
    if len(inds) and (inds.min() < 0 or inds.max() >= total):
        raise FormatError(f"{where}: frame_inds outside 0..{total - 1}. Fix: {FIX}")
    counts = np.bincount(inds, minlength=total) if len(inds) else np.zeros(total, np.int64)
    m = int(counts.max()) if total else 0
    points = np.zeros((total, m, det.shape[1], 3), np.float32)
    person = np.zeros((total, m), np.float32)
    slot = np.zeros(total, np.int64)
    for i, f in enumerate(inds):
        points[f, slot[f]] = det[i]
        person[f, slot[f]] = box[i]
        slot[f] += 1
    return SourceVideo(key=str(r["frame_dir"]), points=points, width=width, height=height,
                       layout=resolve_layout(layout, det.shape[1], where), tracked=False,
                       person_scores=person, label=_label(r), total_frames=total)


def write_pyskl(path: str | Path, records: list[dict], split: dict[str, list[str]]) -> None:
    """Write ``{"split": split, "annotations": records}`` atomically (pickle protocol 4)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump({"split": split, "annotations": records}, f, protocol=4)
