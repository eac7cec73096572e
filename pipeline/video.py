"""Decoding videos (or folders of frames) into JPEG frames with ffmpeg, and reading them back."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FRAME_PATTERN = "%06d.jpg"


class DecodeError(RuntimeError):
    """ffmpeg could not turn the input into frames; the message names the file."""


# Demuxers that read other files than the one named (playlists, file lists, image-name patterns,
# IMF compositions), run scripts (AviSynth, VapourSynth) or read no file at all: a dataset "video"
# in one of these could decode any file on the machine.
REFUSED_FORMATS = frozenset({"hls", "applehttp", "dash", "concat", "ffconcat", "image2", "image2pipe", "lavfi",
                             "sdp", "rtp", "rtsp", "tee", "data", "subfile", "imf", "avisynth",
                             "vapoursynth"})
# Local files only: no network or pipe protocols, wherever a container points.
LOCAL_ONLY = {"protocol_whitelist": "file"}
# The demuxers a frame folder's images may be opened with (our own concat list names them).
IMAGE_FORMATS = "concat,image2,jpeg_pipe,png_pipe,bmp_pipe"

# A decode that yields fewer frames than the container lists (past this fraction) is flagged: a
# truncated file often still decodes, ffmpeg exiting 0 after "partial file" errors.
MISSING_FRAMES_TOLERANCE = 0.05


@dataclass(frozen=True)
class DecodedVideo:
    num_frames: int     # frames actually written by the decoder, not container metadata
    fps: float          # frame rate of the written frames (0 when unknown, e.g. image folders)
    width: int
    height: int
    warning: str = ""   # e.g. fewer frames than the container lists (a truncated file)


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says of a video file's first video stream."""
    width: int              # as displayed: ffmpeg applies the stored rotation when it decodes
    height: int
    fps: float              # average frame rate (0 when unknown)
    num_frames: int         # frames the container lists (0 when it does not say)
    duration: float         # seconds (0 when unknown)
    variable_rate: bool     # frame times are not evenly spaced
    format_name: str = ""   # ffprobe's demuxer: decoding allows only this one (it was checked)


def probe_video(path: Path) -> VideoInfo:
    try:
        info = ffmpeg.probe(str(path), select_streams="v:0", **LOCAL_ONLY)
    except ffmpeg.Error as err:
        raise DecodeError(f"{path}: ffprobe cannot read it: {_stderr(err)}") from None
    format_name = str((info.get("format") or {}).get("format_name") or "")
    if set(format_name.split(",")) & REFUSED_FORMATS:
        raise DecodeError(f"{path}: ffprobe reads it as {format_name}, a playlist, file list or image "
                          "pattern that opens other files, not a video file; refused")
    streams = info.get("streams") or []
    if not streams:
        raise DecodeError(f"{path}: no video stream")
    st = streams[0]
    width, height = int(st.get("width") or 0), int(st.get("height") or 0)
    rotation = next((float(d["rotation"]) for d in st.get("side_data_list") or [] if "rotation" in d),
                    float((st.get("tags") or {}).get("rotate") or 0))
    if round(rotation) % 180 == 90:
        width, height = height, width
    avg, base = _rate(st.get("avg_frame_rate")), _rate(st.get("r_frame_rate"))
    duration = _number(st.get("duration")) or _number((info.get("format") or {}).get("duration"))
    return VideoInfo(width=width, height=height, fps=avg or base, num_frames=int(_number(st.get("nb_frames"))),
                     duration=duration, variable_rate=bool(avg and base and abs(avg - base) > 0.01 * base),
                     format_name=format_name)


def _rate(text: str | None) -> float:
    num, _, den = (text or "0/1").partition("/")
    try:
        return float(num) / float(den or 1) if float(den or 1) else 0.0
    except ValueError:
        return 0.0


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def _scale_filter(stream, short_side: int):
    # Keep the aspect ratio, even output sizes, short side = short_side.
    return stream.filter("scale", f"if(lt(iw,ih),{short_side},-2)", f"if(lt(iw,ih),-2,{short_side})")


