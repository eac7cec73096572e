"""Pose stage speed and storage on real frames of real people (issue #4), and how the stage
scales: batches, option variants, local and Ray executors (issue #17).

    python -m bench.pose_speed [--estimator blazepose] [--frames 60] [--sizes 320x240 640x480] [--workers 1]

What is timed and stored and what each column means: docs/benchmarks/pose_speed.md. Measured
results: docs/benchmarks.md ("Pose stage speed and storage") and docs/cluster.md.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/OpenCV load their thread pools

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import dataclasses  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.datasets.base import Manifest  # noqa: E402
from pipeline.decoding import TABLE_COLUMNS  # noqa: E402
from pipeline.io import read_parquet_metadata, write_parquet  # noqa: E402
from pipeline.keypoints import HEAD_TOP_FROM_NOSE, NUM_KEYPOINTS  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from pipeline.pose import estimators as pose_estimators  # noqa: E402
from pipeline.pose.estimators import IMAGE_BACKENDS, cached_estimator  # noqa: E402
from pipeline.pose import runner as pose_runner  # noqa: E402
from pipeline.pose.runner import PoseSettings, run_pose_stage  # noqa: E402
from pipeline.pose.schema import COORD_COLUMNS, pose_schema  # noqa: E402
from pipeline.video import FRAME_PATTERN, decode_to_frames, read_frame_array  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg")
DATASET = "pose_speed"

# ------------------------------------------------------------------ OpenPose --write_json

OPENPOSE_JSON_VERSION = "1.3"
# The keys of one person, in the order OpenPose's people JSON saver writes them (format version 1.3).
OPENPOSE_PERSON_KEYS = ("person_id", "pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
                        "hand_right_keypoints_2d", "pose_keypoints_3d", "face_keypoints_3d",
                        "hand_left_keypoints_3d", "hand_right_keypoints_3d")


def _cpp_float(value: float) -> str:
    """A float as C++ ``std::ostream << float`` prints it by default: %g with 6 significant digits."""
    return format(float(value), "g")


def openpose_json(people: np.ndarray) -> str:
    """One frame's ``--write_json`` file (not human-readable, as OpenPose writes it): ``people``
    float [P, J, 3] pixel (x, y, confidence), best first; a missing joint (NaN or confidence 0) is
    written 0,0,0. No tracking: person_id -1. Face, hands and 3-D arrays are empty."""
    out = []
    for kps in np.asarray(people, np.float32):
        ok = (kps[:, 2] > 0) & np.isfinite(kps).all(-1)
        kps = np.where(ok[:, None], kps, 0.0)
        body = ",".join(_cpp_float(v) for v in kps.ravel())
        fields = ['"person_id":[-1]', f'"pose_keypoints_2d":[{body}]']
        fields += [f'"{key}":[]' for key in OPENPOSE_PERSON_KEYS[2:]]
        out.append("{" + ",".join(fields) + "}")
    return '{"version":' + OPENPOSE_JSON_VERSION + ',"people":[' + ",".join(out) + "]}"


def to_body25(kps14: np.ndarray) -> np.ndarray:
    """[..., 14, 3] (NaN / confidence 0 when missing) -> OpenPose BODY_25 [..., 25, 3]. The 13 joints
    both layouts have go to their slots (``pipeline.keypoints`` maps them back exactly), the nose
    inverts the head-top rule (head top = nose + 0.6 (nose - neck)), MidHip is the mean of the hips;
    eyes and ears copy the nose and toes and heels the ankle of their side (BODY_25 has them, we do
    not: they stand in so that every number has a realistic text length). Derived joints are missing
    when a source is; their confidence is the smallest of the sources'."""
    k = np.asarray(kps14, np.float32)
    out = np.full(k.shape[:-2] + (25, 3), np.nan, np.float32)
    out[..., 2] = 0.0
    direct = {1: 13, 2: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8, 12: 9, 13: 10, 14: 11}
    for slot, src in direct.items():
        out[..., slot, :] = k[..., src, :]

    def combine(slot, weights):
        src = list(weights)
        w = np.array([weights[s] for s in src], np.float32)
        ok = (k[..., src, 2] > 0).all(-1) & np.isfinite(k[..., src, :2]).all((-1, -2))
        xy = np.einsum("...jc,j->...c", np.nan_to_num(k[..., src, :2]), w)
        out[..., slot, :2] = np.where(ok[..., None], xy, np.nan)
        out[..., slot, 2] = np.where(ok, k[..., src, 2].min(-1), 0.0)

    a = HEAD_TOP_FROM_NOSE
    combine(0, {12: 1.0 / (1.0 + a), 13: a / (1.0 + a)})      # nose
    combine(8, {6: 0.5, 9: 0.5})                               # MidHip
    for slot in (15, 16, 17, 18):                              # REye, LEye, REar, LEar
        out[..., slot, :] = out[..., 0, :]
    for slot in (19, 20, 21):                                  # LBigToe, LSmallToe, LHeel
        out[..., slot, :] = k[..., 11, :]
    for slot in (22, 23, 24):                                  # RBigToe, RSmallToe, RHeel
        out[..., slot, :] = k[..., 8, :]
    return out


