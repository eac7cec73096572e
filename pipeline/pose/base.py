"""The interface every 2D pose backend implements.

A backend turns one RGB frame into detected people already mapped to the 14-keypoint layout
(pipeline.keypoints). The pose stage runner does the rest: ranking, the N-person limit,
normalisation to the frame, Parquet storage, statistics, parallelism and resumption.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.keypoints import NUM_KEYPOINTS


@dataclass(frozen=True)
class Detections:
    """People found in one frame.

    keypoints: float32 [P, 14, 3] -- (x, y) in pixels of the frame given to the estimator and a
    confidence in [0, 1]; a missing joint has NaN x, y and confidence 0.
    scores: float32 [P] -- the person score used for ranking (higher is better).
    """
    keypoints: np.ndarray
    scores: np.ndarray

    def __post_init__(self):
        if self.keypoints.ndim != 3 or self.keypoints.shape[1:] != (NUM_KEYPOINTS, 3):
            raise ValueError(f"keypoints must be [P, {NUM_KEYPOINTS}, 3], got {self.keypoints.shape}")
        if self.scores.shape != (self.keypoints.shape[0],):
            raise ValueError(f"scores must be [{self.keypoints.shape[0]}], got {self.scores.shape}")

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, NUM_KEYPOINTS, 3), np.float32), np.zeros((0,), np.float32))


MIN_FRAME_SIDE = 8   # smaller frames hold nobody an estimator could find
# The image-based backends (pipeline.pose.estimators builds them; params.yaml has a pose section each).
IMAGE_BACKENDS = ("blazepose", "openpose", "mmpose")


def validate_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """The frame as a contiguous uint8 [H, W, 3] array, or a ValueError saying what was given."""
    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB frame, got {frame.dtype} {list(frame.shape)}")
    return np.ascontiguousarray(frame)


class PoseEstimator(Protocol):
    """name and version go into the Parquet metadata of every file the estimator writes."""
    name: str
    version: str

    def __call__(self, frame_rgb: np.ndarray) -> Detections:
        """frame_rgb: uint8 [H, W, 3]."""
        ...
