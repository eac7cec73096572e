"""OpenPose ``--write_json`` folders and ST-GCN's Kinetics-skeleton JSON.

OpenPose writes one file per frame, ``<name>_<frame, 12 digits>_keypoints.json`` =
``{"version": 1.3, "people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...], ...}]}`` in pixels, a
missing joint 0, 0, 0 (OpenPose's doc/02_output.md); 25 joints per person for BODY_25, 18 for
COCO-18. A video is the files that share ``<name>`` (OpenPose's ``--video`` run), or, when the
names are bare frame numbers, the files of one folder (named by the folder). People are per-frame
detections that the pose stage links across frames, unless every person has a ``person_id`` >= 0
(OpenPose's tracking; our export writes the slot): then each id keeps one slot (the id itself when
all ids are below 100, else ids in ascending order). ``person_score`` (ours, written by the export) is each person's score when present.

ST-GCN's Kinetics-skeleton (one file per video) =
``{"data": [{"frame_index": 1.., "skeleton": [{"pose": [x0, y0, ...], "score": [...]}]}],
"label": ..., "label_index": ...}``, coordinates normalised to the frame, a missing joint 0, 0.
A joint is present when its coordinates are not both 0; a present joint whose score is 0 (files
converted from other sources carry no scores) gets ``default_score``.
"""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from pipeline.formats.common import FormatError, SourceVideo, resolve_layout
from pipeline.io import atomic_path

OPENPOSE_VERSION = 1.3
_FRAME_FILE = re.compile(r"^(?P<prefix>.*?)_?(?P<frame>\d+)_keypoints\.json$")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: not readable JSON ({exc}). Fix: re-export the file") from None


def _of_type(value, kind: type, path: Path, where: str):
    """``value`` if it is a ``kind`` (list or dict), else a FormatError naming the file and key."""
    if not isinstance(value, kind):
        expected = "a list" if kind is list else "an object"
        raise FormatError(f"{path}: {where} is a {type(value).__name__}, not {expected}. Fix: re-export the file")
    return value


def _numbers(value, path: Path, where: str) -> np.ndarray:
    """A JSON list of numbers as float32 (null or missing: empty)."""
    if value is None:
        return np.zeros(0, np.float32)
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise FormatError(f"{path}: {where} is not a list of numbers. Fix: re-export the file")
    return np.asarray(value, np.float32)


def _number(value, path: Path, where: str, kind: type = float):
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (kind is int and not float(value).is_integer())):
        raise FormatError(f"{path}: {where} is not {'an integer' if kind is int else 'a number'}. "
                          "Fix: re-export the file")
    return kind(value)


# --------------------------------------------------------------------------- OpenPose --write_json
def index_openpose_folder(source: str | Path) -> dict[str, list[tuple[int, Path]]]:
    """{video key: [(frame, file), ...]} of every ``*_keypoints.json`` under ``source``."""
    source = Path(source)
    if not source.is_dir():
        raise FormatError(f"{source}: OpenPose JSON folder not found. Fix: point pose.import.source at the "
                          "--write_json folder (or a folder of one such folder per video)")
    videos: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for folder, _, files in os.walk(source):
        for name in sorted(files):
            m = _FRAME_FILE.match(name)
            if not m:
                continue
            key = m["prefix"] or (Path(folder).name if Path(folder) != source else source.name)
            videos[key].append((int(m["frame"]), Path(folder) / name))
    if not videos:
        raise FormatError(f"{source}: no *_<frame>_keypoints.json files. Fix: run OpenPose with "
                          "--write_json <this folder>")
    for key, frames in videos.items():
        seen = [f for f, _ in frames]
        if len(set(seen)) != len(seen):
            raise FormatError(f"{source}: video {key!r} has two files for one frame number. Fix: keep one "
                              "--write_json output per video")
        frames.sort()
    return dict(videos)


def read_openpose_video(key: str, frames: list[tuple[int, Path]], *, layout: str, width: float,
                        height: float) -> SourceVideo:
    per_frame, ids, person_scores = {}, {}, {}
    num_joints = None
    for f, path in frames:
        data = _read_json(path)
        people = data.get("people") if isinstance(data, dict) else None
        if people is None:
            raise FormatError(f"{path}: no 'people' list: not an OpenPose --write_json file. Fix: use "
                              "OpenPose's JSON output")
        poses = []
        for n, p in enumerate(_of_type(people, list, path, "'people'")):
            _of_type(p, dict, path, f"people[{n}]")
            flat = _numbers(p.get("pose_keypoints_2d"), path, f"people[{n}].pose_keypoints_2d")
            if flat.size == 0:
                continue
            if flat.size % 3:
                raise FormatError(f"{path}: pose_keypoints_2d holds {flat.size} numbers, not x, y, c triples")
            if num_joints is None:
                num_joints = flat.size // 3
            if flat.size // 3 != num_joints:
                raise FormatError(f"{path}: {flat.size // 3} joints here but {num_joints} in earlier frames")
            poses.append(flat.reshape(-1, 3))
            pid = p.get("person_id")
            pid = pid[0] if isinstance(pid, list) and pid else pid
            ids.setdefault(f, []).append(int(pid) if isinstance(pid, (int, float)) else -1)
            score = p.get("person_score")
            person_scores.setdefault(f, []).append(
                None if score is None else _number(score, path, f"people[{n}].person_score"))
        per_frame[f] = poses
    num_joints = num_joints or 25
    total = (max(per_frame) + 1) if per_frame else 0
    all_ids = [i for v in ids.values() for i in v]
    tracked = bool(all_ids) and min(all_ids) >= 0 and all(len(set(v)) == len(v) for v in ids.values())
    slot_of = None
    if tracked:  # small ids are the slots themselves (our export); others are ranked
        unique = sorted(set(all_ids))
        slot_of = {pid: pid for pid in unique} if unique[-1] < 100 else {pid: k for k, pid in enumerate(unique)}
    m = max(slot_of.values()) + 1 if tracked else max((len(p) for p in per_frame.values()), default=0)
    points = np.zeros((total, m, num_joints, 3), np.float32)
    scores = np.zeros((total, m), np.float32)
    has_scores = bool(all_ids) and all(s is not None for v in person_scores.values() for s in v)
    for f, poses in per_frame.items():
        for i, pose in enumerate(poses):
            slot = slot_of[ids[f][i]] if tracked else i
            points[f, slot] = pose
            if has_scores:
                scores[f, slot] = float(person_scores[f][i])
    return SourceVideo(key=key, points=points, width=width, height=height,
                       layout=resolve_layout(layout, num_joints, str(frames[0][1].parent)), tracked=tracked,
                       person_scores=scores if has_scores else None, total_frames=total)


