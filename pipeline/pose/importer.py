"""The ``import`` estimator: poses another tool already extracted, read from a pyskl/mmaction2
pickle, an OpenPose ``--write_json`` folder or ST-GCN Kinetics-skeleton JSON, mapped to the 14
keypoints and matched to the manifest's videos.

Matching rule: a source video's id (pyskl ``frame_dir``, the OpenPose file-name prefix or folder,
the Kinetics JSON file stem) becomes ``pipeline.formats.common.match_key(id, strip_suffix)`` (last
path component, no video extension, no ``strip_suffix``, file-name safe as the adapters make ids)
and must equal the manifest's ``video_id``. A manifest video the source lacks, a frame count that
differs from the decoded video's by more than ``frame_tolerance``, or an unreadable entry is a
per-video failure in the pose stage's video table; source videos the manifest lacks are listed in
the merged files' metadata (``import_unmatched``) and printed.

Options (``pose.import`` in params.yaml): ``format`` (pyskl | openpose_json | kinetics_json),
``source`` (file or folder), ``layout`` (auto: from the joint count: 17 coco17, 18 coco18,
25 body25, 14 aic14, ...), ``strip_suffix``, ``min_score`` (a joint with a lower score is missing;
0: only score-0 joints), ``default_score`` (Kinetics JSON: the confidence of a present joint whose
score is 0), ``frame_size`` ([W, H] of the frames OpenPose ran on; null: probed from the manifest's
video file), ``frame_tolerance`` (frames the source may differ from the decoded video by; the poses
are then cut or padded to the decoded count), ``frame_margin`` (see below).

The source file is never changed; what is stored is cleaned, the same way every time (VERSION
names the rule): a joint more than ``frame_margin`` frame sizes outside the frame (default 0.1,
as BlazePose's) is missing, and joint and person scores are clipped to [0, 1].
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.formats.common import FormatError, SourceVideo, content_digest, match_key
from pipeline.keypoints import NUM_KEYPOINTS, to_aic14

NAME = "import"
VERSION = "2"   # 2: joints far outside the frame are missing, scores clipped to [0, 1]
FORMATS = ("pyskl", "openpose_json", "kinetics_json")
DEFAULTS = {"format": "pyskl", "source": None, "layout": "auto", "strip_suffix": "", "min_score": 0.0,
            "default_score": 1.0, "frame_size": None, "frame_tolerance": 0, "frame_margin": 0.1}


def check_options(options: dict) -> dict:
    o = {**DEFAULTS, **(options or {})}
    unknown = sorted(set(o) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"params.yaml: unknown key(s) {unknown} in pose.import; allowed: {sorted(DEFAULTS)}")
    if o["format"] not in FORMATS:
        raise ValueError(f"params.yaml: pose.import.format {o['format']!r} is not one of {', '.join(FORMATS)}")
    if not o["source"]:
        raise ValueError("params.yaml: pose.estimator is import but pose.import.source is empty: name the "
                         "pickle, OpenPose JSON folder or Kinetics JSON file/folder")
    size = o["frame_size"]
    if size is not None and not (isinstance(size, (list, tuple)) and len(size) == 2
                                 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                         for v in size)):
        raise ValueError(f"params.yaml: pose.import.frame_size must be null or [width, height], got {size!r}. "
                         "Fix: e.g. frame_size: [1920, 1080]")
    tolerance = o["frame_tolerance"]
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"params.yaml: pose.import.frame_tolerance must be an integer >= 0, got {tolerance!r}. "
                         "Fix: e.g. frame_tolerance: 0")
    if not isinstance(o["frame_margin"], (int, float)) or not o["frame_margin"] >= 0:
        raise ValueError("params.yaml: pose.import.frame_margin must be a number >= 0 (frame sizes outside "
                         "the frame a joint may lie), e.g. 0.1")
    return o


@dataclass
class ImportSource:
    """A loaded source: its videos by manifest key, read lazily where the format allows."""
    options: dict
    name: str
    version: str
    keys: dict[str, str]                     # manifest key -> source id
    _read: callable = field(repr=False, default=None)

    def video(self, key: str) -> SourceVideo:
        return self._read(self.keys[key])


def _keyed(ids, strip_suffix: str, where: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for sid in ids:
        k = match_key(sid, strip_suffix)
        if k in keys:
            raise FormatError(f"{where}: source ids {keys[k]!r} and {sid!r} both match video id {k!r}. Fix: "
                              "give each video one entry (or change strip_suffix)")
        keys[k] = sid
    return keys


def load_source(options: dict) -> ImportSource:
    """Cached per process on the options and the source's size and mtime (a changed file reloads)."""
    o = check_options(options)
    path = Path(o["source"])
    if not path.exists():
        raise FormatError(f"{path}: import source not found. Fix: set pose.import.source to an existing "
                          "file or folder (relative to the project root)")
    st = path.stat()
    return _load(json.dumps(o, sort_keys=True), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=2)