# ------------------------------------------------------------------ frames


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m or int(m[1]) < 8 or int(m[2]) < 8:
        raise argparse.ArgumentTypeError(f"size {text!r}: want WIDTHxHEIGHT, e.g. 320x240")
    return int(m[1]), int(m[2])


def fit_exact(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height (aspect kept) and cut the centre: exactly width x height."""
    if image.size == (width, height):
        return image
    scale = max(width / image.width, height / image.height)
    w, h = max(width, round(image.width * scale)), max(height, round(image.height * scale))
    image = image.resize((w, h), Image.BICUBIC)
    x0, y0 = (w - width) // 2, (h - height) // 2
    return image.crop((x0, y0, x0 + width, y0 + height))


def split_frames(total: int, available: list[int]) -> list[int]:
    """How many frames to take from each clip: ``total`` split as evenly as the clips allow."""
    take = [0] * len(available)
    left = total
    while left > 0:
        open_ = [i for i, n in enumerate(available) if take[i] < n]
        if not open_:
            break
        share = max(1, left // len(open_))
        for i in open_:
            add = min(share, available[i] - take[i], left)
            take[i] += add
            left -= add
            if left == 0:
                break
    return take


def spaced(count: int, available: int) -> list[int]:
    """``count`` frame indexes evenly spaced over ``available`` frames."""
    if count <= 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, available - 1, count)})


def video_id(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", path.stem)


def select_clips(clips_dir: Path, sizes: list[tuple[int, int]], max_clips: int) -> list[tuple[Path, int, int]]:
    """(clip, width, height): the clips whose aspect matches every size first, then the others."""
    import ffmpeg
    found = []
    for path in sorted(clips_dir.iterdir()):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        try:
            stream = ffmpeg.probe(str(path), select_streams="v:0")["streams"][0]
        except (ffmpeg.Error, IndexError, KeyError):
            continue
        w, h = int(stream["width"]), int(stream["height"])
        match = all(w * sh == h * sw for sw, sh in sizes)
        found.append((not match, w * h, path.name, (path, w, h)))
    if not found:
        raise SystemExit(f"{clips_dir}: no readable video ({'/'.join(VIDEO_SUFFIXES)})")
    return [item for *_, item in sorted(found)[:max_clips]]


@dataclass
class FrameSet:
    size: tuple[int, int]
    dir: Path
    manifest: Path
    frames_table: Path
    frames_dir: Path
    videos: list[tuple[str, int]]      # (video id, frames)
    refit: list[str]                   # clips that needed a PIL resize/crop

    @property
    def num_frames(self) -> int:
        return sum(n for _, n in self.videos)


def prepare_frames(clips: list[Path], size: tuple[int, int], total: int, work: Path, jpeg_quality: int,
                   plan: list[int] | None = None, consecutive: bool = False) -> tuple[FrameSet, list[int]]:
    """Decode the clips at ``size``, keep ``plan[i]`` evenly spaced frames of clip i (``total`` split
    between them when no plan), write the manifest and decode table of a tiny dataset."""
    width, height = size
    base = work / f"{width}x{height}"
    frames_dir = base / "frames"
    scratch = base / "scratch"
    decoded = []
    for clip in clips:
        tmp = scratch / video_id(clip)
        tmp.mkdir(parents=True)
        info = decode_to_frames(clip, tmp, short_side=min(width, height), jpeg_quality=jpeg_quality)
        decoded.append((clip, tmp, info))
    if plan is None:
        plan = split_frames(total, [info.num_frames for *_, info in decoded])
    rows, videos, refit = [], [], []
    for (clip, tmp, info), count in zip(decoded, plan):
        count = min(count, info.num_frames)
        first = (info.num_frames - count) // 2
        picks = list(range(first, first + count)) if consecutive else spaced(count, info.num_frames)
        if not picks:
            continue
        vid = video_id(clip)
        out = frames_dir / vid
        out.mkdir(parents=True)
        exact = (info.width, info.height) == (width, height)
        if not exact:
            refit.append(f"{clip.name} ({info.width}x{info.height})")
        for new, old in enumerate(picks):
            src, dst = tmp / (FRAME_PATTERN % old), out / (FRAME_PATTERN % new)
            if exact:
                os.replace(src, dst)
            else:
                with Image.open(src) as img:
                    fit_exact(img.convert("RGB"), width, height).save(dst, quality=95)
        videos.append((vid, len(picks)))
        rows.append({"video_id": vid, "path": clip.name, "status": "ok", "error": "", "warning": "",
                     "num_frames": len(picks), "fps": info.fps, "width": width, "height": height})
    shutil.rmtree(scratch)
    manifest = Manifest(DATASET, ["clip"], ["1"], pd.DataFrame({
        "video_id": [r["video_id"] for r in rows], "path": [r["path"] for r in rows], "label_id": 0,
        "label_name": "clip", "group": "", "split_1": "test"}))
    manifest.save(base / "manifest.parquet")
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype(
        {"num_frames": "int32", "width": "int32", "height": "int32", "fps": "float32"})
    write_parquet(base / "frames.parquet", pa.Table.from_pandas(table, preserve_index=False))
    return FrameSet(size, base, base / "manifest.parquet", base / "frames.parquet", frames_dir, videos,
                    refit), plan


# ------------------------------------------------------------------ storage


def to_float16(table: pa.Table) -> pa.Table:
    """The stage's float32 table as its ``dtype: float16`` would store it (numpy cast, as build_table)."""
    schema = pose_schema("float16")
    columns = {name: table[name] for name in ("video_id", "frame", "person", "score")}
    for name in COORD_COLUMNS:
        flat = table[name].combine_chunks().flatten().to_numpy(zero_copy_only=False).astype(np.float16)
        columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float16()), NUM_KEYPOINTS)
    return pa.table(columns, schema=schema)


