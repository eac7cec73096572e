"""Link the people an image estimator finds frame by frame into tracks, and give each track a
person slot, so that a person stays in one slot for as long as it is tracked, as the ground-truth
estimator does. TMP's motion stream (paper eq. 13 and 15) takes temporal differences: they mean
nothing when a slot hops from one person to another between frames, which is what ranking each
frame on its own does.

1. ``link_tracks``: each frame's detections are assigned to the live tracks by the IoU of their
   keypoint boxes (Hungarian assignment, maximising total IoU); a detection with no track above
   ``min_iou`` starts a new track, and a track not seen for more than ``max_gap`` frames ends.
2. ``filter_tracks``: a track that is short, low-score and (up to a motion limit) still at once is
   a false person. The thresholds were measured on real BlazePose output (bench/tracking_filter.py):
   false people there last 1-3 frames with low scores, but their joints jitter, so the measured
   default takes any motion.
3. ``assign_slots``: a track holds a slot from its first to its last detection. Tracks that do not
   overlap in time share slots, so nobody is dropped while a slot is free. Only in frames where
   more than N tracks are live do the tracks of lowest summed person score lose those frames (and
   only those). A track starting (or coming back) takes its own earlier slot if free, else the
   free slot whose last occupant ended nearest to where it starts, within ``new_slot_distance``
   box heights, so that a person whose track broke continues in the same slot; failing that, an
   unused slot or the one vacated longest ago, so that filling gaps per slot (pipeline/pose_inputs)
   is least likely to join two people. Slots are then ordered by the summed score they hold (slot
   0 holds the most person evidence).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.keypoints import NUM_KEYPOINTS

TRACKING_VERSION = "2"   # part of the estimator version in the Parquet metadata: parts redo on change


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
    """[P, 14, 3] -> [P, 4] (x0, y0, x1, y1) around each person's present joints (NaN if none)."""
    kp = np.asarray(keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    present = kp[..., 2] > 0
    xs = np.where(present, kp[..., 0], np.nan)
    ys = np.where(present, kp[..., 1], np.nan)
    boxes = np.full((len(kp), 4), np.nan, np.float32)
    has = present.any(-1)
    if has.any():
        boxes[has] = np.stack([np.nanmin(xs[has], -1), np.nanmin(ys[has], -1),
                               np.nanmax(xs[has], -1), np.nanmax(ys[has], -1)], -1)
    return boxes


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` [P, 4] with every box in ``b`` [Q, 4] -> [P, Q]. A joint box of
    one point or a line has no area, so boxes are grown by one pixel on each side first."""
    a = np.asarray(a, np.float32)[:, None, :] + np.array([-1, -1, 1, 1], np.float32)
    b = np.asarray(b, np.float32)[None, :, :] + np.array([-1, -1, 1, 1], np.float32)
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.nan_to_num(inter / np.maximum(union, 1e-9))


def link_tracks(frames: list[tuple[np.ndarray, np.ndarray]], *, min_iou: float = 0.2,
                max_gap: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``frames``: per frame (keypoints [P, 14, 3], scores [P]) of everyone found. Returns
    (keypoints [F, K, 14, 3], scores [F, K]) with one column per track; a track's absent frames
    have NaN coordinates, confidence 0 and score NaN."""
    last_box: list[np.ndarray] = []     # per track: its box when last seen
    last_seen: list[int] = []
    assignment: list[list[tuple[int, int]]] = []   # per frame: (detection, track)
    for f, (kps, _) in enumerate(frames):
        boxes = keypoint_boxes(kps)
        dets = [i for i in range(len(boxes)) if np.isfinite(boxes[i]).all()]
        live = [t for t in range(len(last_box)) if f - last_seen[t] <= max_gap + 1]
        pairs = []
        if dets and live:
            iou = box_iou(boxes[dets], np.stack([last_box[t] for t in live]))
            rows, cols = linear_sum_assignment(-iou)
            pairs = [(dets[r], live[c]) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]
        matched = {d for d, _ in pairs}
        for d in dets:
            if d not in matched:
                last_box.append(boxes[d])
                last_seen.append(f)
                pairs.append((d, len(last_box) - 1))
        for d, t in pairs:
            last_box[t], last_seen[t] = boxes[d], f
        assignment.append(pairs)
    out = np.full((len(frames), len(last_box), NUM_KEYPOINTS, 3), np.nan, np.float32)
    out[..., 2] = 0.0
    scores = np.full((len(frames), len(last_box)), np.nan, np.float32)
    for f, pairs in enumerate(assignment):
        kps, sc = frames[f]
        for d, t in pairs:
            out[f, t] = kps[d]
            scores[f, t] = sc[d]
    return out, scores


def track_features(keypoints: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Per track of ``link_tracks`` output [F, T, 14, 3], [F, T]: ``frames`` (how many it was seen
    in), ``score`` (its mean person score) and ``motion`` (the median, over its consecutive
    detections, of how far its joints moved per frame, in units of its median box height; 0 for a
    track seen once)."""
    present = (keypoints[..., 2] > 0).any(-1)                       # [F, T]
    boxes = keypoint_boxes(keypoints.reshape(-1, NUM_KEYPOINTS, 3)).reshape(*present.shape, 4)
    num = present.sum(0)
    mean_score = np.where(present, np.nan_to_num(scores), 0).sum(0) / np.maximum(num, 1)
    motion = np.zeros(present.shape[1], np.float32)
    for t in range(present.shape[1]):
        seen = np.nonzero(present[:, t])[0]
        if len(seen) < 2:
            continue
        height = max(float(np.median(boxes[seen, t, 3] - boxes[seen, t, 1])), 1.0)
        a, b = keypoints[seen[:-1], t], keypoints[seen[1:], t]
        both = (a[..., 2] > 0) & (b[..., 2] > 0)
        step = np.linalg.norm(b[..., :2] - a[..., :2], axis=-1) / (seen[1:] - seen[:-1])[:, None]
        per_pair = np.where(both, step, 0).sum(-1) / np.maximum(both.sum(-1), 1)
        motion[t] = float(np.median(per_pair[both.any(-1)])) / height if both.any() else 0.0
    return {"frames": num.astype(np.int32), "score": mean_score.astype(np.float32), "motion": motion}


def filter_tracks(keypoints: np.ndarray, scores: np.ndarray, *, max_frames: int, max_score: float,
                  max_motion: float) -> np.ndarray:
    """Which tracks of ``link_tracks`` output to keep [T] (bool): a track goes when it was seen in
    at most ``max_frames`` frames AND its mean score is under ``max_score`` AND its motion
    (``track_features``) is at most ``max_motion``. ``max_frames`` 0 keeps every track."""
    f = track_features(keypoints, scores)
    drop = (f["frames"] <= max_frames) & (f["score"] < max_score) & (f["motion"] <= max_motion)
    return ~drop


def _box_jump(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two keypoint-box centres in units of the taller box."""
    height = max(a[3] - a[1], b[3] - b[1], 1.0)
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / height)


def _slot_preference(last_box: np.ndarray | None, vacated: int, box: np.ndarray, near: float) -> tuple:
    """Sort key of a free slot for a track starting at ``box``: first the slots whose last occupant
    ended within ``near`` box heights of it, nearest first (the same person, its track broken);
    then the others, the one vacated longest ago (never used: -1) first, so that gap filling per
    slot is least likely to join two different people."""
    if last_box is not None and (jump := _box_jump(last_box, box)) < near:
        return (0, jump)
    return (1, vacated)


def assign_slots(keypoints: np.ndarray, scores: np.ndarray, max_persons: int, *,
                 new_slot_distance: float = 1.0) -> np.ndarray:
    """Slot of every track in every frame, [F, T] int (-1: not in a slot there), for the tracks
    of ``link_tracks`` output (module docstring, step 3). Deterministic: ties go to the track
    created first and to the lowest slot."""
    num_frames, num_tracks = scores.shape
    slot_of = np.full((num_frames, num_tracks), -1, np.int64)
    present = (keypoints[..., 2] > 0).any(-1)
    if num_tracks == 0:
        return slot_of
    seen = present.any(0)
    first = np.where(seen, present.argmax(0), num_frames)
    last = np.where(seen, num_frames - 1 - present[::-1].argmax(0), -1)
    total = np.where(present, np.nan_to_num(scores), 0).sum(0)
    rank = np.empty(num_tracks, np.int64)
    rank[np.argsort(-total, kind="stable")] = np.arange(num_tracks)
    frame = np.arange(num_frames)[:, None]
    live = (frame >= first) & (frame <= last)
    live_rank = np.where(live, rank, num_tracks)
    if num_tracks > max_persons:      # the N best-ranked live tracks of each frame keep it
        cut = np.sort(live_rank, 1)[:, max_persons - 1:max_persons]
        kept = live & (live_rank <= cut)
    else:
        kept = live
    segments = []                     # (first, last present frame of a kept run, rank, track)
    for t in range(num_tracks):
        edges = np.flatnonzero(np.diff(np.r_[0, kept[:, t].astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            inside = np.flatnonzero(present[a:b, t])
            if len(inside):
                segments.append((a + inside[0], a + inside[-1], rank[t], t))
    segments.sort()
    boxes = keypoint_boxes(keypoints.reshape(-1, NUM_KEYPOINTS, 3)).reshape(num_frames, num_tracks, 4)
    busy_until = [-1] * max_persons
    last_box: list[np.ndarray | None] = [None] * max_persons
    own: dict[int, int] = {}
    for start, end, _, t in segments:
        free = [s for s in range(max_persons) if busy_until[s] < start]   # never empty: <= N kept
        if own.get(t) in free:
            slot = own[t]
        else:
            slot = min(free, key=lambda s: _slot_preference(last_box[s], busy_until[s], boxes[start, t],
                                                            new_slot_distance) + (s,))
        own[t] = slot
        busy_until[slot] = end
        last_box[slot] = boxes[end, t]
        frames = np.arange(start, end + 1)
        slot_of[frames[present[start:end + 1, t]], t] = slot
    return slot_of


@dataclass(frozen=True)
class Tracked:
    """``track_people`` output: keypoints [F, N, 14, 3] and scores [F, N] in slots (an empty slot
    has NaN coordinates, confidence 0 and score NaN), and what did not make it into a slot."""
    keypoints: np.ndarray
    scores: np.ndarray
    tracks: int                  # tracks linked
    tracks_filtered: int         # of them dropped as false people (filter_tracks)
    detections_filtered: int     # person-frames of those tracks
    detections_over_limit: int   # person-frames lost because more than N tracks were live at once


def track_people(frames: list[tuple[np.ndarray, np.ndarray]], max_persons: int, *, min_iou: float = 0.2,
                 max_gap: int = 5, filter_max_frames: int = 0, filter_max_score: float = 0.0,
                 filter_max_motion: float = 0.0, new_slot_distance: float = 1.0) -> Tracked:
    """``frames``: per frame (keypoints [P, 14, 3], scores [P]) of everyone found. Links them into
    tracks, drops false people (``filter_*``: filter_tracks; ``filter_max_frames`` 0: none) and
    puts the tracks into ``max_persons`` slots (assign_slots)."""
    kps, scores = link_tracks(frames, min_iou=min_iou, max_gap=max_gap)
    present = (kps[..., 2] > 0).any(-1)
    keep = filter_tracks(kps, scores, max_frames=filter_max_frames, max_score=filter_max_score,
                         max_motion=filter_max_motion)
    slot_of = assign_slots(kps[:, keep], scores[:, keep], max_persons, new_slot_distance=new_slot_distance)
    out = np.full((len(frames), max_persons, NUM_KEYPOINTS, 3), np.nan, np.float32)
    out[..., 2] = 0.0
    out_scores = np.full((len(frames), max_persons), np.nan, np.float32)
    f, t = np.nonzero(slot_of >= 0)
    out[f, slot_of[f, t]] = kps[:, keep][f, t]
    out_scores[f, slot_of[f, t]] = scores[:, keep][f, t]
    order = np.argsort(-np.nan_to_num(out_scores).sum(0), kind="stable")
    return Tracked(out[:, order], out_scores[:, order], tracks=int(kps.shape[1]),
                   tracks_filtered=int((~keep).sum()), detections_filtered=int(present[:, ~keep].sum()),
                   detections_over_limit=int(present[:, keep].sum() - len(f)))


def track_and_rank(frames: list[tuple[np.ndarray, np.ndarray]], max_persons: int,
                   **options) -> tuple[np.ndarray, np.ndarray]:
    """``track_people`` without its statistics: (keypoints [F, N, 14, 3], scores [F, N])."""
    tracked = track_people(frames, max_persons, **options)
    return tracked.keypoints, tracked.scores