def _load(options_json: str, _size: int, _mtime: int) -> ImportSource:
    o = json.loads(options_json)
    path = Path(o["source"])
    fmt = o["format"]
    if fmt == "pyskl":
        from pipeline.formats.pyskl import read_annotations, record_to_source
        _, records = read_annotations(path)
        by_id = {str(r["frame_dir"]): r for r in records}
        kpfiles: dict = {}
        read = lambda sid: record_to_source(by_id[sid], where=str(path), layout=o["layout"],  # noqa: E731
                                            pickle_path=path, kpfiles=kpfiles)
        ids = list(by_id)
        digest = content_digest(path)
    elif fmt == "openpose_json":
        from pipeline.formats.openpose_json import index_openpose_folder, read_openpose_video
        index = index_openpose_folder(path)
        read = lambda sid: read_openpose_video(sid, index[sid], layout=o["layout"], width=0, height=0)  # noqa: E731
        ids = list(index)
        digest = content_digest(path, (".json",))
    else:
        from pipeline.formats.openpose_json import kinetics_files, read_kinetics_video
        files = kinetics_files(path)
        read = lambda sid: read_kinetics_video(files[sid], layout=o["layout"],  # noqa: E731
                                               default_score=float(o["default_score"]))
        ids = list(files)
        digest = content_digest(path, (".json",))
    keys = _keyed(ids, o["strip_suffix"], str(path))
    # The version names the source and its content hash: other poses under the same name redo the stage.
    version = f"{VERSION}:{fmt}:{path.name}:sha256={digest[:16]}"
    return ImportSource(options=o, name=f"{NAME}:{fmt}", version=version, keys=keys, _read=read)


def unmatched(source: ImportSource, manifest_ids) -> list[str]:
    """Source ids no manifest video matches."""
    ids = set(manifest_ids)
    return sorted(sid for key, sid in source.keys.items() if key not in ids)


@dataclass
class ImportedVideo:
    keypoints: np.ndarray      # [F, N, 14, 3] pixels of (width, height); missing NaN, conf 0
    scores: np.ndarray         # [F, N]
    tracked: bool
    num_frames: int
    width: float               # the frame the pixels refer to (1 x 1: normalised)
    height: float
    size: tuple[int, int]      # the video's frame size for the statistics table (0, 0: unknown)


def _fit_frames(o: dict, vid: str, video, decoded: dict | None) -> tuple[np.ndarray, int]:
    """The source's points padded to its total frames, then cut or padded to the decoded video's
    frame count (within frame_tolerance); returns (points, num_frames)."""
    points = video.points
    total = int(video.total_frames if video.total_frames is not None else points.shape[0])
    if points.shape[0] < total:
        points = np.concatenate([points, np.zeros((total - points.shape[0],) + points.shape[1:], np.float32)])
    num_frames = total
    if decoded is not None and decoded.get("status") == "ok":
        n = int(decoded["num_frames"])
        if abs(n - total) > int(o["frame_tolerance"]):
            raise ValueError(f"{vid}: the import source has {total} frames but the decoded video has {n} "
                             f"(frame_tolerance {o['frame_tolerance']}). Fix: decode at the native rate "
                             "(decode.fps: null), check that the source belongs to this video, or raise "
                             "pose.import.frame_tolerance")
        num_frames = n
        if points.shape[0] >= n:
            points = points[:n]
        else:
            points = np.concatenate([points, np.zeros((n - points.shape[0],) + points.shape[1:], np.float32)])
    return points, num_frames


def _import_frame_size(o: dict, video, row: dict, vid: str, decoded: dict | None,
                       root: str) -> tuple[float, float, tuple[int, int]]:
    """(width, height) the coordinates are in, and the frame size in pixels to record."""
    width, height = video.width, video.height
    size = (int(round(width)), int(round(height))) if not video.normalised else (0, 0)
    if o["frame_size"] is not None:
        size = (int(o["frame_size"][0]), int(o["frame_size"][1]))
    if width <= 0 or height <= 0:  # pixels of an unknown frame (OpenPose JSON)
        if o["frame_size"] is None:
            size = _probe(root, row, vid)
        width, height = size
    if size == (0, 0) and decoded is not None and decoded.get("status") == "ok":
        size = (int(decoded["width"]), int(decoded["height"]))
    if size == (0, 0):
        raise ValueError(f"{vid}: the source's coordinates are normalised and no frame size is known (no "
                         "decoded video). Fix: set pose.import.frame_size: [width, height]")
    return width, height, size