def frame_people(table: pa.Table, videos: list[tuple[str, int]], width: int, height: int):
    """Yield (video id, frame, people [P, 14, 3] in pixels, best first) for every frame, empty too."""
    df = table.select(["video_id", "frame", "person"]).to_pandas()
    coords = np.stack([table[c].combine_chunks().flatten().to_numpy(zero_copy_only=False)
                       .astype(np.float32).reshape(-1, NUM_KEYPOINTS) for c in COORD_COLUMNS], -1)
    coords[..., 0] *= width
    coords[..., 1] *= height
    groups = df.groupby(["video_id", "frame"]).indices
    for vid, count in videos:
        for frame in range(count):
            rows = groups.get((vid, frame), np.zeros(0, int))
            rows = rows[np.argsort(df["person"].to_numpy()[rows], kind="stable")]
            yield vid, frame, coords[rows]


def _usage(paths) -> tuple[int, int]:
    size = blocks = 0
    for p in paths:
        st = os.stat(p)
        size += st.st_size
        blocks += st.st_blocks * 512
    return size, blocks


def storage(fs: FrameSet, poses: Path, parts: Path) -> list[dict]:
    n = fs.num_frames
    table = pq.read_table(poses)
    meta = read_parquet_metadata(poses)
    out_dir = fs.dir / "storage"
    out_dir.mkdir()
    f16 = out_dir / "poses.float16.parquet"
    write_parquet(f16, to_float16(table).replace_schema_metadata(None), metadata={**meta, "dtype": "float16"})
    empty = {}
    for dtype in ("float32", "float16"):
        empty[dtype] = out_dir / f"empty.{dtype}.parquet"
        write_parquet(empty[dtype], pose_schema(dtype).empty_table(), metadata={**meta, "dtype": dtype})
    json_dirs = {"body25": out_dir / "json_body25", "aic14": out_dir / "json_aic14"}
    for d in json_dirs.values():
        d.mkdir()
    width, height = fs.size
    for vid, frame, people in frame_people(table, fs.videos, width, height):
        name = f"{vid}_{frame:012d}_keypoints.json"   # OpenPose names video frames so
        (json_dirs["aic14"] / name).write_text(openpose_json(people))
        (json_dirs["body25"] / name).write_text(openpose_json(to_body25(people)))

    rows = []

    def add(fmt, paths, fixed=0):
        size, blocks = _usage(paths)
        rows.append({"format": fmt, "files": len(paths), "bytes": size - fixed, "disk_bytes": blocks,
                     "bytes_per_frame": (size - fixed) / n, "disk_per_frame": blocks / n if not fixed else None})

    add("Parquet float32 zstd (merged file)", [poses])
    add("Parquet float32, data only", [poses], fixed=_usage([empty["float32"]])[0])
    add("Parquet float16 zstd (merged file)", [f16])
    add("Parquet float16, data only", [f16], fixed=_usage([empty["float16"]])[0])
    add("Parquet float32 parts (per video, kept)", sorted(parts.glob("*.parquet")))
    add("OpenPose JSON per frame, BODY_25 (25x3)", sorted(json_dirs["body25"].iterdir()))
    add("OpenPose JSON per frame, 14 kp (14x3)", sorted(json_dirs["aic14"].iterdir()))
    ref = rows[0]["bytes_per_frame"]
    for r in rows:
        r["ratio_vs_parquet"] = r["bytes_per_frame"] / ref
    return rows


# ------------------------------------------------------------------ speed


def _clear_estimator_cache() -> None:
    """Forget the estimators built in this process (whichever function of estimators.py caches)."""
    for fn in vars(pose_estimators).values():
        if callable(getattr(fn, "cache_clear", None)):
            fn.cache_clear()


