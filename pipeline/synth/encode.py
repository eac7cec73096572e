"""Byte-reproducible outputs: H.264 MP4 through one ffmpeg process per video, and .npz files
without timestamps.

The RGB -> YUV 4:2:0 conversion is done here in integer arithmetic (BT.601, limited range, as the
stream is tagged), so what x264 receives depends on nothing but the pixels; x264 runs single
threaded with pinned settings, and the muxer writes no dates or version strings.
"""
from __future__ import annotations

import io
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pipeline.io import atomic_path, give_plain_mode

FFMPEG = os.environ.get("PARNET_FFMPEG", "ffmpeg")
GOP = 30  # fixed keyframe interval (frames)
X264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", str(GOP),
        "-keyint_min", str(GOP), "-sc_threshold", "0", "-threads", "1")
COLOR_TAGS = ("-color_range", "tv", "-colorspace", "smpte170m", "-color_primaries", "smpte170m",
              "-color_trc", "smpte170m")
BITEXACT = ("-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact")


def rgb_to_yuv420p(frames: np.ndarray) -> bytes:
    """uint8 [F, H, W, 3] RGB -> planar yuv420p bytes (BT.601 limited range, integer maths)."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 [F, H, W, 3] frames, got {frames.dtype} {frames.shape}")
    F, H, W, _ = frames.shape
    if H % 2 or W % 2:
        raise ValueError(f"yuv420p needs an even width and height, got {W}x{H}")
    rgb = frames.astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128

    def sub(c):  # 2x2 block mean, rounded
        s = c[:, 0::2, 0::2] + c[:, 1::2, 0::2] + c[:, 0::2, 1::2] + c[:, 1::2, 1::2]
        return (s + 2) >> 2

    planes = [y.reshape(F, -1), sub(u).reshape(F, -1), sub(v).reshape(F, -1)]
    return np.concatenate(planes, 1).astype(np.uint8).tobytes()


class H264Writer:
    """Stream RGB frames into one ffmpeg process that writes an H.264 yuv420p MP4 at ``path``;
    the file appears (atomically) only when the context exits without error::

        with H264Writer(path, width, height, fps) as w:
            for frame in frames:
                w.write(frame)
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: int):
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs an even width and height, got {width}x{height}")
        self.path, self.width, self.height, self.fps = Path(path), width, height, fps
        self.frames = 0

    def __enter__(self) -> "H264Writer":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".mp4.tmp",
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{self.width}x{self.height}",
               "-framerate", str(self.fps), "-i", "pipe:0", "-an", *X264, "-pix_fmt", "yuv420p",
               *COLOR_TAGS, *BITEXACT, "-f", "mp4", str(self._tmp)]
        self._err = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._err)
        except FileNotFoundError as e:
            self._cleanup()
            raise RuntimeError(f"ffmpeg not found ({FFMPEG}); install it or set "
                               "PARNET_FFMPEG") from e
        return self

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"frame of shape {frame.shape}, expected "
                             f"{(self.height, self.width, 3)}")
        try:
            self._proc.stdin.write(rgb_to_yuv420p(frame[None]))
        except BrokenPipeError:
            pass  # ffmpeg died; its exit status and message are reported on exit
        self.frames += 1

    def _cleanup(self) -> None:
        self._err.close()
        self._tmp.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
            if exc_type is not None:
                self._proc.kill()
            rc = self._proc.wait()
            if exc_type is None:
                if rc != 0:
                    self._err.seek(0)
                    msg = self._err.read().decode(errors="replace").strip()[-2000:]
                    raise RuntimeError(f"ffmpeg failed encoding {self.path} (exit {rc}): {msg}")
                give_plain_mode(self._tmp)
                os.replace(self._tmp, self.path)
        finally:
            self._cleanup()
        return False


def encode_h264(path: str | os.PathLike, frames: np.ndarray, fps: int) -> None:
    """Encode RGB frames [F, H, W, 3] to an H.264 yuv420p MP4 at ``path`` (atomically)."""
    F, H, W, _ = frames.shape
    with H264Writer(path, W, H, fps) as writer:
        for frame in frames:
            writer.write(frame)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray | int) -> None:
    """Like ``np.savez_compressed`` (``np.load`` reads it) but with fixed zip timestamps and member
    order, so equal arrays give equal bytes; written atomically."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    with atomic_path(path, suffix=".npz") as tmp:
        Path(tmp).write_bytes(buf.getvalue())


def decode_rgb(path: str | os.PathLike, width: int, height: int) -> np.ndarray:
    """All frames of a video as uint8 [F, H, W, 3] RGB (tests and checks)."""
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1",
           "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed decoding {path}: {proc.stderr.decode(errors='replace')}")
    data = np.frombuffer(proc.stdout, np.uint8)
    return data.reshape(-1, height, width, 3)
