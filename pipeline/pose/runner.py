"""The pose stage: run an estimator over every video of a dataset, one Parquet part per video
(resumable: a crash or Ctrl-C loses only the videos in flight), then merge the parts into one file
plus a per-video table of detection statistics. ``shard=(i, n)`` processes every n-th video so
several machines can split a dataset; ``merge`` joins the parts once all are there. The videos run
in local worker processes (one per GPU for an estimator on the GPU: ``devices``) or as Ray tasks
(``ray``); each writes its own part either way, so the output is the same."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.datasets import get_adapter
from pipeline.datasets.base import Manifest
from pipeline.errors import InputError
from pipeline.io import leftover_temps, name_fits, read_json, read_parquet_metadata, write_json, write_parquet
from pipeline.parallel import RayTasks, gpu_devices, map_videos
from pipeline.report import problem_report
from pipeline.pose import groundtruth, importer
from pipeline.pose.estimators import cached_estimator
from pipeline.pose.schema import build_table, file_metadata, pose_schema, rank_and_limit, rank_by_video
from pipeline.pose.tracking import TRACKING_VERSION, track_and_rank
from pipeline.pose.video_pose import TRACK_COLUMNS, pose_video
from pipeline.video import read_frame_array

VIDEO_COLUMNS = ("video_id", "status", "error", "num_frames", "frames_with_person",
                 "mean_persons", "width", "height")


class PoseStageError(InputError, RuntimeError):
    pass


@dataclass(frozen=True)
class PoseSettings:
    estimator: str
    options: dict
    max_persons: int
    dtype: str
    adapter: str = ""           # the dataset adapter (ground truth comes through it)
    root: str = ""              # the dataset root (ground truth)
    frames_dir: str = ""        # decoded frames (image estimators)
    tracking: bool = True       # image estimators: link people across frames into fixed slots
    track_filter: dict = field(default_factory=dict)   # filter_* options of tracking.track_people

    def fingerprint(self) -> dict:
        out = {"estimator": self.estimator, "options": self.options, "max_persons": self.max_persons,
               "dtype": self.dtype}
        if self.tracking and self.estimator != "groundtruth":
            out["track_filter"] = self.track_filter
        return out


def _failed(video_id: str, error: str) -> dict:
    return {**dict.fromkeys(VIDEO_COLUMNS + TRACK_COLUMNS, 0), "video_id": video_id, "status": "failed", "error": error,
            "mean_persons": 0.0}


def _failure_marker(parts_dir: Path, video_id: str) -> Path:
    return parts_dir / f"{video_id}.failed.json"


def _too_long(parts_dir: Path, video_id: str) -> dict | None:
    """A failed video's stats when its part or failure marker cannot be stored under its id."""
    if name_fits(parts_dir, _failure_marker(parts_dir, video_id).name):
        return None
    return _failed(video_id, f"{video_id[:40]}...: the video id ({len(video_id.encode())} bytes) is too long "
                             "for a file name in the pose parts folder; shorten the file name")