class _TimedEstimator:
    """Sums the time spent inside the estimator during a stage run (same name and version)."""

    def __init__(self, estimator):
        self.estimator, self.name, self.version, self.seconds = estimator, estimator.name, estimator.version, 0.0
        if hasattr(estimator, "estimate_frames"):
            self.estimate_frames = self._estimate_frames

    def _estimate_frames(self, frames):
        found = iter(self.estimator.estimate_frames(frames))
        while True:
            t0 = time.perf_counter()
            try:
                item = next(found)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - t0
            yield item

    def __call__(self, frame):
        t0 = time.perf_counter()
        try:
            return self.estimator(frame)
        finally:
            self.seconds += time.perf_counter() - t0


def _stage(fs: FrameSet, settings: PoseSettings, workers: int, tag: str):
    """Run the stage into a fresh parts folder: (wall s, seconds inside the estimator or None, video
    table, merged file, parts folder). With 1 worker the stage runs here and the estimator it gets
    from ``cached_estimator`` is wrapped to time it, so the overhead is measured within one run."""
    out = fs.dir / f"poses.{tag}.parquet"
    parts = fs.dir / f"poses.{tag}.parts"
    shutil.rmtree(parts, ignore_errors=True)    # fresh: nothing resumes
    timed = None
    patch = contextlib.nullcontext()
    if workers == 1:
        timed = {}

        def timed_estimator(*key):
            name = repr(key)                     # options may hold unhashable values
            if name not in timed:
                timed[name] = _TimedEstimator(cached_estimator(*key))
            return timed[name]
        patch = mock.patch.object(pose_runner, "cached_estimator", timed_estimator)
    buf = io.StringIO()
    t0 = time.perf_counter()
    with patch, contextlib.redirect_stdout(buf):
        videos = run_pose_stage(fs.manifest, fs.frames_table, out, fs.dir / f"poses.{tag}.videos.parquet", parts,
                                settings=settings, workers=workers, strict=True)
    wall = time.perf_counter() - t0
    inside = None if timed is None else sum(t.seconds for t in timed.values())
    return wall, inside, videos, out, parts


# ------------------------------------------------------------------ scale


def _same_people(a, b) -> tuple[int, int]:
    """(keypoints within 0.5 px of each other, keypoints compared) over two lists of Detections."""
    close = total = 0
    for x, y in zip(a, b):
        if x.keypoints.shape != y.keypoints.shape:
            total += max(x.keypoints.size, y.keypoints.size) // 3
            continue
        d = np.abs(x.keypoints[..., :2] - y.keypoints[..., :2]).max(-1)
        both_missing = np.isnan(x.keypoints[..., 0]) & np.isnan(y.keypoints[..., 0])
        close += int(((d <= 0.5) | both_missing).sum())
        total += d.size
    return close, total


def batch_speed(estimator, frames: list[np.ndarray], batch_sizes: list[int], repeats: int) -> list[dict]:
    """Frames/s frame by frame against estimate_frames at each batch size (and MMPose's inferencer)."""
    runs = {"frame by frame": []}
    outputs = {}
    inferencer = _mmpose_inferencer(estimator)
    for _ in range(repeats):
        t0 = time.perf_counter()
        outputs["frame by frame"] = [estimator(f) for f in frames]
        runs["frame by frame"].append(time.perf_counter() - t0)
        for b in batch_sizes:
            estimator.batch_size = b
            t0 = time.perf_counter()
            outputs[f"batch {b}"] = list(estimator.estimate_frames(iter(frames)))
            runs.setdefault(f"batch {b}", []).append(time.perf_counter() - t0)
        if inferencer is not None:
            t0 = time.perf_counter()
            for f in frames:
                next(inferencer(np.ascontiguousarray(f[..., ::-1]), return_datasamples=True))
            runs.setdefault("MMPose Pose2DInferencer", []).append(time.perf_counter() - t0)
    base = min(runs["frame by frame"])
    rows = []
    for name, times in runs.items():
        close, total = _same_people(outputs.get(name, outputs["frame by frame"]), outputs["frame by frame"])
        rows.append({"run": name, "fps": len(frames) / min(times), "speedup": base / min(times),
                     "runs_s": times, "persons": sum(len(d.scores) for d in outputs.get(name, [])),
                     "same_keypoints": close / total if total and name in outputs else None})
    return rows


def _mmpose_inferencer(estimator):
    """MMPose's own top-down inferencer for the same model and weights (whole-image boxes), or None."""
    if getattr(estimator, "name", "") != "mmpose" or getattr(estimator, "mode", "") != "topdown":
        return None
    try:
        from mmpose.apis.inferencers import Pose2DInferencer
        with contextlib.redirect_stdout(io.StringIO()):
            inferencer = Pose2DInferencer(model=str(estimator.config_path), weights=None,
                                          device=str(estimator.device), det_model="whole_image",
                                          show_progress=False)
        inferencer.model.load_state_dict(estimator.model.state_dict())
        return inferencer
    except Exception as err:                     # an mmpose that cannot build it: said, not fatal
        print(f"MMPose's Pose2DInferencer not compared: {type(err).__name__}: {err}")
        return None


