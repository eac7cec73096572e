"""The decode stage: every video of a manifest into a folder of JPEG frames, resumable per video,
plus a table of what was decoded (frame counts from the decoder, fps, size, status). A manifest of
segments (rows with frame_start/frame_end) gets each segment's frames only, from frame 0 on."""
from __future__ import annotations

import hashlib
import shutil
import zlib
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa

from pipeline.datasets.base import Manifest
from pipeline.errors import DiskFull, InputError, full_disk_message
from pipeline.io import atomic_dir, exclusive, name_fits, read_json, write_json, write_parquet
from pipeline.parallel import RayTasks, map_videos
from pipeline.report import problem_report
from pipeline.video import FRAME_PATTERN, DecodeError, decode_to_frames

META_FILE = "meta.json"
# Frames decoded by an older decoder are decoded again, not resumed: 2 resamples variable-rate
# videos to a constant rate and checks the frame count against the container's.
DECODER_VERSION = 2
TABLE_COLUMNS = ("video_id", "path", "status", "error", "warning", "num_frames", "fps", "width", "height")


_FULL_DISK = "No space left on device"


@dataclass(frozen=True)
class DecodeSettings:
    short_side: int
    fps: float | None
    jpeg_quality: int


class StrictModeError(InputError, RuntimeError):
    """strict: true and a video failed."""


def _source_stamp(path: Path) -> list:
    """Size and content digest of the input (a video file, or a folder of frames): frames decoded
    from an older version of a video (a regenerated dataset, a replaced file) are decoded again,
    not resumed. Content, not modification time, so that the frames folder (this stamp is in its
    meta.json) is byte-identical wherever the same videos are decoded: DVC hashes it."""
    try:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file())
            return [sum(p.stat().st_size for p in files), _digest(files)]
        return [path.stat().st_size, _digest([path])]
    except OSError:
        return []


def _digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def segment_ranges(videos: pd.DataFrame) -> list[tuple[int, int] | None]:
    """Per row, the native frame range to decode: (frame_start, frame_end) for a manifest of
    segments (KTH's unit: segment), so each segment's frames are decoded once, not the whole video
    once per segment; None for whole videos (or an open end, -1)."""
    if "frame_start" not in videos or "frame_end" not in videos:
        return [None] * len(videos)
    return [(int(a), int(b)) if b is not None and int(b) > int(a) >= 0 else None
            for a, b in zip(videos["frame_start"], videos["frame_end"])]


def _decode_one(job: tuple, *, root: Path, frames_dir: Path, settings: DecodeSettings, strict: bool) -> dict:
    """One video's row of the table. A warning (e.g. a truncated file) is kept beside status ok,
    or makes the video failed under ``strict``. A video whose id is too long for a folder name fails."""
    video_id, rel_path, frame_range = job
    row = {"video_id": video_id, "path": rel_path, "status": "ok", "error": "", "warning": "", "num_frames": 0,
           "fps": 0.0, "width": 0, "height": 0}
    if not name_fits(frames_dir, video_id):
        row.update(status="failed", error=f"{rel_path}: its video id ({len(video_id.encode())} bytes) is too "
                                          "long for a folder name in the frames folder; shorten the file name")
        return row
    target = frames_dir / video_id
    meta_path = target / META_FILE
    source = _source_stamp(root / rel_path)
    if meta_path.exists():
        meta = read_json(meta_path)
        if (meta.get("decoder") == DECODER_VERSION and meta.get("settings") == asdict(settings)
                and meta.get("source") == source
                and meta.get("frame_range") == (list(frame_range) if frame_range else None)
                and _frames_intact(target, meta.get("frame_crc32"))):
            row.update(meta["video"], status="ok")
            return _strict_warning(row, strict)
    try:
        with atomic_dir(target) as tmp:
            decoded = decode_to_frames(root / rel_path, tmp, short_side=settings.short_side,
                                       fps=settings.fps, jpeg_quality=settings.jpeg_quality,
                                       frame_range=frame_range)
            write_json(tmp / META_FILE, {"decoder": DECODER_VERSION, "settings": asdict(settings), "source": source,
                                         "frame_range": list(frame_range) if frame_range else None,
                                         "video": asdict(decoded),
                                         "frame_crc32": _frame_checksums(tmp, decoded.num_frames)})
    except DecodeError as err:
        shutil.rmtree(target, ignore_errors=True)
        if _FULL_DISK in str(err):   # ffmpeg's words for ENOSPC: the disk, not this video
            raise DiskFull(full_disk_message(frames_dir, f"decoding {root / rel_path}")) from None
        row.update(status="failed", error=str(err))
        return row
    row.update(asdict(decoded))
    return _strict_warning(row, strict)


def _frame_checksums(folder: Path, num_frames: int) -> list[int]:
    """CRC-32 of each frame file, in frame order (FRAME_PATTERN)."""
    return [zlib.crc32((folder / (FRAME_PATTERN % i)).read_bytes()) for i in range(num_frames)]


