"""Pose-input preparation: the one place where stored poses become the pose stream's inputs, shared
by training, evaluation and prediction (through ``ClipDataset``). Chosen by the ``pose_inputs:``
section of params.yaml and recorded in the checkpoint, so that predict prepares a new video exactly
as the model's training data was prepared.

Stored poses stay exactly as the estimator gave them (missing joints NaN with confidence 0). With
``fill: track`` cleaning is a deterministic step on top, in two places:

* ``clean_video`` on a person slot's whole video (every frame the estimator ran on):
  1. a person missing for at most ``bridge_gap`` frames between two sightings is bridged (present
     again, every joint to be filled);
  2. a missing joint is filled from the same person's track: linear interpolation inside gaps of at
     most ``max_gap`` frames, held at the ends for at most ``max_gap`` frames;
  3. whatever is still missing in a frame where the person is present is filled from that person's
     own present joints: the centroid of the frame's joints plus the joint's median offset from the
     centroid of the other joints over the video (the centroid alone for a joint never seen).
* ``clip_inputs`` on a clip's T sampled frames after the view and augmentation: joints still or
  newly missing (augmentation's joint drop-out) are filled the same way, without a gap limit.

A filled joint keeps confidence 0, so the model's per-joint visibility input says what was filled.
``fill: zeros`` is the paper's (and its code's) input: missing joints at (0, 0), no bridging.

Why: a missing joint fed as (0, 0) sits at the corner of the view. At random init one dropped wrist
moved the attention-fused pose vector P_t about 9x as much as real motion between frames, a
vanishing person about 30x, so the motion stream (differences of P_t, eq. 15) mostly saw detection
flicker; filled joints move P_t by about what the body moves.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FILLS = ("track", "zeros")


class PoseInputsError(ValueError):
    """A bad value in the ``pose_inputs:`` section."""


@dataclass(frozen=True)
class PoseInputParams:
    fill: str = "track"     # track: fill missing joints from the person's track and body | zeros: the paper's
    max_gap: int = 15       # frames: longest joint gap interpolated (and longest hold at a track's ends)
    bridge_gap: int = 8     # frames: longest absence of a person bridged between two sightings

    def __post_init__(self):
        if self.fill not in FILLS:
            raise PoseInputsError(f"params.yaml: pose_inputs.fill must be one of {FILLS}, got {self.fill!r}")
        for name in ("max_gap", "bridge_gap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PoseInputsError(f"params.yaml: pose_inputs.{name} must be an integer >= 0 (frames), "
                                      f"got {value!r}")


def parse_pose_inputs(data) -> PoseInputParams:
    """The ``pose_inputs:`` mapping of params.yaml (absent or null: the defaults)."""
    if data is None:
        return PoseInputParams()
    if not isinstance(data, dict):
        raise PoseInputsError(f"params.yaml: `pose_inputs` must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(PoseInputParams.__dataclass_fields__))
    if unknown:
        raise PoseInputsError(f"params.yaml: unknown key(s) {unknown} in `pose_inputs`; allowed: "
                              f"{sorted(PoseInputParams.__dataclass_fields__)}")
    return PoseInputParams(**data)


def from_run_info(run_info: dict | None) -> PoseInputParams:
    """The preparation a model was trained with, from its checkpoint's ``run`` entry. Checkpoints
    from before this module fed zeros."""
    recorded = (run_info or {}).get("pose_inputs")
    return PoseInputParams(fill="zeros") if recorded is None else parse_pose_inputs(recorded)


def to_run_info(params: PoseInputParams) -> dict:
    return asdict(params)


def observed(points: np.ndarray) -> np.ndarray:
    """[..., 14, 3] -> [..., 14]: joints the estimator reported (finite, confidence > 0)."""
    return (points[..., 2] > 0) & np.isfinite(points[..., :2]).all(-1)


def defined(points: np.ndarray) -> np.ndarray:
    """[..., 14, 3] -> [..., 14]: joints with coordinates, reported or filled."""
    return np.isfinite(points[..., :2]).all(-1)


def clean_video(points: np.ndarray, params: PoseInputParams, frames: np.ndarray | None = None) -> np.ndarray:
    """A copy of a video's poses [F, N, 14, 3] with missing joints filled as ``params`` say (module
    docstring). ``frames``: the frames the estimator ran on, in order (default all); gaps are
    counted in those frames and the others are left as they are."""
    out = np.array(points, dtype=np.float32, copy=True)
    if params.fill == "zeros" or out.size == 0:
        return out
    rows = np.arange(len(out)) if frames is None else np.asarray(frames, dtype=np.int64)
    seq = out[rows]
    for n in range(seq.shape[1]):
        seq[:, n] = _fill_person(seq[:, n], max_gap=params.max_gap, bridge_gap=params.bridge_gap)
    out[rows] = seq
    return out


def clip_inputs(points: np.ndarray, params: PoseInputParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clip's points [T, N, 14, 3] (normalised to the view) -> the model's pose inputs:
    poses [T, N, 14, 2] (absent persons 0), visibility [T, N, 14] (1 where the estimator reported
    the joint, 0 where it was filled) and the person mask [T, N]."""
    points = np.asarray(points, dtype=np.float32)
    visibility = observed(points).astype(np.float32)
    if params.fill == "track":
        points = points.copy()
        steps = len(points)
        for n in range(points.shape[1]):
            points[:, n] = _fill_person(points[:, n], max_gap=steps, bridge_gap=0)
        present = defined(points).any(-1)
    else:
        present = observed(points).any(-1)
    usable = defined(points) & present[..., None] if params.fill == "track" else observed(points)
    poses = np.where(usable[..., None], points[..., :2], 0.0).astype(np.float32)
    return poses, visibility, present