def _person_scores(video, kps: np.ndarray, num_frames: int) -> np.ndarray:
    """[T, N] person scores: the source's, or the mean score of each person's present joints."""
    if video.person_scores is not None:
        scores = np.asarray(video.person_scores, np.float32)
        if scores.shape[0] < num_frames:
            scores = np.concatenate([scores, np.zeros((num_frames - scores.shape[0], scores.shape[1]), np.float32)])
        return np.clip(scores[:num_frames], 0.0, 1.0)
    present = kps[..., 2] > 0
    conf = np.where(present, kps[..., 2], 0.0).sum(-1)
    return (conf / np.maximum(present.sum(-1), 1)).astype(np.float32)


def import_video(source: ImportSource, row: dict, decoded: dict | None, root: str) -> ImportedVideo:
    """The manifest row's poses from the source, or ValueError saying why not (a per-video failure)."""
    o = source.options
    vid = row["video_id"]
    if vid not in source.keys:
        raise ValueError(f"{vid}: not in the import source {o['source']} (source ids match manifest ids "
                         f"by their last path component without extension{' and ' + repr(o['strip_suffix']) if o['strip_suffix'] else ''}; "
                         f"{len(source.keys)} source videos)")
    if decoded is not None and decoded.get("status") not in ("ok", "pose_only"):
        raise ValueError(f"{vid}: the video did not decode ({decoded.get('error')}); its imported poses "
                         "would have no frames to go with")
    try:
        video = source.video(vid)
    except FormatError as err:
        raise ValueError(str(err)) from None
    points, num_frames = _fit_frames(o, vid, video, decoded)
    width, height, size = _import_frame_size(o, video, row, vid, decoded, root)
    pts = points.astype(np.float32, copy=True)
    low = ~(pts[..., 2] > 0) | (pts[..., 2] < float(o["min_score"])) | ~np.isfinite(pts[..., :2]).all(-1)
    pts[..., 2][low] = 0.0
    pts = clean_joints(pts, width, height, float(o["frame_margin"]))
    kps = to_aic14(pts, video.layout) if points.shape[1] else np.zeros((num_frames, 0, NUM_KEYPOINTS, 3), np.float32)
    return ImportedVideo(keypoints=kps, scores=_person_scores(video, kps, num_frames), tracked=video.tracked,
                         num_frames=num_frames, width=float(width), height=float(height), size=size)


def clean_joints(points: np.ndarray, width: float, height: float, margin: float) -> np.ndarray:
    """[..., 3] joints (x, y, score) in a ``width`` x ``height`` frame: one more than ``margin``
    frame sizes outside it becomes missing (score 0); scores are clipped to [0, 1]."""
    x, y = points[..., 0], points[..., 1]
    outside = ((x < -margin * width) | (x > (1 + margin) * width)
               | (y < -margin * height) | (y > (1 + margin) * height))
    out = points.copy()
    out[..., 2] = np.where(outside, 0.0, np.clip(points[..., 2], 0.0, 1.0))
    return out


def _probe(root: str, row: dict, vid: str) -> tuple[int, int]:
    from pipeline.video import DecodeError, source_size
    if not row.get("path"):
        raise ValueError(f"{vid}: OpenPose JSON holds pixels, and the frame size is unknown (pose-only "
                         "dataset). Fix: set pose.import.frame_size: [width, height]")
    try:
        return source_size(Path(root) / row["path"])
    except DecodeError as err:
        raise ValueError(f"{vid}: cannot read the frame size of the OpenPose input video ({err}). Fix: set "
                         "pose.import.frame_size: [width, height]") from None


def keep_slots(kps: np.ndarray, scores: np.ndarray, max_persons: int):
    """Tracked sources keep their slots (the file's order and ranking). With more than
    ``max_persons`` slots, the first ``max_persons`` that hold someone somewhere in the video stay."""
    if kps.shape[1] <= max_persons:
        return kps, scores
    used = [p for p in range(kps.shape[1]) if (kps[:, p, :, 2] > 0).any()][:max_persons]
    return kps[:, used], scores[:, used]