def _frames_intact(folder: Path, checksums: list[int] | None) -> bool:
    """The folder holds exactly the frames its meta.json lists, each with the bytes decode wrote
    (CRC-32): a frame deleted, cut short or overwritten since (a full disk, a bad copy, a hand
    edit) means decoding the video again. A meta.json without checksums (an older decode) too."""
    if not checksums:
        return False
    names = {FRAME_PATTERN % i for i in range(len(checksums))}
    if {p.name for p in folder.glob("*.jpg")} != names:
        return False
    try:
        return _frame_checksums(folder, len(checksums)) == list(checksums)
    except OSError:
        return False


def _strict_warning(row: dict, strict: bool) -> dict:
    if strict and row["warning"]:
        row.update(status="failed", error=row["warning"])
    return row


def _sweep_stale(frames_dir: Path, keep: set[str]) -> None:
    """Delete the frame folders of videos no longer in the manifest and the temporary folders a
    killed decode left (``.<id>.<random>.tmp``; the caller holds the lock, so none is in use): only
    folders this stage wrote (a meta.json with our `decoder` key), never whatever else sits there."""
    for stale in frames_dir.iterdir():
        if stale.is_symlink() or not stale.is_dir():
            continue
        leftover = stale.name.startswith(".") and stale.name.endswith(".tmp")
        if leftover or (stale.name not in keep and _written_by_decode(stale)):
            shutil.rmtree(stale)


def _written_by_decode(folder: Path) -> bool:
    try:
        return "decoder" in read_json(folder / META_FILE)
    except (OSError, ValueError, TypeError):
        return False


def _lost(job: tuple, error: BaseException) -> dict:
    """A video whose Ray worker died on every try (e.g. the decoder crashed on it): a failed row."""
    video_id, rel_path, _ = job
    return {"video_id": video_id, "path": rel_path, "status": "failed", "num_frames": 0, "fps": 0.0,
            "width": 0, "height": 0,
            "error": f"{rel_path}: its worker process died on every try ({type(error).__name__})"}


def decode_dataset(manifest_path: Path, root: Path, frames_dir: Path, table_path: Path, *,
                   settings: DecodeSettings, workers: int, strict: bool,
                   ray: RayTasks | None = None) -> pd.DataFrame:
    """Decode every video of the manifest; return (and write) the per-video table.

    Videos already decoded with the same settings are skipped. A video that fails is recorded
    with its error and the rest go on, unless ``strict``. ``ray``: one Ray task per video in place of
    ``workers`` local processes (the same frames and table).
    """
    manifest = Manifest.load(manifest_path)
    frames_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(frames_dir, "another decode of this dataset is running"):
        rows = _decode_rows(manifest, Path(root), frames_dir, settings=settings, workers=workers, strict=strict,
                            ray=ray)
        _sweep_stale(frames_dir, keep=set(manifest.videos["video_id"]))
        table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).sort_values("video_id", ignore_index=True)
        table = table.astype({"num_frames": "int32", "width": "int32", "height": "int32", "fps": "float32"})
        write_parquet(table_path, pa.Table.from_pandas(table, preserve_index=False),
                      metadata={"dataset": manifest.dataset, "settings": asdict(settings)})
    failed = table[table["status"] == "failed"]
    warned = table[(table["status"] == "ok") & (table["warning"] != "")]
    print(f"decode {manifest.dataset}: {int((table['status'] != 'failed').sum())}/{len(table)} videos ok")
    for title, rows, column in (("FAILED", failed, "error"), ("warnings", warned, "warning")):
        text = problem_report(f"decode {manifest.dataset} {title}", zip(rows["video_id"], rows[column]), table_path)
        if text:
            print(text)
    return table


def _decode_rows(manifest: Manifest, root: Path, frames_dir: Path, *, settings: DecodeSettings, workers: int,
                 strict: bool, ray: RayTasks | None) -> list[dict]:
    videos = manifest.videos
    if manifest.pose_only:
        # Nothing to decode: the dataset ships poses only; index takes frame counts from poses.
        return [{"video_id": v, "path": "", "status": "pose_only", "error": "", "warning": "", "num_frames": 0,
                 "fps": 0.0, "width": 0, "height": 0} for v in videos["video_id"]]
    jobs = list(zip(videos["video_id"], videos["path"], segment_ranges(videos)))
    fn = partial(_decode_one, root=root, frames_dir=frames_dir, settings=settings, strict=strict)
    rows = []
    for row in map_videos(fn, jobs, workers=workers, ray=ray, on_lost=_lost, desc=f"decode {manifest.dataset}"):
        if row["status"] != "ok" and strict:
            raise StrictModeError(f"{row['error']}. Fix: repair or remove the video, or set strict: false in "
                                  "params.yaml to record it in the frames table and go on")
        rows.append(row)
    return rows
