"""Keypoint augmentation and the person view for the pose stream (the ``pose_augment:`` section of
params.yaml).

Augmentation is applied by ClipDataset to a training clip's keypoints after the view (so on top of
the view's flip with the left/right swap), never at test time. One random similarity (plus a small
anisotropic stretch) per clip, the same for all its frames and persons, so the motion between
frames is kept; joint drop-out and jitter are drawn per joint and frame. Three degradations
imitate what a real estimator does to ground truth: joints it misses (``joint_drop``), people it
loses in some frames (``person_drop``: the whole person missing from a frame, "flicker") and tracks
that start late or end early (``track_cut``: a person kept only in a contiguous part of the clip).

``view: person`` replaces the crop view of a clip that has no frames (variants without
appearance, e.g. tmp on a pose-only dataset) by a square box around the people of the clip's
sampled frames, ``person_margin`` larger than their extent, in training, validation, test and
predict alike (the setting travels in the checkpoint). Coordinates then say where the joints are
relative to the people of the clip rather than to the frame, whatever the frame's size, aspect and
framing; the motion within the clip is kept. The crop view's flip still applies; its random crop
does not (``scale`` and ``shift`` take its place).

Points are ``[T, N, 14, 3]`` (x, y, conf) normalised to the view; a missing joint has NaN x, y
and confidence 0 and stays missing (never a zero that would look like a point); a dropped joint
becomes missing the same way.

Every setting defaults to off (``view: crop``), so a params.yaml without the section trains
exactly as before.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipeline.errors import InputError

VIEWS = ("crop", "person")


class PoseAugmentError(InputError, ValueError):
    """A bad value in the ``pose_augment:`` section."""


@dataclass(frozen=True)
class PoseAugmentParams:
    scale: float = 0.0        # isotropic scale s ~ U(1 - scale, 1 + scale) about the clip's centre
    stretch: float = 0.0      # aspect change: x times a, y divided by a, a ~ U(1 - stretch, 1 + stretch)
    rotation: float = 0.0     # degrees: angle ~ U(-rotation, rotation) about the clip's centre
    shift: float = 0.0        # translation ~ U(-shift, shift) per axis, as a fraction of the view side
    joint_drop: float = 0.0   # probability that a present joint goes missing (per joint and frame)
    jitter: float = 0.0       # Gaussian std of per-joint noise, as a fraction of the view side
    person_drop: float = 0.0  # probability that a present person is missing from a frame (per person and frame)
    track_cut: float = 0.0    # probability that a person's track is cut to a random contiguous part of the clip
    track_min: float = 0.25   # track_cut: the part kept is at least this fraction of the clip's frames
    view: str = "crop"        # crop: the frame crop of train/test; person: a box around the clip's people
    person_margin: float = 0.2  # view: person: the box side is (1 + margin) x the people's larger extent

    def __post_init__(self):
        if self.view not in VIEWS:
            raise PoseAugmentError(f"params.yaml: pose_augment.view must be one of {VIEWS}, got {self.view!r}")
        if not _number(self.person_margin) or not 0.0 <= self.person_margin <= 10:
            raise PoseAugmentError(f"params.yaml: pose_augment.person_margin must be a number in [0, 10], "
                                   f"got {self.person_margin!r}")
        if not _number(self.track_cut) or not 0.0 <= self.track_cut <= 1.0:
            raise PoseAugmentError(f"params.yaml: pose_augment.track_cut must be a number in [0, 1], "
                                   f"got {self.track_cut!r}")
        for name in ("scale", "stretch", "joint_drop", "person_drop"):
            value = getattr(self, name)
            if not _number(value) or not 0.0 <= value < 1.0:
                raise PoseAugmentError(f"params.yaml: pose_augment.{name} must be a number in [0, 1), "
                                       f"got {value!r}")
        for name in ("rotation", "shift", "jitter"):
            value = getattr(self, name)
            if not _number(value) or value < 0:
                raise PoseAugmentError(f"params.yaml: pose_augment.{name} must be a number >= 0, got {value!r}")
        if not _number(self.track_min) or not 0.0 < self.track_min <= 1.0:
            raise PoseAugmentError(f"params.yaml: pose_augment.track_min must be a number in (0, 1], "
                                   f"got {self.track_min!r}")
        if self.rotation > 180:
            raise PoseAugmentError(f"params.yaml: pose_augment.rotation is in degrees, at most 180, "
                                   f"got {self.rotation!r}")

    @property
    def active(self) -> bool:
        """Whether training clips get any random augmentation."""
        return any(getattr(self, name) for name in RANDOM_FIELDS)

    @property
    def default(self) -> bool:
        return self == PoseAugmentParams()


RANDOM_FIELDS = ("scale", "stretch", "rotation", "shift", "joint_drop", "jitter", "person_drop", "track_cut")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def parse_pose_augment(data) -> PoseAugmentParams:
    """The ``pose_augment:`` mapping of params.yaml (absent or null: everything off)."""
    if data is None:
        return PoseAugmentParams()
    if not isinstance(data, dict):
        raise PoseAugmentError(f"params.yaml: `pose_augment` must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(PoseAugmentParams)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PoseAugmentError(f"params.yaml: unknown key(s) {unknown} in `pose_augment`; allowed: {sorted(known)}")
    return PoseAugmentParams(**data)


def person_box(points: np.ndarray, width: float, height: float,
               margin: float) -> tuple[float, float, float, float] | None:
    """Square box (x0, y0, x1, y1) in source pixels centred on the extent of the present joints of
    ``points`` [..., 14, 3] (normalised to a width x height frame), with side (1 + margin) x the
    extent's larger side (at least one pixel); None when no joint is present."""
    present = present_mask(points)
    if not present.any():
        return None
    xs, ys = points[..., 0][present] * width, points[..., 1][present] * height
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    side = max(float(xs.max() - xs.min()), float(ys.max() - ys.min()), 1.0) * (1 + margin)
    return (float(cx - side / 2), float(cy - side / 2), float(cx + side / 2), float(cy + side / 2))