def variant_speed(fs: FrameSet, settings: PoseSettings, variants: list[str], repeats: int) -> list[dict]:
    """The stage with the params options and with each variant on top, alternated: fps and people."""
    import yaml
    runs = [("params.yaml", settings.options)]
    for text in variants:
        extra = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in text.split(","))}
        runs.append((text, {**settings.options, **extra}))
    times: dict[str, list[float]] = {}
    found = {}
    for _ in range(repeats):
        for name, options in runs:
            _clear_estimator_cache()
            variant = dataclasses.replace(settings, options=options)
            wall, _, videos, *_ = _stage(fs, variant, 1, "variant")
            times.setdefault(name, []).append(wall)
            found[name] = videos
    rows = []
    for name, _ in runs:
        v, wall = found[name], min(times[name])
        rows.append({"variant": name, "stage_fps": fs.num_frames / wall, "runs_s": times[name],
                     "speedup": min(times["params.yaml"]) / wall,
                     "persons_per_frame": float((v["mean_persons"] * v["num_frames"]).sum() / fs.num_frames),
                     "frames_with_person": int(v["frames_with_person"].sum())})
    return rows


def executor_speed(fs: FrameSet, settings: PoseSettings, workers: int, executors: list[str]) -> list[dict]:
    """The whole stage with local workers and as Ray tasks on the same frames: wall times, and
    whether the merged poses are byte-identical."""
    rows = []
    for executor in executors:
        _clear_estimator_cache()
        out = fs.dir / f"poses.{executor}.parquet"
        parts = fs.dir / f"poses.{executor}.parts"
        shutil.rmtree(parts, ignore_errors=True)
        start_s, ray_tasks = 0.0, None
        if executor == "ray":
            from pipeline.parallel import RayTasks, import_ray
            ray = import_ray()
            t0 = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning", log_to_driver=False)
            start_s, ray_tasks = time.perf_counter() - t0, RayTasks(num_cpus=1)
        try:
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                run_pose_stage(fs.manifest, fs.frames_table, out, fs.dir / f"videos.{executor}.parquet", parts,
                               settings=settings, workers=workers, strict=True, ray=ray_tasks)
            wall = time.perf_counter() - t0
        finally:
            if executor == "ray":
                ray.shutdown()
        rows.append({"executor": executor, "start_s": start_s, "stage_s": wall,
                     "fps": fs.num_frames / wall, "poses": out})
    first = rows[0]["poses"].read_bytes()
    for r in rows:
        r["identical"] = r["poses"].read_bytes() == first
        r["poses"] = str(r["poses"])
    return rows


def _profile_report(fs: FrameSet, settings: PoseSettings, top: int) -> dict:
    prof = cProfile.Profile()
    prof.enable()
    wall, *_ = _stage(fs, settings, 1, "profile")
    prof.disable()
    st = pstats.Stats(prof)
    # Inclusive time of the pieces of the stage (cProfile's own overhead inflates the small ones).
    pieces = {
        "estimator (__call__)": ("pipeline/pose/", "__call__", "blazepose.py", "openpose.py"),
        "JPEG read + RGB (read_frame_array)": ("pipeline/video.py", "read_frame_array"),
        "rank_and_limit": ("pipeline/pose/schema.py", "rank_and_limit"),
        "build_table": ("pipeline/pose/schema.py", "build_table"),
        "write_parquet (parts + merged)": ("pipeline/io.py", "write_parquet"),
        "read_parquet_metadata (resume check, merge)": ("pipeline/io.py", "read_parquet_metadata"),
        "merge_parts": ("pipeline/pose/runner.py", "merge_parts"),
        "Manifest.load + decode table": ("pipeline/datasets/base.py", "load"),
    }
    totals = {}
    for label, (file_part, func, *files) in pieces.items():
        t = 0.0
        for (filename, _, name), (_, _, _, ct, _) in st.stats.items():
            if name == func and file_part in filename and (not files or any(filename.endswith(f) for f in files)):
                t += ct
        totals[label] = t
    lines = io.StringIO()
    st.stream = lines
    st.sort_stats("tottime").print_stats(top)
    return {"wall_s": wall, "pieces_s": totals, "top": lines.getvalue()}