def _fill_person(track: np.ndarray, *, max_gap: int, bridge_gap: int) -> np.ndarray:
    """One person slot over time, [F, 14, 3] -> a filled copy (NaN joints only are filled)."""
    out = track.copy()
    seen = observed(out)
    has = defined(out)
    frames = len(out)
    active = has.any(-1)
    if not active.any():
        return out
    if bridge_gap > 0:
        active = active | _short_inner_gaps(active, bridge_gap)
    t = np.arange(frames)
    for j in range(out.shape[1]):
        src = np.flatnonzero(seen[:, j])
        todo = active & ~has[:, j]
        if len(src) == 0 or not todo.any():
            continue
        prev_i = np.searchsorted(src, t, side="right") - 1        # last sighting at or before t
        next_i = np.minimum(prev_i + 1, len(src) - 1)
        prev_f = np.where(prev_i >= 0, src[np.maximum(prev_i, 0)], -1)
        next_f = np.where(src[next_i] > t, src[next_i], -1)
        inside = (prev_f >= 0) & (next_f >= 0) & (next_f - prev_f - 1 <= max_gap)
        before = (prev_f < 0) & (src[0] - t <= max_gap)
        after = (next_f < 0) & (prev_f >= 0) & (t - src[-1] <= max_gap)
        ok = todo & (inside | before | after)
        if ok.any():
            for c in (0, 1):
                out[ok, j, c] = np.interp(t[ok], src, out[src, j, c])
            out[ok, j, 2] = 0.0
    has = defined(out)
    todo = active[:, None] & ~has
    if todo.any():
        out = _fill_from_body(out, seen, has, todo)
    return out


def _fill_from_body(out: np.ndarray, seen: np.ndarray, has: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Fill ``todo`` joints at the centroid of the frame's defined joints plus the joint's median
    offset from the centroid of the other joints over the frames where it was seen (the centroid
    alone if never seen). A frame with no defined joint borrows the nearest such frame's centroid."""
    xy = np.where(has[..., None], out[..., :2], 0.0)
    total, count = xy.sum(1), has.sum(-1)
    centroid = total / np.maximum(count, 1)[:, None]
    with_body = np.flatnonzero(count > 0)
    if len(with_body) == 0:
        return out
    empty = np.flatnonzero(count == 0)
    if len(empty):
        centroid[empty] = centroid[with_body[np.abs(with_body[None, :] - empty[:, None]).argmin(1)]]
    offsets = np.zeros((out.shape[1], 2), np.float32)
    for j in range(out.shape[1]):
        frames = seen[:, j] & (count > 1)
        if frames.any():
            others = (total[frames] - out[frames, j, :2]) / (count[frames] - 1)[:, None]
            offsets[j] = np.median(out[frames, j, :2] - others, axis=0)
    f, j = np.nonzero(todo)
    out[f, j, :2] = centroid[f] + offsets[j]
    out[f, j, 2] = 0.0
    return out


def _short_inner_gaps(active: np.ndarray, limit: int) -> np.ndarray:
    """Frames of runs of False of length <= ``limit`` that have True on both sides."""
    bridged = np.zeros_like(active)
    idx = np.flatnonzero(active)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= limit + 1:
            bridged[a + 1:b] = True
    return bridged
