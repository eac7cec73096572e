"""The `groundtruth` estimator: keypoints a dataset ships, degraded by params to imitate a real
estimator's errors (jitter and missed joints). Deterministic per (seed, video id)."""
from __future__ import annotations

import warnings
import zlib

import numpy as np

from pipeline.datasets.base import GroundTruthPoses

NAME = "groundtruth"
VERSION = "1"


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
    """[F, P]: fraction of joints present, plus a small tie-break by the person's box size so that
    fully visible people rank by how large (near) they are."""
    present = kps[..., 2] > 0
    frac = present.mean(-1)
    xy = np.where(present[..., None], kps[..., :2], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN people: no extent
        extent = np.nanmax(xy, -2) - np.nanmin(xy, -2)
    size = np.nan_to_num(extent.prod(-1))
    size = size / (size.max() + 1e-6)
    return (frac + 1e-3 * size).astype(np.float32)