# ------------------------------------------------------------------ main: parse, build, time, report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pose_speed",
        description="Pose stage speed (bare estimator against the whole stage) and storage (Parquet "
                    "against OpenPose JSON) on real frames of real people; with --batch-sizes, --variants "
                    "and --executors, how it scales. What is measured and how: docs/benchmarks/pose_speed.md.")
    shared = Path(os.environ.get("PARNET_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--estimator", default="blazepose", choices=IMAGE_BACKENDS,
                        help="the backend, with params.yaml's pose.<estimator> options")
    parser.add_argument("--frames", type=int, default=60, help="frames per size, over all clips")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(320, 240), (640, 480)],
                        metavar="WxH", help="frame sizes (default: 320x240 640x480)")
    parser.add_argument("--workers", type=int, default=1, help="the stage's worker processes")
    parser.add_argument("--repeats", type=int, default=2,
                        help="time bare and stage this many times, alternately; report the fastest of each")
    parser.add_argument("--clips", type=Path, default=shared / "clips",
                        help=f"a folder of video clips (default: {shared / 'clips'})")
    parser.add_argument("--max-clips", type=int, default=5, help="use at most this many clips")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="profile one more stage run (1 worker) and print the K costliest functions")
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="override an option of pose.<estimator> (the value is YAML)")
    parser.add_argument("--random-weights", action="store_true",
                        help="mmpose: no checkpoint, random weights on the CPU (speed does not depend on them)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[],
                        help="a batching backend (mmpose) at these batch sizes against frame by frame")
    parser.add_argument("--consecutive", action="store_true",
                        help="consecutive frames from the middle of each clip (a video, for tracking) "
                             "instead of evenly spaced ones")
    parser.add_argument("--variants", nargs="+", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="the stage with these options on top of params.yaml's, side by side")
    parser.add_argument("--executors", nargs="+", default=[], choices=["local", "ray"],
                        help="the stage with local workers and as Ray tasks, wall time side by side")
    args = parser.parse_args(argv)
    if args.frames < 2 or args.repeats < 1 or args.workers < 1:
        parser.error("--frames must be at least 2, --repeats and --workers at least 1")
    if args.profile and args.workers != 1:
        parser.error("--profile needs --workers 1 (cProfile sees only this process)")
    return args


@dataclass
class Setup:
    """The estimator under test, built once, and the settings of params.yaml it was built with."""
    estimator: object
    options: dict
    max_persons: int
    jpeg_quality: int
    build_s: float                     # construction time, in neither fps column


def build_estimators(args: argparse.Namespace) -> Setup:
    """One thread per process as the pipeline's workers run, then the estimator of params.yaml's
    pose.<estimator> options (with --option and --random-weights on top), built and timed once."""
    from pipeline.parallel import init_worker
    init_worker()                                # one torch thread, as the pipeline's workers
    import cv2
    cv2.setNumThreads(1)
    import yaml
    params = load_params(ROOT / "params.yaml")
    section = getattr(params.pose, args.estimator)
    options = dict(section) if isinstance(section, dict) else dict(vars(section))
    for item in args.option:
        key, _, value = item.partition("=")
        options[key] = yaml.safe_load(value)
    if args.random_weights:
        options.update(checkpoint=None, random_weights=True, device="cpu")
        if args.estimator == "mmpose":
            from bench.fakes import mmpose_stubs
            added = mmpose_stubs.install()
            if added:
                print(f"mmpose imported with the test stand-ins for {', '.join(added)} (bench/fakes/mmpose_stubs.py)")
    max_persons = params.pose.max_persons
    _clear_estimator_cache()
    t0 = time.perf_counter()
    try:
        estimator = cached_estimator(args.estimator, tuple(sorted(options.items())), max_persons)
    except Exception as err:  # the backend's own message says what is missing
        raise SystemExit(f"bench.pose_speed: cannot build the {args.estimator} estimator "
                         f"(pose.{args.estimator} in params.yaml): {err}") from None
    return Setup(estimator, options, max_persons, params.decode.jpeg_quality, time.perf_counter() - t0)


def time_sizes(args: argparse.Namespace, setup: Setup, clips: list[Path], work: Path) -> dict:
    """Speed and storage at every size; the scale runs (batches, variants, executors) on the
    frames of the first size; a profile per size with --profile."""
    results = {"estimator": args.estimator, "options": setup.options, "max_persons": setup.max_persons,
               "estimator_version": setup.estimator.version, "workers": args.workers,
               "construction_s": setup.build_s, "clips": [p.name for p in clips], "speed": [], "storage": {},
               "profile": {}}
    plan = None
    for size in args.sizes:
        fs, plan = prepare_frames(clips, size, args.frames, work, setup.jpeg_quality, plan,
                                  consecutive=args.consecutive)
        frames = [read_frame_array(fs.frames_dir / vid, i) for vid, n in fs.videos for i in range(n)]
        setup.estimator(frames[0])               # warm-up, not timed
        settings = PoseSettings(estimator=args.estimator, options=setup.options, max_persons=setup.max_persons,
                                dtype="float32", frames_dir=str(fs.frames_dir))
        row, poses, parts = time_size(args, setup, fs, frames, settings)
        results["speed"].append(row)
        results["storage"][row["size"]] = storage(fs, poses, parts)
        if args.profile:
            results["profile"][row["size"]] = _profile_report(fs, settings, args.profile)
        if size == args.sizes[0]:
            results.update(scale_runs(args, setup, fs, frames, settings, row["size"]))
    return results


