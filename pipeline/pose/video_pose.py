"""Pose a video as the pose stage does: the one home of how an image estimator's output for a
video's frames becomes people in fixed slots, shared by the pose stage (pipeline.pose.runner),
predict (pipeline.predict) and draw_poses (pipeline.draw_poses), so a video is posed the same way
in training data and in prediction.

* The estimator's video mode: a backend that follows people through a video or batches frames
  (``estimate_frames``: BlazePose with ``track`` and ``tile_every``, mmpose) gets the whole video
  at once; any other runs frame by frame.
* ``tracking``: people are linked across frames into ``max_persons`` slots and short, low-score,
  still tracks are dropped as false people (``pose.track_filter``; pipeline.pose.tracking); without
  tracking each frame's best people are ranked on their own.

What the pose section of params.yaml says about this (``tracking``, ``track_filter`` and each image
estimator's options, such as ``pose.blazepose``) is recorded in a trained model's checkpoint
(``record``, through pipeline.runs.RunSpec.info), and ``recorded_settings`` reads it back for
predict; a checkpoint written before it was recorded falls back to params.yaml's pose section,
with a note saying so.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from pipeline.keypoints import NUM_KEYPOINTS
from pipeline.pose.base import IMAGE_BACKENDS, PoseEstimator
from pipeline.pose.schema import rank_and_limit
from pipeline.pose.tracking import track_people

# what the tracker left out, per video (0 without tracking): columns of the pose stage's video table
TRACK_COLUMNS = ("tracks", "tracks_filtered", "detections_filtered", "detections_over_limit")
PARAMS_FILE = Path(__file__).resolve().parents[2] / "params.yaml"


@dataclass(frozen=True)
class PosedVideo:
    """People of every frame in slots: keypoints [F, N, 14, 3] in pixels of the frames given (an
    empty slot has NaN coordinates and confidence 0), person scores [F, N] (NaN where empty), and
    the tracker's counts (TRACK_COLUMNS; empty without tracking)."""
    keypoints: np.ndarray
    scores: np.ndarray
    tracking: dict = field(default_factory=dict)


def pose_video(estimator: PoseEstimator, frames: Iterable[np.ndarray], max_persons: int, *,
               tracking: bool = True, track_filter: dict | None = None) -> PosedVideo:
    """Run ``estimator`` over a video's ``frames`` (uint8 RGB, in order) as the pose stage does
    (module docstring); ``track_filter``: the ``filter_*`` options of tracking.track_people
    (PoseParams.track_filter_options; None or {}: no filter)."""
    batched = getattr(estimator, "estimate_frames", None)
    found = list(batched(frames)) if batched else [estimator(frame) for frame in frames]
    if tracking:
        tracked = track_people([(d.keypoints, d.scores) for d in found], max_persons, **(track_filter or {}))
        return PosedVideo(tracked.keypoints, tracked.scores, {name: getattr(tracked, name) for name in TRACK_COLUMNS})
    keypoints = np.full((len(found), max_persons, NUM_KEYPOINTS, 3), np.nan, np.float32)
    keypoints[..., 2] = 0.0
    scores = np.full((len(found), max_persons), np.nan, np.float32)
    for f, d in enumerate(found):
        kps, sc = rank_and_limit(d.keypoints, d.scores, max_persons)
        keypoints[f, :len(kps)], scores[f, :len(kps)] = kps, sc
    return PosedVideo(keypoints, scores)


@dataclass(frozen=True)
class VideoPoseSettings:
    """How a new video is posed: ``tracking``, the ``filter_*`` options of the track filter and the
    options of each image estimator (name -> options, e.g. params.yaml's ``pose.blazepose``)."""
    tracking: bool = True
    track_filter: dict = field(default_factory=dict)
    estimators: dict = field(default_factory=dict)


def settings_from_params(pose) -> VideoPoseSettings:
    """The settings of a pose section (pipeline.params.PoseParams)."""
    return VideoPoseSettings(pose.tracking, pose.track_filter_options(),
                             {name: dict(getattr(pose, name)) for name in IMAGE_BACKENDS})


def record(pose) -> dict:
    """What a checkpoint keeps of a pose section (PoseParams): the estimator the training poses
    came from and its options, N, and how a new video is to be posed (VideoPoseSettings)."""
    return {"estimator": pose.estimator, "options": pose.backend_options(), "max_persons": pose.max_persons,
            "tracking": pose.tracking, "track_filter": dataclasses.asdict(pose.track_filter),
            "estimators": {name: dict(getattr(pose, name)) for name in IMAGE_BACKENDS}}


def recorded_settings(recorded: dict | None, params_file: Path = PARAMS_FILE) -> tuple[VideoPoseSettings, str]:
    """(settings, note) from a checkpoint's ``run["pose"]`` (``record``). A checkpoint that does not
    record them (written before they were) gets ``params_file``'s pose section, and a note saying so."""
    recorded = recorded or {}
    if all(key in recorded for key in ("tracking", "track_filter", "estimators")):
        return VideoPoseSettings(bool(recorded["tracking"]),
                                 {f"filter_{k}": v for k, v in dict(recorded["track_filter"]).items()},
                                 {k: dict(v or {}) for k, v in dict(recorded["estimators"]).items()}), ""
    from pipeline.params import ParamsError, PoseParams, load_params
    try:
        settings = settings_from_params(load_params(params_file).pose)
        source = f"{params_file}'s pose section"
    except ParamsError as err:
        settings = settings_from_params(PoseParams())
        source = f"the defaults of pipeline/params.py ({err})"
    return settings, (f"the checkpoint does not record how the pose stage posed its videos (tracking, "
                      f"track_filter, estimator options: written before they were recorded); using {source}")