def _video_stream(source: Path, info: VideoInfo, *, fps: float | None,
                  frame_range: tuple[int, int] | None) -> tuple[object, float, float]:
    """The ffmpeg input every decode of a video file goes through: (stream, output fps, frames
    expected from the container). Rotation: ffmpeg's autorotate turns frames upright. A variable
    frame rate source is resampled to its average rate (``fps`` null), so that frame index is
    proportional to time as segment sampling assumes."""
    stream = ffmpeg.input(str(source), format_whitelist=info.format_name, **LOCAL_ONLY)
    native = info.num_frames or round(info.duration * info.fps)
    if frame_range is not None:
        stream = stream.trim(start_frame=frame_range[0], end_frame=frame_range[1]).setpts("PTS-STARTPTS")
        native = max(min(native, frame_range[1]) - frame_range[0], 0) if native else 0
    out_fps, expected = info.fps, native
    if not fps and info.variable_rate:
        fps = info.fps
    if fps:
        stream = stream.filter("fps", fps=fps)
        span = native / info.fps if info.fps and native else info.duration
        out_fps, expected = float(fps), round(span * fps)
    return stream, out_fps, expected


def _shortfall(source: Path, decoded: int, expected: int, stderr: bytes) -> str:
    if not expected or decoded >= expected * (1 - MISSING_FRAMES_TOLERANCE):
        return ""
    lines = stderr.decode(errors="replace").strip().splitlines()
    detail = f" (ffmpeg: {lines[-1].strip()})" if lines else ""
    return f"{source}: decoded {decoded} of the {expected} frames the container lists; truncated or corrupt?{detail}"


def _stderr(err: ffmpeg.Error) -> str:
    text = (err.stderr or b"").decode(errors="replace").strip().splitlines()
    return text[-1] if text else "unknown ffmpeg error"


