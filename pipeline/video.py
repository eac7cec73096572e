"""Decoding videos (or folders of frames) into JPEG frames with ffmpeg, and reading them back."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FRAME_PATTERN = "%06d.jpg"


class DecodeError(RuntimeError):
    """ffmpeg could not turn the input into frames; the message names the file."""


@dataclass(frozen=True)
class DecodedVideo:
    num_frames: int     # frames actually written by the decoder, not container metadata
    fps: float          # frame rate of the written frames (0 when unknown, e.g. image folders)
    width: int
    height: int


def _scale_filter(stream, short_side: int):
    # Keep the aspect ratio, even output sizes, short side = short_side.
    return stream.filter("scale", f"if(lt(iw,ih),{short_side},-2)", f"if(lt(iw,ih),-2,{short_side})")


def _probe_fps(path: Path) -> float:
    try:
        info = ffmpeg.probe(str(path), select_streams="v:0")
    except ffmpeg.Error as err:
        raise DecodeError(f"{path}: ffprobe cannot read it: {_stderr(err)}") from None
    streams = info.get("streams") or []
    if not streams:
        raise DecodeError(f"{path}: no video stream")
    num, _, den = streams[0].get("avg_frame_rate", "0/1").partition("/")
    try:
        return float(num) / float(den or 1) if float(den or 1) else 0.0
    except ValueError:
        return 0.0


def _stderr(err: ffmpeg.Error) -> str:
    text = (err.stderr or b"").decode(errors="replace").strip().splitlines()
    return text[-1] if text else "unknown ffmpeg error"


def decode_to_frames(source: Path, out_dir: Path, *, short_side: int, fps: float | None = None,
                     jpeg_quality: int = 3, frame_range: tuple[int, int] | None = None) -> DecodedVideo:
    """Decode ``source`` (a video file or a folder of images) into ``out_dir/000000.jpg, ...``.

    ``frame_range`` (start, end): only the source's native frames start..end-1 (0-based, end
    exclusive; before any fps resampling), written from 000000.jpg on: one segment of a longer
    video. ``out_dir`` must exist and be empty. Raises DecodeError naming the file on any failure.
    """
    if frame_range is not None and not 0 <= frame_range[0] < frame_range[1]:
        raise DecodeError(f"{source}: bad frame range {frame_range}: need 0 <= start < end")
    source = Path(source)
    if not source.exists():
        raise DecodeError(f"{source}: file not found")
    if source.is_dir():
        images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DecodeError(f"{source}: folder holds no {'/'.join(IMAGE_SUFFIXES)} frames")
        suffix = images[0].suffix
        stream = ffmpeg.input(str(source / f"*{suffix}"), pattern_type="glob", framerate=25)
        if frame_range is not None:
            stream = stream.trim(start_frame=frame_range[0], end_frame=frame_range[1]).setpts("PTS-STARTPTS")
        out_fps = 0.0
    else:
        if source.stat().st_size == 0:
            raise DecodeError(f"{source}: empty file")
        native = _probe_fps(source)
        stream = ffmpeg.input(str(source))
        if frame_range is not None:
            stream = stream.trim(start_frame=frame_range[0], end_frame=frame_range[1]).setpts("PTS-STARTPTS")
        out_fps = native
        if fps:
            stream = stream.filter("fps", fps=fps)
            out_fps = float(fps)
    stream = _scale_filter(stream, short_side)
    cmd = (stream.output(str(out_dir / FRAME_PATTERN), start_number=0, **{"q:v": jpeg_quality},
                         vsync="passthrough")
           .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1"))
    try:
        cmd.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise DecodeError(f"{source}: ffmpeg failed: {_stderr(err)}") from None
    frames = sorted(out_dir.glob("*.jpg"))
    if not frames:
        where = f" in frames {frame_range[0]}..{frame_range[1] - 1}" if frame_range else ""
        raise DecodeError(f"{source}: ffmpeg decoded no frames{where} (empty or corrupt video, or "
                          "a segment past its end)")
    with Image.open(frames[0]) as first:
        width, height = first.size
    return DecodedVideo(num_frames=len(frames), fps=out_fps, width=width, height=height)


def source_size(source: Path) -> tuple[int, int]:
    """(width, height) of a video file's first video stream or of a frame folder's first image,
    before any scaling; DecodeError naming the file when neither can be read."""
    source = Path(source)
    if not source.exists():
        raise DecodeError(f"{source}: file not found")
    if source.is_dir():
        images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DecodeError(f"{source}: folder holds no {'/'.join(IMAGE_SUFFIXES)} frames")
        with Image.open(images[0]) as first:
            return first.size
    try:
        info = ffmpeg.probe(str(source), select_streams="v:0")
    except ffmpeg.Error as err:
        raise DecodeError(f"{source}: ffprobe cannot read it: {_stderr(err)}") from None
    streams = info.get("streams") or []
    if not streams or "width" not in streams[0]:
        raise DecodeError(f"{source}: no video stream")
    return int(streams[0]["width"]), int(streams[0]["height"])


def frame_path(video_dir: Path, index: int) -> Path:
    return Path(video_dir) / (FRAME_PATTERN % index)


def read_frame(video_dir: Path, index: int) -> Image.Image:
    with Image.open(frame_path(video_dir, index)) as img:
        return img.convert("RGB")


def read_frame_array(video_dir: Path, index: int) -> np.ndarray:
    return np.asarray(read_frame(video_dir, index))


def read_video_rgb(path: Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """All frames of a video file as uint8 [F, H, W, 3] at native size, and its fps."""
    path = Path(path)
    try:
        info = ffmpeg.probe(str(path), select_streams="v:0")
    except ffmpeg.Error as err:
        raise DecodeError(f"{path}: ffprobe cannot read it: {_stderr(err)}") from None
    if not info.get("streams"):
        raise DecodeError(f"{path}: no video stream")
    stream = info["streams"][0]
    width, height = int(stream["width"]), int(stream["height"])
    args = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path)]
    if max_frames:
        args += ["-frames:v", str(max_frames)]
    args += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(args, capture_output=True)
    if proc.returncode != 0:
        raise DecodeError(f"{path}: ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    frames = np.frombuffer(proc.stdout, np.uint8)
    frames = frames[: frames.size - frames.size % (width * height * 3)]
    return frames.reshape(-1, height, width, 3), _probe_fps(path)
