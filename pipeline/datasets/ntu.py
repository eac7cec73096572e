"""NTU RGB+D 60 (56,880 samples, 60 classes; cross-subject and cross-view splits).

Layout expected under the dataset root (the official archives unpacked)::

    <root>/<video_dir>/SsssCcccPpppRrrrAaaa_rgb.avi         RGB videos (1920 x 1080)
    <root>/<skeleton_dir>/SsssCcccPpppRrrrAaaa.skeleton     Kinect skeletons (optional)

Labels and splits come from the sample names: S setup, C camera, P performer (subject), R
replication, A action (1..60). Splits:

- ``"xsub"``: train on the 20 official training subjects (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17,
  18, 19, 25, 27, 28, 31, 34, 35, 38), test on the others.
- ``"xview"``: train on cameras 2 and 3, test on camera 1.

``group`` is the performer (``P001``). Samples of actions beyond 60 (NTU-120) are recorded as
excluded, as are names listed in ``exclude_file`` (e.g. the official list of the 302 samples with
missing skeletons) and files whose names do not follow the pattern.

Ground truth: ``load_groundtruth`` reads the ``.skeleton`` file (per frame: body count; per body a
10-value info line, the joint count and one line per joint ``x y z depthX depthY colorX colorY
orientationW orientationX orientationY orientationZ trackingState``), takes the colour-frame
``colorX colorY`` pixels of the 25 joints, confidence 1 for tracked joints, 0.5 for inferred and
missing for not-tracked ones, one person slot per body id in order of appearance, and maps them
with ``to_aic14(..., "ntu25")``; the frame is 1920 x 1080. No skeleton file -> None.

Options:

- ``video_dir`` (default ``"nturgb+d_rgb"``), ``skeleton_dir`` (default ``"nturgb+d_skeletons"``):
  relative to the root. ``video_suffix`` (default ``"_rgb.avi"``): what follows the name.
- ``list_file`` (default ``null``): a file of sample names, one per line (suffixes such as
  ``_rgb.avi`` or ``.skeleton`` are ignored), instead of listing the video folder.
- ``exclude_file`` (default ``null``): sample names to leave out (recorded as excluded).
- ``xsub_train_subjects``, ``xview_train_cameras``: the official values above.
- ``splits`` (default ``["xsub", "xview"]``).
- ``pose_only`` (default ``"auto"``): ``auto`` = pose-only (path "", skeletons as poses) when the
  video folder is absent but the skeleton folder is there; ``true``; ``false``.
- ``check_files`` (default ``true``): with ``list_file``, every named video must exist.
- ``strict`` (every adapter; the prepare stage sets it from params.yaml's top-level ``strict``,
  default ``true``): ``false`` records a listed-but-missing video as excluded instead of stopping.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.datasets._common import Collector, as_bool, fail, join_rel, parse_options, read_lines
from pipeline.datasets.base import DatasetAdapter, DatasetError, GroundTruthPoses, Manifest
from pipeline.keypoints import to_aic14

NAME = "ntu"
XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
XVIEW_TRAIN_CAMERAS = (2, 3)
DEFAULTS = {"video_dir": "nturgb+d_rgb", "skeleton_dir": "nturgb+d_skeletons", "video_suffix": "_rgb.avi",
            "list_file": None, "exclude_file": None, "xsub_train_subjects": list(XSUB_TRAIN_SUBJECTS),
            "xview_train_cameras": list(XVIEW_TRAIN_CAMERAS), "splits": ["xsub", "xview"],
            "pose_only": "auto", "check_files": True}
FRAME_SIZE = (1920, 1080)
TRACKING_CONFIDENCE = {0: 0.0, 1: 0.5, 2: 1.0}
_NAME = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
_SUFFIX = re.compile(r"(_rgb)?(\.[A-Za-z0-9]+)?$")
CLASSES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing",
    "tear up paper", "wear jacket", "take off jacket", "wear a shoe", "take off a shoe",
    "wear on glasses", "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up",
    "hand waving", "kicking something", "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute",
    "put the palms together", "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling",
    "touch head (headache)", "touch chest (stomachache/heart pain)", "touch back (backache)",
    "touch neck (neckache)", "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person", "kicking other person", "pushing other person",
    "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
)


def parse_name(name: str) -> dict[str, int] | None:
    m = _NAME.match(name)
    if not m:
        return None
    return dict(zip(("setup", "camera", "subject", "replication", "action"), map(int, m.groups())))


def _names_from_list(path: Path) -> list[tuple[str, str]]:
    out = []
    for no, text in read_lines(path, "sample list"):
        if len(text.split()) != 1:
            raise fail(path, no, f"malformed line {text!r}", "write one sample name per line")
        out.append((_SUFFIX.sub("", Path(text).name), f"{path}:{no}"))
    return out


def _pose_only_and_splits(o: dict[str, Any], root: Path) -> tuple[bool, list[str]]:
    videos_there, skels_there = (root / o["video_dir"]).is_dir(), (root / o["skeleton_dir"]).is_dir()
    if o["pose_only"] == "auto":
        pose_only = not videos_there and skels_there
    else:
        pose_only = as_bool(NAME, "pose_only", o["pose_only"])
    splits = [str(s) for s in (o["splits"] if isinstance(o["splits"], (list, tuple)) else [o["splits"]])]
    bad = [s for s in splits if s not in ("xsub", "xview")]
    if bad or not splits:
        raise DatasetError(f"params.yaml: ntu option splits must list 'xsub' and/or 'xview', got {o['splits']!r}")
    return pose_only, splits


def _names_in_folder(col: Collector, root: Path, folder: str, tail: str) -> list[tuple[str, str]]:
    """(sample name, where) of every file in ``folder`` ending in ``tail``; others are excluded."""
    if not (root / folder).is_dir():
        raise fail(root / folder, None, "NTU sample folder not found",
                   "unpack the RGB videos (or the skeletons) here, set video_dir/skeleton_dir, or give a "
                   "list_file of sample names")
    names = []
    for fname in sorted(os.listdir(root / folder)):
        if fname.startswith("."):
            continue
        if not fname.endswith(tail):
            col.exclude(join_rel(folder, fname), f"not a sample file (name does not end in {tail!r})")
            continue
        names.append((fname[: -len(tail)], str(root / folder / fname)))
    return names


def _sample_fields(col: Collector, o: dict[str, Any], name: str, where: str, seen: dict[str, str],
                   excluded_names: dict[str, str]) -> dict[str, int] | None:
    """The fields of a sample name, or None where the sample is excluded."""
    fields = parse_name(name)
    if fields is None:
        if o["list_file"] is not None:
            raise DatasetError(f"{where}: sample name {name!r} does not follow SsssCcccPpppRrrrAaaa. Fix: "
                               "correct or remove the line")
        col.exclude(name, "file name does not follow SsssCcccPpppRrrrAaaa")
        return None
    if name in seen:
        raise DatasetError(f"{where}: duplicate sample {name} (also at {seen[name]}). Fix: list it once")
    seen[name] = where
    if name in excluded_names:
        col.exclude(name, f"listed in exclude_file ({excluded_names[name]})")
        return None
    if not 1 <= fields["action"] <= len(CLASSES):
        col.exclude(name, f"action A{fields['action']:03d} is not one of the 60 NTU RGB+D classes")
        return None
    return fields


def build_manifest(root: Path, options: dict[str, Any] | None) -> Manifest:
    o = parse_options(NAME, options, DEFAULTS)
    root = Path(root)
    check = as_bool(NAME, "check_files", o["check_files"])
    video_dir, skel_dir, suffix = o["video_dir"], o["skeleton_dir"], o["video_suffix"]
    pose_only, splits = _pose_only_and_splits(o, root)
    train_subjects = {int(s) for s in o["xsub_train_subjects"]}
    train_cameras = {int(c) for c in o["xview_train_cameras"]}

    col = Collector(NAME, splits, strict=o["strict"])
    if o["list_file"] is not None:
        names = _names_from_list(root / o["list_file"])
    else:
        names = _names_in_folder(col, root, *((skel_dir, ".skeleton") if pose_only else (video_dir, suffix)))
    excluded_names: dict[str, str] = {}
    if o["exclude_file"] is not None:
        excluded_names = dict(_names_from_list(root / o["exclude_file"]))
    seen: dict[str, str] = {}
    for name, where in names:
        fields = _sample_fields(col, o, name, where, seen, excluded_names)
        if fields is None:
            continue
        rel = "" if pose_only else join_rel(video_dir, name + suffix)
        if check and not pose_only and not (root / rel).exists():
            col.missing(root, rel, where)
            continue
        label = fields["action"] - 1
        col.add(name, where, path=rel, label_id=label, label_name=CLASSES[label],
                group=f"P{fields['subject']:03d}", gt_path=join_rel(skel_dir, name + ".skeleton"))
        if "xsub" in splits:
            col.assign("xsub", name, "train" if fields["subject"] in train_subjects else "test", where)
        if "xview" in splits:
            col.assign("xview", name, "train" if fields["camera"] in train_cameras else "test", where)
    if not col.videos:
        raise DatasetError(f"{root}: no NTU samples found (names like S001C001P001R001A001{suffix}). Fix: check "
                           "video_dir / skeleton_dir / list_file")
    return col.manifest(list(CLASSES), pose_only=pose_only, extra_columns=["gt_path"])


def read_skeleton(path: Path) -> np.ndarray:
    """A .skeleton file -> float32 [F, P, 25, 3] of (colorX, colorY, confidence); P = number of
    distinct body ids (at least 1); absent bodies and not-tracked joints are NaN with confidence 0."""
    lines = path.read_text(errors="replace").splitlines()
    pos = 0

    def take(n_values: int | None, what: str) -> list[str]:
        nonlocal pos
        while pos < len(lines) and not lines[pos].strip():
            pos += 1
        if pos >= len(lines):
            raise fail(path, pos + 1, f"file ends where {what} was expected", "re-extract the skeleton file")
        vals = lines[pos].split()
        pos += 1
        if n_values is not None and len(vals) != n_values:
            raise fail(path, pos, f"{what}: expected {n_values} values, got {len(vals)}",
                       "re-extract the skeleton file")
        return vals

    def count(what: str) -> int:
        vals = take(1, what)
        if not vals[0].isdigit():
            raise fail(path, pos, f"{what} {vals[0]!r} is not a count", "re-extract the skeleton file")
        return int(vals[0])

    num_frames = count("frame count")
    bodies: dict[str, int] = {}
    frames: list[list[tuple[int, np.ndarray]]] = []
    for _ in range(num_frames):
        per_frame = []
        for _ in range(count("body count")):
            body_id = take(10, "body info line")[0]
            slot = bodies.setdefault(body_id, len(bodies))
            n_joints = count("joint count")
            if n_joints != 25:
                raise fail(path, pos, f"{n_joints} joints, NTU skeletons have 25", "re-extract the skeleton file")
            joints = np.empty((25, 3), np.float32)
            for j in range(25):
                vals = take(12, "joint line")
                try:
                    cx, cy, state = float(vals[5]), float(vals[6]), int(float(vals[11]))
                except ValueError:
                    raise fail(path, pos, "joint line holds a non-number", "re-extract the skeleton file") from None
                conf = TRACKING_CONFIDENCE.get(state, 0.0)
                joints[j] = (cx, cy, conf) if conf > 0 else (np.nan, np.nan, 0.0)
            per_frame.append((slot, joints))
        frames.append(per_frame)
    out = np.full((num_frames, max(1, len(bodies)), 25, 3), np.nan, np.float32)
    out[..., 2] = 0.0
    for f, per_frame in enumerate(frames):
        for slot, joints in per_frame:
            out[f, slot] = joints
    return out


def load_groundtruth(root: Path, row: pd.Series) -> GroundTruthPoses | None:
    root = Path(root)
    gt_rel = row.get("gt_path") or join_rel(DEFAULTS["skeleton_dir"], f"{row['video_id']}.skeleton")
    path = root / gt_rel
    if not path.is_file():
        return None  # skeletons not downloaded, or one of NTU's samples without a skeleton
    points = read_skeleton(path)
    return GroundTruthPoses(keypoints=to_aic14(points, "ntu25"), width=FRAME_SIZE[0], height=FRAME_SIZE[1])


ADAPTER = DatasetAdapter(name=NAME, build_manifest=build_manifest, load_groundtruth=load_groundtruth,
                         description="NTU RGB+D 60: cross-subject / cross-view from file names; Kinect "
                                     "skeletons (ntu25 -> 14) as ground truth")