def _part_video(name: str) -> str | None:
    """The video id of a part (``<id>.parquet``) or failure marker (``<id>.failed.json``) name; ""
    for a temporary file an atomic write left (``.<name>.<random>.tmp``), which no video keeps."""
    if name.startswith("."):
        return "" if name.endswith(".tmp") else None
    for suffix in (".failed.json", ".parquet"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return None


def _read_part(part: Path) -> tuple[dict, pa.Table] | None:
    """A part's metadata and its table (without the metadata); None when there is no part or it
    cannot be read back completely (cut short, overwritten, a damaged data page under an intact
    footer): then the video is estimated again, or reported failed by the merge. Every page is
    read: the footer alone would pass a part whose data cannot be merged."""
    try:
        if not part.exists():
            return None
        return read_parquet_metadata(part), pq.read_table(part).replace_schema_metadata(None)
    except (OSError, pa.ArrowException):
        return None


def _lost(job: tuple[dict, dict | None], error: BaseException, *, parts_dir: Path) -> dict:
    """A video whose worker died on every try (Ray): recorded as failed, like any other failure."""
    video_id = job[0]["video_id"]
    stats = _failed(video_id, f"{video_id}: its worker process died on every try "
                              f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
    write_json(_failure_marker(parts_dir, video_id), stats)
    return stats


def uses_gpu(estimator: str, options: dict) -> bool:
    """Whether the estimator runs on a GPU when there is one (mmpose on device auto or cuda)."""
    return estimator == "mmpose" and str(options.get("device", "auto")) in ("auto", "cuda")


def pose_devices(estimator: str, options: dict, *, gpus, workers_per_gpu: int,
                 visible: list[str]) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each local pose worker ([]: CPU workers, ``pose.workers`` of them)."""
    if not uses_gpu(estimator, options) or gpus == 0 or not visible:
        return []
    return gpu_devices(visible, gpus, workers_per_gpu)


def _stats(video_id: str, frames: list, num_frames: int, width: int, height: int, tracking: dict) -> dict:
    counts = [int((k[..., 2] > 0).any(-1).sum()) for _, k, _ in frames]
    return {"video_id": video_id, "status": "ok", "error": "", "num_frames": num_frames,
            "frames_with_person": sum(c > 0 for c in counts),
            "mean_persons": float(sum(counts) / num_frames) if num_frames else 0.0,
            "width": width, "height": height, **dict.fromkeys(TRACK_COLUMNS, 0), **tracking}


def _estimate_groundtruth(row: dict, s: PoseSettings):
    gt = get_adapter(s.adapter).load_groundtruth(Path(s.root), pd.Series(row))
    if gt is None:
        raise PoseStageError(f"dataset adapter {s.adapter!r} ships no ground-truth poses for "
                             f"{row['video_id']}; choose an image estimator in params.yaml (pose.estimator)")
    o = s.options
    kps = groundtruth.degrade(gt, noise_std=o["noise_std"], drop_prob=o["drop_prob"], seed=o["seed"],
                              video_id=row["video_id"])
    kps, scores = rank_by_video(kps, groundtruth.person_scores(kps), s.max_persons)
    frames = [(f, kps[f], scores[f]) for f in range(kps.shape[0])]
    return frames, kps.shape[0], gt.width, gt.height, groundtruth.NAME, groundtruth.VERSION, {}


def _estimate_import(row: dict, decoded: dict | None, s: PoseSettings):
    source = importer.load_source(s.options)
    v = importer.import_video(source, row, decoded, s.root)
    if v.tracked:
        kps, scores = importer.keep_slots(v.keypoints, v.scores, s.max_persons)
        frames = [(f, kps[f], scores[f]) for f in range(v.num_frames)]
    elif s.tracking:
        kps, scores = track_and_rank([(v.keypoints[f], v.scores[f]) for f in range(v.num_frames)], s.max_persons)
        frames = [(f, kps[f], scores[f]) for f in range(v.num_frames)]
    else:
        frames = [(f, *rank_and_limit(v.keypoints[f], v.scores[f], s.max_persons)) for f in range(v.num_frames)]
    return (frames, v.num_frames, v.size[0], v.size[1], source.name, _import_version(source.version, s), {},
            (v.width, v.height))


def _import_version(version: str, s: PoseSettings) -> str:
    return _image_version(version, s) if s.tracking else version


def _estimate_images(row: dict, decoded: dict, s: PoseSettings):
    estimator = cached_estimator(s.estimator, tuple(sorted(s.options.items())), s.max_persons)
    video_dir = Path(s.frames_dir) / row["video_id"]
    frames = (read_frame_array(video_dir, f) for f in range(int(decoded["num_frames"])))
    posed = pose_video(estimator, frames, s.max_persons, tracking=s.tracking, track_filter=s.track_filter)
    frames = [(f, posed.keypoints[f], posed.scores[f]) for f in range(len(posed.keypoints))]
    return (frames, int(decoded["num_frames"]), int(decoded["width"]), int(decoded["height"]),
            estimator.name, _image_version(estimator.version, s), posed.tracking)


def _image_version(version: str, s: PoseSettings) -> str:
    """Tracked and untracked parts differ: the tracker's version joins the estimator's."""
    return f"{version}+track{TRACKING_VERSION}" if s.tracking else version


def _estimator_version(s: PoseSettings) -> str:
    """A part written by another version of the estimator (or of the ground-truth ranking) is redone."""
    if s.estimator == "groundtruth":
        return groundtruth.VERSION
    if s.estimator == "import":
        return _import_version(importer.load_source(s.options).version, s)
    return _image_version(cached_estimator(s.estimator, tuple(sorted(s.options.items())), s.max_persons).version, s)


def _pose_one(job: tuple[dict, dict | None], *, settings: PoseSettings, parts_dir: Path) -> dict:
    row, decoded = job
    video_id = row["video_id"]
    if (too_long := _too_long(parts_dir, video_id)) is not None:
        return too_long
    part = parts_dir / f"{video_id}.parquet"
    fingerprint = {**settings.fingerprint(), "decoded": decoded}
    done = _read_part(part)
    if done is not None:
        meta = done[0]
        if (meta.get("fingerprint") == json.loads(json.dumps(fingerprint))
                and meta.get("estimator_version") == _estimator_version(settings)):
            return meta["stats"]
    for name in (part.name, _failure_marker(parts_dir, video_id).name):   # a worker killed while writing
        for leftover in leftover_temps(parts_dir, name):
            leftover.unlink(missing_ok=True)
    try:
        if settings.estimator == "groundtruth":
            result = _estimate_groundtruth(row, settings)
        elif settings.estimator == "import":
            result = _estimate_import(row, decoded, settings)
        elif decoded is None or decoded.get("status") != "ok":
            raise PoseStageError(f"{video_id}: no decoded frames ({(decoded or {}).get('error') or 'not decoded'})")
        else:
            result = _estimate_images(row, decoded, settings)
    except (PoseStageError, OSError, ValueError) as err:
        stats = _failed(video_id, str(err))
        part.unlink(missing_ok=True)
        write_json(_failure_marker(parts_dir, video_id), stats)  # merge reports it; a re-run retries
        return stats
    frames, num_frames, width, height, name, version, tracking, *pixel_frame = result
    _failure_marker(parts_dir, video_id).unlink(missing_ok=True)
    frames = [(f, k, sc) for f, k, sc in frames if (k[..., 2] > 0).any()]
    # Imported pixels may refer to another frame size than the video's (or be normalised already).
    norm_w, norm_h = pixel_frame[0] if pixel_frame else (width, height)
    table = build_table(video_id, frames, width=norm_w, height=norm_h, dtype=settings.dtype)
    stats = _stats(video_id, frames, num_frames, width, height, tracking)
    write_parquet(part, table, metadata={"fingerprint": fingerprint, "stats": stats,
                                         **file_metadata(name, version, settings.dtype, settings.max_persons)})
    return stats


def run_pose_stage(manifest_path: Path, frames_table_path: Path | None, out_path: Path,
                   videos_path: Path, parts_dir: Path, *, settings: PoseSettings, workers: int,
                   strict: bool, shard: tuple[int, int] = (0, 1), merge: bool = True,
                   devices: list[str] = (), ray: RayTasks | None = None) -> pd.DataFrame | None:
    manifest = Manifest.load(manifest_path)
    decoded = {}
    if frames_table_path is not None and Path(frames_table_path).exists():
        decoded = {r["video_id"]: r for r in pd.read_parquet(frames_table_path).to_dict("records")}
    if settings.estimator not in ("groundtruth", "import") and manifest.pose_only:
        raise PoseStageError(f"{manifest.dataset} is pose-only (no frames): only the groundtruth and "
                             "import estimators can run on it")
    index, count = shard
    rows = manifest.videos.to_dict("records")
    jobs = [(r, decoded.get(r["video_id"])) for i, r in enumerate(rows) if i % count == index]
    parts_dir.mkdir(parents=True, exist_ok=True)
    fn = partial(_pose_one, settings=settings, parts_dir=parts_dir)
    for stats in map_videos(fn, jobs, workers=workers, devices=devices, ray=ray,
                            on_lost=partial(_lost, parts_dir=parts_dir),
                            desc=f"pose {manifest.dataset} ({settings.estimator})"):
        if stats["status"] != "ok" and strict:
            raise PoseStageError(f"{stats['error']}. Fix: repair or remove the video, or set strict: false in "
                                 "params.yaml to record it in the pose table and go on")
    if not merge:
        return None
    return merge_parts(manifest, out_path, videos_path, parts_dir, settings=settings)


def merge_parts(manifest: Manifest, out_path: Path, videos_path: Path, parts_dir: Path, *,
                settings: PoseSettings) -> pd.DataFrame:
    """Join the per-video parts into one file, in manifest order; videos without a part are
    listed as failed in the video table."""
    keep = set(manifest.videos["video_id"])
    for stale in parts_dir.iterdir():   # only parts and failure markers this stage wrote
        video_id = _part_video(stale.name)
        if video_id is not None and video_id not in keep and stale.is_file() and not stale.is_symlink():
            stale.unlink()
    tables, stats = [], []
    meta = file_metadata(settings.estimator, "", settings.dtype, settings.max_persons)
    if settings.estimator == "import":
        left = importer.unmatched(importer.load_source(settings.options), manifest.videos["video_id"])
        meta["import_unmatched"] = left
        if left:
            print(f"pose {manifest.dataset}: {len(left)} videos of the import source match no manifest video "
                  f"(e.g. {', '.join(left[:5])}); listed in the Parquet metadata (import_unmatched)")
    for video_id in manifest.videos["video_id"]:
        if (too_long := _too_long(parts_dir, video_id)) is not None:
            stats.append(too_long)
            continue
        part = parts_dir / f"{video_id}.parquet"
        if not part.exists():
            marker = _failure_marker(parts_dir, video_id)
            stats.append(read_json(marker) if marker.exists() else
                         _failed(video_id, "no pose output (not run yet, or in a shard not merged here)"))
            continue
        done = _read_part(part)
        if done is None:
            stats.append(_failed(video_id, f"{part}: unreadable part (cut short or overwritten); run the pose "
                                           "stage again to estimate this video again"))
            continue
        part_meta, table = done
        meta.update({k: part_meta[k] for k in ("estimator", "estimator_version")})
        stats.append(part_meta["stats"])
        tables.append(table)
    table = pa.concat_tables(tables) if tables else pose_schema(settings.dtype).empty_table()
    write_parquet(out_path, table, metadata=meta)
    videos = pd.DataFrame(stats, columns=list(VIDEO_COLUMNS + TRACK_COLUMNS))
    videos[list(TRACK_COLUMNS)] = videos[list(TRACK_COLUMNS)].fillna(0)   # parts written before these columns
    videos = videos.astype({"num_frames": "int32", "frames_with_person": "int32", "width": "int32",
                            "height": "int32", "mean_persons": "float32",
                            **dict.fromkeys(TRACK_COLUMNS, "int32")})
    write_parquet(videos_path, pa.Table.from_pandas(videos, preserve_index=False), metadata=meta)
    ok = videos["status"] == "ok"
    print(f"pose {manifest.dataset}: {ok.sum()}/{len(videos)} videos ok; frames with a person "
          f"{videos.loc[ok, 'frames_with_person'].sum()}/{videos.loc[ok, 'num_frames'].sum()}; "
          f"mean persons per frame {videos.loc[ok, 'mean_persons'].mean() if ok.any() else 0:.2f}"
          + (f"; tracks filtered as false people {videos['tracks_filtered'].sum()}/{videos['tracks'].sum()} "
             f"({videos['detections_filtered'].sum()} detections), detections over the "
             f"{settings.max_persons}-person limit {videos['detections_over_limit'].sum()}"
             if videos["tracks"].sum() else ""))
    failed = videos[~ok]
    text = problem_report(f"pose {manifest.dataset} FAILED", zip(failed["video_id"], failed["error"]), videos_path)
    if text:
        print(text)
    return videos