def time_size(args: argparse.Namespace, setup: Setup, fs: FrameSet, frames: list[np.ndarray],
              settings: PoseSettings) -> tuple[dict, Path, Path]:
    """The bare estimator and the whole stage on the frames of one size, alternated --repeats
    times, the fastest of each: (speed row, the stage's merged poses, its parts folder)."""
    bare_runs, stage_runs = [], []
    for _ in range(args.repeats):                # alternated, so a busy spell hits both alike
        bare_s, persons = 0.0, 0
        for frame in frames:
            t0 = time.perf_counter()
            det = setup.estimator(frame)
            bare_s += time.perf_counter() - t0
            persons += min(len(det.scores), setup.max_persons)
        bare_runs.append(bare_s)
        if args.workers > 1:
            _clear_estimator_cache()             # forked workers build their own, as in dvc repro
        stage_s, inside_s, videos, poses, parts = _stage(fs, settings, args.workers, "stage")
        stage_runs.append((stage_s, inside_s))
    bare_s = min(bare_runs)
    stage_s, inside_s = min(stage_runs, key=lambda r: r[0])
    n = len(frames)
    stage_persons = int(round((videos["mean_persons"] * videos["num_frames"]).sum()))
    row = {"size": f"{fs.size[0]}x{fs.size[1]}", "frames": n, "bare_s": bare_s, "bare_fps": n / bare_s,
           "stage_s": stage_s, "stage_fps": n / stage_s, "ratio": (n / bare_s) / (n / stage_s),
           "bare_runs_s": bare_runs, "stage_runs_s": [w for w, _ in stage_runs],
           "estimator_in_stage_s": inside_s,
           "overhead_ms_per_frame": None if inside_s is None else 1000 * (stage_s - inside_s) / n,
           "ratio_within_run": None if inside_s is None else stage_s / inside_s,
           "persons_per_frame": stage_persons / n, "bare_persons_per_frame": persons / n,
           "frames_with_person": int(videos["frames_with_person"].sum()), "refit": fs.refit}
    return row, poses, parts


def scale_runs(args: argparse.Namespace, setup: Setup, fs: FrameSet, frames: list[np.ndarray],
               settings: PoseSettings, size: str) -> dict:
    """--batch-sizes, --variants and --executors on one size's frames: their results entries."""
    out, n = {}, len(frames)
    if args.batch_sizes:
        if not hasattr(setup.estimator, "estimate_frames"):
            raise SystemExit(f"--batch-sizes: the {args.estimator} backend does not batch")
        out["batches"] = {"size": size, "frames": n,
                          "rows": batch_speed(setup.estimator, frames, args.batch_sizes, args.repeats)}
    if args.variants:
        out["variants"] = {"size": size, "frames": n,
                           "rows": variant_speed(fs, settings, args.variants, args.repeats)}
    if args.executors:
        out["executors"] = {"size": size, "frames": n, "workers": args.workers,
                            "rows": executor_speed(fs, settings, args.workers, args.executors)}
    return out


def print_header(args: argparse.Namespace, setup: Setup, clips: list[tuple[Path, int, int]]) -> None:
    print(f"pose speed: {args.estimator} {setup.options}, max_persons {setup.max_persons}, version "
          f"{setup.estimator.version}; {args.workers} worker(s), 1 thread each")
    print(f"frames: {args.frames} per size from {len(clips)} clip(s) in {args.clips}: "
          + ", ".join(f"{p.name} ({w}x{h})" for p, w, h in clips))
    print(f"timing: fastest of {args.repeats} alternated runs of each; estimator construction: "
          f"{setup.build_s:.2f} s, once (in neither fps column"
          f"{'' if args.workers == 1 else '; each worker process builds its own inside the stage time'})")


def print_speed(results: dict, workers: int) -> None:
    per_core, within = workers > 1, workers == 1
    print()
    print(f"{'size':<9} {'frames':>6} {'bare fps':>9} {'stage fps':>10} {'ratio':>6}"
          + (f" {'stage fps/worker':>16}" if per_core else "")
          + (f" {'overhead ms/frame':>17} {'ratio in-run':>12}" if within else "")
          + f" {'persons/frame':>13} {'with person':>11}")
    for r in results["speed"]:
        print(f"{r['size']:<9} {r['frames']:>6} {r['bare_fps']:>9.2f} {r['stage_fps']:>10.2f} {r['ratio']:>6.2f}"
              + (f" {r['stage_fps'] / workers:>16.2f}" if per_core else "")
              + (f" {r['overhead_ms_per_frame']:>17.2f} {r['ratio_within_run']:>12.3f}" if within else "")
              + f" {r['persons_per_frame']:>13.2f} {r['frames_with_person']:>6}/{r['frames']:<4}")
        if r["refit"]:
            print(f"  (resized/cropped with PIL to {r['size']}: {', '.join(r['refit'])})")
        if round(r["persons_per_frame"] * r["frames"]) != round(r["bare_persons_per_frame"] * r["frames"]):
            print(f"  note: the bare run found {r['bare_persons_per_frame']:.2f} persons/frame, the stage "
                  f"{r['persons_per_frame']:.2f}")
    if within:
        print("ratio = bare fps / stage fps (separate runs: machine noise included); overhead and ratio in-run: "
              "stage wall time minus / over the time inside the estimator during the same stage run")