def present_mask(points: np.ndarray) -> np.ndarray:
    return (points[..., 2] > 0) & np.isfinite(points[..., :2]).all(-1)


def clip_centre(points: np.ndarray) -> np.ndarray:
    """Mean (x, y) of the clip's present joints; the view centre when nothing is present."""
    present = present_mask(points)
    if not present.any():
        return np.array([0.5, 0.5], np.float32)
    return points[..., :2][present].mean(0).astype(np.float32)


def affine_matrix(p: PoseAugmentParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random 2 x 2 linear map (rotation, scale, stretch) and a translation [2]."""
    angle = np.deg2rad(rng.uniform(-p.rotation, p.rotation)) if p.rotation else 0.0
    s = rng.uniform(1 - p.scale, 1 + p.scale) if p.scale else 1.0
    a = rng.uniform(1 - p.stretch, 1 + p.stretch) if p.stretch else 1.0
    shift = rng.uniform(-p.shift, p.shift, size=2) if p.shift else np.zeros(2)
    c, si = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -si], [si, c]])
    linear = rot @ np.diag([s * a, s / a])
    return linear.astype(np.float32), shift.astype(np.float32)


def transform_points(points: np.ndarray, linear: np.ndarray, shift: np.ndarray,
                     centre: np.ndarray) -> np.ndarray:
    """xy -> linear (xy - centre) + centre + shift on every joint; missing joints stay NaN."""
    out = np.array(points, dtype=np.float32, copy=True)
    xy = out[..., :2] - centre
    out[..., :2] = xy @ linear.T + centre + shift
    return out


def drop_joints(points: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Each present joint goes missing (NaN, confidence 0) with probability ``prob``."""
    out = np.array(points, dtype=np.float32, copy=True)
    if prob <= 0:
        return out
    dropped = present_mask(out) & (rng.random(out.shape[:-1]) < prob)
    out[..., :2][dropped] = np.nan
    out[..., 2][dropped] = 0.0
    return out


def _remove(points: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """``points`` with the joints where ``gone`` [..., 14] made missing (NaN, confidence 0)."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., :2][gone] = np.nan
    out[..., 2][gone] = 0.0
    return out


def drop_persons(points: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Each person of each frame of ``points`` [T, N, 14, 3] goes missing as a whole with
    probability ``prob`` (an estimator losing someone for a frame)."""
    if prob <= 0:
        return np.array(points, dtype=np.float32, copy=True)
    lost = rng.random(points.shape[:2]) < prob
    return _remove(points, np.broadcast_to(lost[..., None], points.shape[:-1]))


def cut_tracks(points: np.ndarray, prob: float, min_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """With probability ``prob`` per person, keep each person of ``points`` [T, N, 14, 3] only in a
    random contiguous run of at least ``min_fraction`` of the T frames (a track that starts late
    or ends early); the other frames lose that person."""
    if prob <= 0:
        return np.array(points, dtype=np.float32, copy=True)
    steps, persons = points.shape[:2]
    gone = np.zeros(points.shape[:-1], bool)
    shortest = max(1, int(np.ceil(min_fraction * steps)))
    for n in np.flatnonzero(rng.random(persons) < prob):
        length = int(rng.integers(shortest, steps + 1))
        start = int(rng.integers(0, steps - length + 1))
        gone[:start, n] = True
        gone[start + length:, n] = True
    return _remove(points, gone)


def degrade_points(points: np.ndarray, p: PoseAugmentParams, rng: np.random.Generator) -> np.ndarray:
    """The estimator-like degradations of ``p`` (jitter, joint_drop, person_drop, track_cut) on
    ``points`` [T, N, 14, 3]; the augmentation's last steps, and on their own the way the
    robustness benchmark degrades ground truth."""
    out = np.array(points, dtype=np.float32, copy=True)
    if p.jitter:
        present = present_mask(out)
        noise = rng.normal(0.0, p.jitter, size=out[..., :2].shape).astype(np.float32)
        out[..., :2] += np.where(present[..., None], noise, 0.0)
    out = drop_joints(out, p.joint_drop, rng)
    out = drop_persons(out, p.person_drop, rng)
    return cut_tracks(out, p.track_cut, p.track_min, rng)


def augment_points(points: np.ndarray, p: PoseAugmentParams, rng: np.random.Generator) -> np.ndarray:
    """One training draw of ``p`` on a clip's points [T, N, 14, 3] (normalised to the view)."""
    out = np.array(points, dtype=np.float32, copy=True)
    if not p.active:
        return out
    if p.rotation or p.scale or p.stretch or p.shift:
        linear, shift = affine_matrix(p, rng)
        out = transform_points(out, linear, shift, clip_centre(out))
    return degrade_points(out, p, rng)


def from_run_info(run_info: dict | None) -> PoseAugmentParams:
    """The settings a model was trained with, from its checkpoint's ``run`` entry (evaluate and
    predict need its ``view``); checkpoints from before the section have none: the defaults."""
    return parse_pose_augment((run_info or {}).get("pose_augment"))