def decode_to_frames(source: Path, out_dir: Path, *, short_side: int, fps: float | None = None,
                     jpeg_quality: int = 3, frame_range: tuple[int, int] | None = None) -> DecodedVideo:
    """Decode ``source`` (a video file or a folder of images) into ``out_dir/000000.jpg, ...``.

    ``frame_range`` (start, end): only the source's native frames start..end-1 (0-based, end
    exclusive; before any fps resampling), written from 000000.jpg on: one segment of a longer
    video. ``out_dir`` must exist and be empty. Raises DecodeError naming the file on any failure;
    fewer frames than the container lists is a ``warning`` of the result.
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
        images = [p for p in images if p.suffix == images[0].suffix]
        _check_one_size(source, images)
        with tempfile.TemporaryDirectory() as tmp:
            stream = _image_list_stream(images, Path(tmp) / "frames.ffconcat")
            if frame_range is not None:
                stream = stream.trim(start_frame=frame_range[0], end_frame=frame_range[1]).setpts("PTS-STARTPTS")
            return _write_frames(source, stream, out_dir, short_side=short_side, jpeg_quality=jpeg_quality,
                                 out_fps=0.0, expected=0, frame_range=frame_range)
    if source.stat().st_size == 0:
        raise DecodeError(f"{source}: empty file")
    stream, out_fps, expected = _video_stream(source, probe_video(source), fps=fps, frame_range=frame_range)
    return _write_frames(source, stream, out_dir, short_side=short_side, jpeg_quality=jpeg_quality,
                         out_fps=out_fps, expected=expected, frame_range=frame_range)


def _check_one_size(folder: Path, images: list[Path]) -> None:
    """A frame folder's images all have the first one's size: ffmpeg would stretch the others to
    its shape, silently, and poses given in their own pixels would not fit."""
    sizes = {}
    for image in images:
        try:
            with Image.open(image) as img:
                sizes[image] = img.size
        except OSError as err:
            raise DecodeError(f"{folder}: frame {image.name} is not a readable image ({err})") from None
        if sizes[image] != sizes[images[0]]:
            (w, h), (w0, h0) = sizes[image], sizes[images[0]]
            raise DecodeError(f"{folder}: frame {image.name} is {w}x{h}, the first frame {w0}x{h0}: a video's "
                              "frames must share one size; resize or remove the odd ones")


def _image_list_stream(images: list[Path], list_file: Path):
    """A frame folder's images, exactly these files in this order, at 25 frames per second: an
    ffconcat list we write (a glob or pattern built from the folder's name could match other files)."""
    lines = ["ffconcat version 1.0"]
    for image in images:
        if "\n" in str(image) or "\r" in str(image):
            raise DecodeError(f"{image.parent}: frame name {image.name!r} holds a line break; rename it")
        quoted = str(image.resolve()).replace("'", "'\\''")
        # pattern_type none: a `%d` in the name is part of it, not an image sequence
        lines += [f"file '{quoted}'", "option pattern_type none", "duration 0.04"]
    list_file.write_text("\n".join(lines) + "\n")
    return ffmpeg.input(str(list_file), f="concat", safe=0, format_whitelist=IMAGE_FORMATS, **LOCAL_ONLY)


def _write_frames(source: Path, stream, out_dir: Path, *, short_side: int, jpeg_quality: int, out_fps: float,
                  expected: int, frame_range: tuple[int, int] | None) -> DecodedVideo:
    stream = _scale_filter(stream, short_side)
    cmd = (stream.output(str(out_dir / FRAME_PATTERN), start_number=0, **{"q:v": jpeg_quality},
                         vsync="passthrough")
           .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1"))
    try:
        _, stderr = cmd.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise DecodeError(f"{source}: ffmpeg failed: {_stderr(err)}") from None
    frames = sorted(out_dir.glob("*.jpg"))
    if not frames:
        where = f" in frames {frame_range[0]}..{frame_range[1] - 1}" if frame_range else ""
        raise DecodeError(f"{source}: ffmpeg decoded no frames{where} (empty or corrupt video, or "
                          "a segment past its end)")
    with Image.open(frames[0]) as first:
        width, height = first.size
    return DecodedVideo(num_frames=len(frames), fps=out_fps, width=width, height=height,
                        warning=_shortfall(source, len(frames), expected, stderr))


def source_size(source: Path) -> tuple[int, int]:
    """(width, height) of a video file as displayed (rotation applied, as decoding does) or of a
    frame folder's first image, before any scaling; DecodeError naming the file when neither can
    be read."""
    source = Path(source)
    if not source.exists():
        raise DecodeError(f"{source}: file not found")
    if source.is_dir():
        images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DecodeError(f"{source}: folder holds no {'/'.join(IMAGE_SUFFIXES)} frames")
        with Image.open(images[0]) as first:
            return first.size
    info = probe_video(source)
    return info.width, info.height


def frame_path(video_dir: Path, index: int) -> Path:
    return Path(video_dir) / (FRAME_PATTERN % index)


def read_frame(video_dir: Path, index: int) -> Image.Image:
    with Image.open(frame_path(video_dir, index)) as img:
        return img.convert("RGB")


def read_frame_array(video_dir: Path, index: int) -> np.ndarray:
    return np.asarray(read_frame(video_dir, index))


def read_video_rgb(path: Path, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """All frames of a video file as uint8 [F, H, W, 3] at native (displayed) size, and their fps:
    the same input as :func:`decode_to_frames` (upright, variable rates made constant)."""
    path = Path(path)
    info = probe_video(path)
    stream, fps, _ = _video_stream(path, info, fps=None, frame_range=None)
    args = {"format": "rawvideo", "pix_fmt": "rgb24"}
    if max_frames:
        args["frames:v"] = max_frames
    cmd = stream.output("pipe:", **args).global_args("-nostdin", "-hide_banner", "-loglevel", "error")
    try:
        out, _ = cmd.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise DecodeError(f"{path}: ffmpeg failed: {_stderr(err)}") from None
    frames = np.frombuffer(out, np.uint8)
    frames = frames[: frames.size - frames.size % (info.width * info.height * 3)]
    return frames.reshape(-1, info.height, info.width, 3), fps
