"""Build an image-based pose backend by name (imported lazily: each has its own dependencies)."""
from __future__ import annotations

from functools import lru_cache

from pipeline.pose.base import PoseEstimator

IMAGE_BACKENDS = ("blazepose", "openpose")


def build_estimator(name: str, options: dict, max_persons: int) -> PoseEstimator:
    if name == "blazepose":
        from pipeline.pose.blazepose import BlazePoseEstimator
        return BlazePoseEstimator(max_persons=max_persons, **options)
    if name == "openpose":
        from pipeline.pose.openpose import OpenPoseEstimator
        return OpenPoseEstimator(max_persons=max_persons, **options)
    raise ValueError(f"unknown pose estimator {name!r}: one of groundtruth, {', '.join(IMAGE_BACKENDS)}")


@lru_cache(maxsize=2)
def cached_estimator(name: str, options_items: tuple, max_persons: int) -> PoseEstimator:
    """One estimator per worker process, built on first use (models load once, not per video)."""
    return build_estimator(name, dict(options_items), max_persons)
