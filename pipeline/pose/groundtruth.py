"""The `groundtruth` estimator: keypoints a dataset ships, degraded by params to imitate a real
estimator's errors (jitter and missed joints). Deterministic per (seed, video id)."""
from __future__ import annotations

import warnings
import zlib

import numpy as np

from pipeline.datasets.base import GroundTruthPoses

NAME = "groundtruth"
VERSION = "3"  # 3: score by visibility x relative height; one slot per person per video


def degrade(gt: GroundTruthPoses, *, noise_std: float, drop_prob: float, seed: int,
            video_id: str) -> np.ndarray:
    """Copy of gt.keypoints [F, P, 14, 3] with Gaussian jitter (std = noise_std x the frame's
    larger side) on present joints and each present joint dropped with probability drop_prob."""
    rng = np.random.default_rng([seed, zlib.crc32(video_id.encode())])
    kps = np.array(gt.keypoints, dtype=np.float32, copy=True)
    present = (kps[..., 2] > 0) & np.isfinite(kps[..., :2]).all(-1)
    noise = rng.normal(0.0, noise_std * max(gt.width, gt.height), size=kps[..., :2].shape)
    kps[..., :2] += noise.astype(np.float32)
    dropped = rng.random(present.shape) < drop_prob
    missing = ~present | dropped
    kps[..., :2][missing] = np.nan
    kps[..., 2][missing] = 0.0
    return kps


def person_scores(kps: np.ndarray) -> np.ndarray:
    """[F, P]: like a detector's confidence, higher for people more visible and larger: the fraction
    of joints present times the person's height relative to the tallest person in the frame."""
    present = kps[..., 2] > 0
    frac = present.mean(-1)
    ys = np.where(present, kps[..., 1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN people: no height
        height = np.nan_to_num(np.nanmax(ys, -1) - np.nanmin(ys, -1))
    relative = height / np.maximum(height.max(-1, keepdims=True), 1e-6)
    return (frac * relative).astype(np.float32)