def openpose_frame(poses: np.ndarray, person_scores: np.ndarray | None = None,
                   person_ids: list[int] | None = None) -> dict:
    """One frame's JSON: ``poses`` [P, V, 3] pixels (a missing joint 0, 0, 0)."""
    people = []
    for i, pose in enumerate(poses):
        person = {"person_id": [int(person_ids[i]) if person_ids is not None else -1], "pose_keypoints_2d": [float(v) for v in np.asarray(pose, np.float32).ravel()],
                  "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                  "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                  "hand_right_keypoints_3d": []}
        if person_scores is not None:
            person["person_score"] = float(person_scores[i])  # ours; OpenPose readers ignore it
        people.append(person)
    return {"version": OPENPOSE_VERSION, "people": people}


def write_openpose_video(folder: str | Path, key: str, frames: list[dict]) -> None:
    """One file per frame, as OpenPose names them: ``<key>_<frame:012d>_keypoints.json``."""
    folder = Path(folder)
    for f, data in enumerate(frames):
        with atomic_path(folder / f"{key}_{f:012d}_keypoints.json") as tmp:
            tmp.write_text(json.dumps(data, separators=(",", ":")))


# -------------------------------------------------------------------- ST-GCN Kinetics-skeleton JSON
def kinetics_files(source: str | Path) -> dict[str, Path]:
    """{video key (file stem): file} of a Kinetics-skeleton file or a folder of them."""
    source = Path(source)
    if source.is_file():
        return {source.stem: source}
    if not source.is_dir():
        raise FormatError(f"{source}: Kinetics-skeleton JSON file or folder not found. Fix: check "
                          "pose.import.source in params.yaml")
    files = {p.stem: p for p in sorted(source.glob("*.json"))}
    if not files:
        raise FormatError(f"{source}: holds no .json files. Fix: point source at ST-GCN's kinetics_train/ "
                          "or kinetics_val/ folder")
    return files


def read_kinetics_video(path: Path, *, layout: str, default_score: float) -> SourceVideo:
    data = _read_json(path)
    frames = data.get("data") if isinstance(data, dict) else None
    if not isinstance(frames, list):
        raise FormatError(f"{path}: no 'data' list: not an ST-GCN Kinetics-skeleton file. Fix: use "
                          "{\"data\": [{\"frame_index\", \"skeleton\": [{\"pose\", \"score\"}]}]}")
    per_frame: dict[int, list[np.ndarray]] = {}
    num_joints = None
    for n, entry in enumerate(frames):
        _of_type(entry, dict, path, f"data[{n}]")
        f = _number(entry.get("frame_index", 0), path, f"data[{n}].frame_index", int) - 1
        if f < 0:
            raise FormatError(f"{path}: frame_index {entry.get('frame_index')!r}; they start at 1")
        for k, sk in enumerate(_of_type(entry.get("skeleton") or [], list, path, f"data[{n}].skeleton")):
            _of_type(sk, dict, path, f"data[{n}].skeleton[{k}]")
            pose = _numbers(sk.get("pose"), path, f"data[{n}].skeleton[{k}].pose")
            score = _numbers(sk.get("score"), path, f"data[{n}].skeleton[{k}].score")
            if pose.size == 0:
                continue
            if pose.size % 2 or score.size != pose.size // 2:
                raise FormatError(f"{path}: frame {f + 1}: pose holds {pose.size} numbers and score {score.size}; "
                                  "need 2 per joint and 1 per joint")
            num_joints = num_joints or score.size
            if score.size != num_joints:
                raise FormatError(f"{path}: frame {f + 1}: {score.size} joints, earlier frames {num_joints}")
            xy = pose.reshape(-1, 2)
            present = np.abs(xy).sum(-1) > 0
            conf = np.where(present, np.where(score > 0, score, default_score), 0.0)
            per_frame.setdefault(f, []).append(np.concatenate([xy, conf[:, None]], -1))
    num_joints = num_joints or 18
    total = (max(per_frame) + 1) if per_frame else 0
    m = max((len(p) for p in per_frame.values()), default=0)
    points = np.zeros((total, m, num_joints, 3), np.float32)
    for f, poses in per_frame.items():
        for i, pose in enumerate(poses):
            points[f, i] = pose
    label = data.get("label_index")
    return SourceVideo(key=path.stem, points=points, width=1.0, height=1.0,
                       layout=resolve_layout(layout, num_joints, str(path)), tracked=False,
                       label=None if label is None else _number(label, path, "label_index", int),
                       total_frames=total, normalised=True)