def print_storage(results: dict) -> None:
    for size, rows in results["storage"].items():
        print()
        print(f"storage, {size} ({next(r['frames'] for r in results['speed'] if r['size'] == size)} frames, "
              f"every frame counted):")
        print(f"{'format':<42} {'files':>5} {'bytes/frame':>11} {'disk/frame':>10} {'ratio vs Parquet':>16}")
        for r in rows:
            disk = f"{r['disk_per_frame']:10.0f}" if r["disk_per_frame"] is not None else f"{'':>10}"
            print(f"{r['format']:<42} {r['files']:>5} {r['bytes_per_frame']:>11.1f} {disk} "
                  f"{r['ratio_vs_parquet']:>16.2f}")


def print_scale(results: dict, repeats: int, num_clips: int) -> None:
    if "batches" in results:
        b = results["batches"]
        print()
        print(f"batched inference, {b['size']}, {b['frames']} frames, {results['options'].get('boxes', '')} boxes "
              f"(fastest of {repeats}; same keypoints: within 0.5 px of frame by frame):")
        print(f"{'run':<26} {'frames/s':>9} {'x frame by frame':>16} {'persons':>8} {'same keypoints':>14}")
        for r in b["rows"]:
            same = "" if r["same_keypoints"] is None else f"{100 * r['same_keypoints']:.1f} %"
            persons = r["persons"] if r["run"] != "MMPose Pose2DInferencer" else ""
            print(f"{r['run']:<26} {r['fps']:>9.2f} {r['speedup']:>16.2f} {persons:>8} {same:>14}")
    if "variants" in results:
        v = results["variants"]
        print()
        print(f"variants, {v['size']}, {v['frames']} frames, the whole stage, 1 worker (fastest of {repeats}):")
        print(f"{'options':<34} {'stage fps':>9} {'x params':>8} {'persons/frame':>13} {'with person':>11}")
        for r in v["rows"]:
            print(f"{r['variant']:<34} {r['stage_fps']:>9.2f} {r['speedup']:>8.2f} {r['persons_per_frame']:>13.2f} "
                  f"{r['frames_with_person']:>6}/{v['frames']:<4}")
    if "executors" in results:
        e = results["executors"]
        print()
        print(f"executors, {e['size']}, {e['frames']} frames in {num_clips} videos, {e['workers']} worker(s) / "
              "Ray CPUs:")
        print(f"{'executor':<9} {'start s':>8} {'stage s':>8} {'frames/s':>9} {'same bytes as first':>19}")
        for r in e["rows"]:
            print(f"{r['executor']:<9} {r['start_s']:>8.2f} {r['stage_s']:>8.2f} {r['fps']:>9.2f} "
                  f"{str(r['identical']):>19}")


def print_profiles(results: dict) -> None:
    for size, prof in results["profile"].items():
        print()
        row = next(r for r in results["speed"] if r["size"] == size)
        print(f"profile of the stage, {size}: {prof['wall_s']:.2f} s under cProfile "
              f"({row['stage_s']:.2f} s without); inclusive time of its pieces:")
        for label, t in prof["pieces_s"].items():
            print(f"  {label:<46} {t:7.3f} s  {100 * t / prof['wall_s']:5.1f} %")
        print(prof["top"].rstrip())


def report(results: dict, args: argparse.Namespace) -> None:
    """The tables, then the results as JSON in --out (without the profiles' text)."""
    print_speed(results, args.workers)
    print_storage(results)
    print_scale(results, args.repeats, len(results["clips"]))
    print_profiles(results)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for prof in results["profile"].values():
            prof.pop("top", None)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.out}")


def main(argv=None):
    args = parse_args(argv)
    setup = build_estimators(args)
    clips = select_clips(args.clips, args.sizes, args.max_clips)
    print_header(args, setup, clips)
    work = args.keep
    if work is not None:
        work.mkdir(parents=True, exist_ok=False)
    else:
        work = Path(tempfile.mkdtemp(prefix="pose_speed."))
    try:
        results = time_sizes(args, setup, [p for p, _, _ in clips], work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report(results, args)


if __name__ == "__main__":
    main()
