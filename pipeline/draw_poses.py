"""Draw a video's 14-keypoint skeletons over its frames, to numbered PNGs and/or an MP4.

Two sources of poses:
* a dataset video after the pose stage: ``data/poses/<dataset>.parquet`` over the decoded frames
  in ``data/frames/<dataset>/<video_id>/`` (a pose-only dataset is drawn on a black canvas);
* an estimator run directly on a video file, to check a backend on your own footage before a
  whole dataset goes through the pose stage.

Each person slot keeps one colour (slot 0 = the best-ranked person) and is labelled with its slot
and person score, so ranking and identity switches are visible frame to frame; right and left
limbs have distinct core colours (pipeline.visualize.draw_skeletons). People scored under
``low_score`` are drawn faded (false people on objects stand out), and a head top the estimator's
layout does not have (it is extrapolated from the nose) is drawn dashed with a ring.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline import paths
from pipeline.io import read_parquet_metadata
from pipeline.keypoints import head_top_estimated
from pipeline.pose.base import PoseEstimator
from pipeline.pose.schema import read_poses, to_dense
from pipeline.pose.video_pose import pose_video
from pipeline.video import DecodeError, read_frame_array, read_video_rgb
from pipeline.visualize import LOW_SCORE, SLOT_COLOURS, draw_skeletons, save_png, with_header, write_mp4

DEFAULT_FPS = 10.0
# The layout each image estimator maps from (mmpose says its own, in its `layout` attribute).
ESTIMATOR_LAYOUTS = {"blazepose": "blazepose33", "openpose": "body25"}


class DrawPosesError(RuntimeError):
    pass


@dataclass
class PoseVideo:
    """What to draw: ``points`` [F, N, 14, 3] in pixels of the frames, person ``scores`` [F, N]
    (NaN where a slot is empty) and a way to read frame ``f`` as uint8 RGB [H, W, 3]."""
    name: str
    points: np.ndarray
    scores: np.ndarray
    width: int
    height: int
    fps: float
    estimator: str
    frame_reader: object            # callable f -> RGB array
    head_estimated: bool = False    # the head top is extrapolated from the nose, not detected

    @property
    def num_frames(self) -> int:
        return self.points.shape[0]


def estimator_head_estimated(name: str, layout: str | None = None, version: str = "") -> bool:
    """Whether an estimator's head-top points are estimated (its layout has none): ``layout`` when
    the estimator says it, else its known layout; mmpose's version string ends in its layout;
    ground truth and unknown estimators are taken as drawn faithfully."""
    if layout is None and name == "mmpose":
        layout = version.rsplit("/", 1)[-1] or None
    layout = layout or ESTIMATOR_LAYOUTS.get(name)
    try:
        return layout is not None and head_top_estimated(layout)
    except ValueError:
        return False


def _black(width: int, height: int):
    return lambda _f: np.zeros((height, width, 3), np.uint8)


def _check_video_id(video_id: str, known: list[str], source: Path) -> None:
    if video_id in known:
        return
    close = difflib.get_close_matches(video_id, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f" ({len(known)} videos there)"
    raise DrawPosesError(f"{source}: no video {video_id!r}{hint}")


def from_pose_stage(dataset: str, video_id: str, root: Path = Path(".")) -> PoseVideo:
    """A dataset video's poses as the pose stage stored them, over its decoded frames
    (``root``: the project folder that holds data/)."""
    root = Path(root)
    poses_path = root / paths.poses(dataset)
    videos_path = root / paths.pose_videos(dataset)
    if not poses_path.exists() or not videos_path.exists():
        raise DrawPosesError(f"{poses_path}: no pose output for dataset {dataset!r}; run "
                             f"`dvc repro pose@{dataset}` (or the pose stage) first")
    videos = pd.read_parquet(videos_path)
    _check_video_id(video_id, videos["video_id"].tolist(), videos_path)
    row = videos.set_index("video_id").loc[video_id]
    if row["status"] != "ok":
        raise DrawPosesError(f"{videos_path}: the pose stage failed on {video_id}: {row['error']}")
    meta = read_parquet_metadata(poses_path)
    max_persons = int(meta.get("max_persons", 4))
    table = read_poses(poses_path, [video_id])
    num_frames = int(row["num_frames"])
    frames_dir = root / paths.frames_dir(dataset) / video_id
    frames_table = root / paths.frames_table(dataset)
    fps = DEFAULT_FPS
    if frames_table.exists():
        decoded = pd.read_parquet(frames_table).set_index("video_id")
        if video_id in decoded.index and float(decoded.loc[video_id, "fps"]) > 0:
            fps = float(decoded.loc[video_id, "fps"])
    if frames_dir.is_dir():
        first = read_frame_array(frames_dir, 0)
        height, width = first.shape[:2]
        reader = lambda f: read_frame_array(frames_dir, f)  # noqa: E731
    else:  # pose-only dataset (or frames removed): skeletons on black, at the pose frame size
        width, height = int(row["width"]), int(row["height"])
        reader = _black(width, height)
    points = to_dense(table, {video_id: num_frames}, max_persons)[video_id] * np.float32([width, height, 1])
    scores = np.full(points.shape[:2], np.nan, np.float32)
    frame, person = table["frame"].to_numpy(), table["person"].to_numpy()
    keep = (frame < num_frames) & (person < max_persons)
    scores[frame[keep], person[keep]] = table["score"].to_numpy()[keep]
    name = str(meta.get("estimator", "?"))
    head = estimator_head_estimated(name, version=str(meta.get("estimator_version", "")))
    return PoseVideo(video_id, points, scores, width, height, fps, name, reader, head)


def from_estimator(video: Path, estimator: PoseEstimator, *, max_persons: int,
                   max_frames: int | None = None, tracking: bool = True,
                   track_filter: dict | None = None) -> PoseVideo:
    """Run ``estimator`` over a video file's frames (at its native size) as the pose stage does
    (pipeline.pose.video_pose: the estimator's video mode; people linked into slots across frames
    with false people dropped by the ``filter_*`` options of ``track_filter``, or with ``tracking``
    off ranked per frame)."""
    video = Path(video)
    if not video.is_file():
        raise DrawPosesError(f"{video}: no such video file")
    try:
        frames, fps = read_video_rgb(video, max_frames=max_frames)
    except DecodeError as err:
        raise DrawPosesError(str(err)) from None
    if len(frames) == 0:
        raise DrawPosesError(f"{video}: no frames decoded")
    posed = pose_video(estimator, tqdm(frames, desc=f"pose {video.name}", unit="frame"), max_persons,
                       tracking=tracking, track_filter=track_filter)
    height, width = frames.shape[1:3]
    name = str(getattr(estimator, "name", type(estimator).__name__))
    layout = getattr(estimator, "layout", None) or getattr(getattr(estimator, "spec", None), "layout", None)
    return PoseVideo(video.stem, posed.keypoints, posed.scores, width, height, fps or DEFAULT_FPS, name,
                     lambda f: frames[f], estimator_head_estimated(name, layout if isinstance(layout, str) else None))


def render_frame(pose: PoseVideo, f: int, low_score: float = LOW_SCORE) -> np.ndarray:
    """Frame ``f`` with its skeletons, under a header naming the video, frame and people found;
    people scored under ``low_score`` are faded and marked "low"."""
    image = pose.frame_reader(f)
    if image.shape[:2] != (pose.height, pose.width):
        raise DrawPosesError(f"{pose.name}: frame {f} is {image.shape[1]}x{image.shape[0]}, "
                             f"expected {pose.width}x{pose.height}")
    present = (pose.points[f, ..., 2] > 0).any(-1)
    slots = np.flatnonzero(present)
    out = image
    if len(slots):
        colours = [SLOT_COLOURS[s % len(SLOT_COLOURS)] for s in slots]
        scores = pose.scores[f, slots]
        faded = [bool(np.isfinite(sc) and sc < low_score) for sc in scores]
        labels = [f"#{s} {sc:.2f}" + (" low" if low else "") for s, sc, low in zip(slots, scores, faded)]
        out = draw_skeletons(image, pose.points[f, slots], colours=colours, labels=labels, faded=faded,
                             head_estimated=pose.head_estimated)
    head_note = "  head top estimated (dashed)" if pose.head_estimated and len(slots) else ""
    return with_header(out, f"{pose.name}  frame {f + 1}/{pose.num_frames}  "
                            f"{len(slots)} person(s)  {pose.estimator}{head_note}")


def draw_pose_video(pose: PoseVideo, *, png_dir: Path | None = None, mp4_path: Path | None = None,
                    every: int = 1, fps: float | None = None, low_score: float = LOW_SCORE) -> dict:
    """Render every ``every``-th frame; write ``png_dir/frame_000000.png``... and/or an MP4.
    Returns what was written and per-video counts."""
    if png_dir is None and mp4_path is None:
        raise DrawPosesError("nothing to write: give a PNG folder and/or an MP4 path")
    if every < 1:
        raise DrawPosesError(f"every must be >= 1, got {every}")
    frames = list(range(0, pose.num_frames, every))
    images = []
    for f in tqdm(frames, desc=f"draw {pose.name}", unit="frame"):
        image = render_frame(pose, f, low_score)
        if png_dir is not None:
            save_png(Path(png_dir) / f"frame_{f:06d}.png", image)
        if mp4_path is not None:
            images.append(image)
    if mp4_path is not None:
        write_mp4(mp4_path, images, fps=fps or pose.fps / every)
    with_people = int((pose.points[frames, ..., 2] > 0).any(-1).any(-1).sum())
    return {"video": pose.name, "frames_drawn": len(frames), "frames_with_person": with_people,
            "png_dir": str(png_dir) if png_dir is not None else None,
            "mp4": str(mp4_path) if mp4_path is not None else None}
