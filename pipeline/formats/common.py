"""What every pose-format reader yields, and the rule that matches its ids to a manifest."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import InputError
from pipeline.keypoints import LAYOUT_SIZES

# The number of joints V of a source array -> its layout, when the source does not say.
LAYOUT_BY_SIZE = {17: "coco17", 18: "coco18", 25: "body25", 14: "aic14", 33: "blazepose33",
                  13: "penn13", 15: "jhmdb15"}


class FormatError(InputError, ValueError):
    """A pose file that cannot be read: the message names the file, the problem and the fix."""


@dataclass
class SourceVideo:
    """One video's poses as a source file holds them, before mapping to the 14 keypoints.

    points: float32 [T, M, V, 3] -- x, y in pixels of a ``width`` x ``height`` frame and a score;
    a missing joint or absent person has score 0. ``person_scores`` [T, M] or None (then the mean
    joint score ranks people). ``tracked``: the M slots follow one person each over the video
    (pyskl arrays); False for per-frame detection lists (OpenPose JSON, Kinetics kpfiles), which the
    pose stage links across frames itself. ``width``/``height`` 0: unknown (normalised sources
    without a size; the importer takes the decoded video's or the ``frame_size`` option).
    """
    key: str
    points: np.ndarray
    width: float
    height: float
    layout: str
    tracked: bool
    person_scores: np.ndarray | None = None
    label: int | None = None
    total_frames: int | None = None
    normalised: bool = False


def match_key(source_id: str, strip_suffix: str = "") -> str:
    """The manifest video id a source id matches: the last path component, without a video
    extension and without ``strip_suffix``, made file-name safe exactly as the adapters make ids
    (``safe_id``). ``v_ApplyEyeMakeup_g01_c01`` -> itself; ``abseiling/xyz.mp4`` -> ``xyz``;
    ``S004C003P003R001A007_rgb`` with strip_suffix ``_rgb`` -> ``S004C003P003R001A007``."""
    from pipeline.datasets._common import safe_id, strip_video_ext  # here: the adapters import this module
    name = strip_video_ext(str(source_id).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
    if strip_suffix and name.endswith(strip_suffix) and len(name) > len(strip_suffix):
        name = name[: -len(strip_suffix)]
    return safe_id(name)


def resolve_layout(layout: str, num_joints: int, where: str) -> str:
    if layout == "auto":
        if num_joints not in LAYOUT_BY_SIZE:
            raise FormatError(f"{where}: {num_joints} joints per person match no known layout "
                              f"({sorted(LAYOUT_BY_SIZE)}). Fix: set the import option layout to one of "
                              f"{sorted(LAYOUT_SIZES)}, or convert the file")
        return LAYOUT_BY_SIZE[num_joints]
    if layout not in LAYOUT_SIZES:
        raise FormatError(f"{where}: unknown layout {layout!r}. Fix: one of auto, {', '.join(sorted(LAYOUT_SIZES))}")
    if LAYOUT_SIZES[layout] != num_joints:
        raise FormatError(f"{where}: layout {layout} has {LAYOUT_SIZES[layout]} joints but the file has "
                          f"{num_joints}. Fix: set the import option layout to auto or the right layout")
    return layout


def content_digest(path: str | Path, suffixes: tuple[str, ...] = (".json",)) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted) ending in
    one of ``suffixes``: what the import estimator's version records."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        files = [path]
        base = path.parent
    else:
        files = sorted(Path(d) / f for d, _, fs in os.walk(path) for f in fs if f.endswith(suffixes))
        base = path
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(base)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
