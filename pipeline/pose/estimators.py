"""Build an image-based pose backend by name (imported lazily: each has its own dependencies)."""
from __future__ import annotations

import json
from functools import lru_cache

from pipeline.pose.base import IMAGE_BACKENDS, PoseEstimator


def build_estimator(name: str, options: dict, max_persons: int) -> PoseEstimator:
    if name == "blazepose":
        from pipeline.pose.blazepose import BlazePoseEstimator
        return BlazePoseEstimator(max_persons=max_persons, **options)
    if name == "openpose":
        from pipeline.pose.openpose import OpenPoseEstimator
        return OpenPoseEstimator(max_persons=max_persons, **options)
    if name == "mmpose":
        from pipeline.pose.mmpose_backend import MMPoseEstimator, MMPoseOptions
        return MMPoseEstimator(MMPoseOptions.from_params(options), max_persons=max_persons)
    raise ValueError(f"unknown pose estimator {name!r}: one of groundtruth, {', '.join(IMAGE_BACKENDS)}")


def cached_estimator(name: str, options_items: tuple, max_persons: int) -> PoseEstimator:
    """One estimator per worker process, built on first use (models load once, not per video).
    Options may hold dicts and lists (e.g. mmpose's cfg_options): the cache key is their JSON."""
    return _cached(name, json.dumps(dict(options_items), sort_keys=True, default=str), max_persons)


@lru_cache(maxsize=2)
def _cached(name: str, options_json: str, max_persons: int) -> PoseEstimator:
    return build_estimator(name, json.loads(options_json), max_persons)


cached_estimator.cache_clear = _cached.cache_clear
