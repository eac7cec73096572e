"""Link the people an image estimator finds frame by frame into tracks, so that each person keeps
one slot for the whole video, as the ground-truth estimator does. TMP's motion stream (paper
eq. 13) takes temporal differences per person slot: they mean nothing when a slot hops from one
person to another between frames, which is what ranking each frame on its own does.

Each frame's detections are assigned to the live tracks by the IoU of their keypoint boxes
(Hungarian assignment, maximising total IoU); a detection with no track above ``min_iou`` starts a
new track, and a track not seen for more than ``max_gap`` frames ends. The tracks are then ranked
by their summed person score (long, confident tracks first) and the best N fill the slots.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.keypoints import NUM_KEYPOINTS

TRACKING_VERSION = "1"   # part of the estimator version in the Parquet metadata: parts redo on change


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


def track_and_rank(frames: list[tuple[np.ndarray, np.ndarray]], max_persons: int, *, min_iou: float = 0.2,
                   max_gap: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Link ``frames`` into tracks and keep the ``max_persons`` tracks of highest summed score in
    fixed slots, best first: (keypoints [F, N, 14, 3], scores [F, N]); empty slots as in link_tracks."""
    kps, scores = link_tracks(frames, min_iou=min_iou, max_gap=max_gap)
    total = np.nansum(scores, 0) if scores.size else np.zeros(kps.shape[1], np.float32)
    order = np.argsort(-total, kind="stable")[:max_persons]
    out = np.full((len(frames), max_persons, NUM_KEYPOINTS, 3), np.nan, np.float32)
    out[..., 2] = 0.0
    out_scores = np.full((len(frames), max_persons), np.nan, np.float32)
    out[:, :len(order)], out_scores[:, :len(order)] = kps[:, order], scores[:, order]
    return out, out_scores
