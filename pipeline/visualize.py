"""Drawing what the model looked at (paper Figs. 9-10): skeletons whose line width and colour follow
the person attention weight, the pose-aware appearance attention map blended over the frame as a
heat map, a contact sheet of the sampled frames and an annotated MP4.

Images are uint8 RGB numpy arrays [H, W, 3]; every function returns a new array.
"""
from __future__ import annotations

import os
from functools import lru_cache

import cv2
import ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.io import atomic_path
from pipeline.keypoints import EDGES, INDEX

HEAT_CMAP = "jet"           # attention map colours (low blue .. high red)
HEAT_TOP = 0.875            # the maximum maps to this point of the colormap: jet's bright red, not its dark end
PERSON_CMAP = "cool"        # skeleton colours by person weight (low cyan .. high magenta)
HEAT_ALPHA = 0.6            # opacity of the heat map where attention is at its maximum
SHEET_COLUMNS = 4
SHEET_HEADER = 48           # pixels above the grid: two lines of text
MP4_HEADER = 28             # pixels above each MP4 frame: one line of text
LEGEND = ("skeleton width and colour: person attention weight (thin cyan low, thick magenta high); "
          "heat map: pose-aware attention")


@lru_cache(maxsize=4)
def _cmap_table(name: str) -> np.ndarray:
    """[256, 3] uint8 RGB of a matplotlib colormap."""
    from matplotlib import colormaps
    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def weight_style(weight: float, display: int) -> tuple[int, tuple[int, int, int]]:
    """(line width in pixels, RGB colour) of a skeleton of person attention ``weight`` in [0, 1],
    for a tile ``display`` pixels wide: width grows from 1 to 6 pixels at 224 (scaled with the tile)."""
    w = float(np.clip(np.nan_to_num(weight), 0.0, 1.0))
    scale = display / 224.0
    thickness = max(1, int(round(scale * (1.0 + 5.0 * w))))
    colour = tuple(int(c) for c in _cmap_table(PERSON_CMAP)[int(round(w * 255))])
    return thickness, colour


def draw_skeletons(image: np.ndarray, points: np.ndarray, weights: np.ndarray | None = None,
                   label_weights: bool = True, colours: list[tuple[int, int, int]] | None = None,
                   labels: list[str] | None = None) -> np.ndarray:
    """Draw people ``points`` [N, 14, 3] (x, y in pixels of ``image``, confidence; missing joints
    NaN / confidence 0) with pipeline.keypoints.EDGES. ``weights`` [N] (None: all 1) set each
    person's line width and colour (weight_style); people with no joint are skipped. Lower weights
    are drawn first so the most attended person is on top. ``colours`` [N] RGB override the
    weight colours; ``labels`` [N] replace the weight printed above each person."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    points = np.asarray(points, np.float32).reshape(-1, len(INDEX), 3)
    weights = np.ones(len(points), np.float32) if weights is None else np.asarray(weights, np.float32)
    display = min(out.shape[:2])
    present = (points[..., 2] > 0) & np.isfinite(points[..., :2]).all(-1)
    for n in np.argsort(weights, kind="stable"):
        if not present[n].any():
            continue
        thickness, colour = weight_style(weights[n], display)
        if colours is not None:
            colour = tuple(int(c) for c in colours[n])
        xy = np.nan_to_num(points[n, :, :2]) * 16          # cv2 sub-pixel coordinates (shift 4)
        xy = np.clip(xy, -(2 ** 20), 2 ** 20).round().astype(np.int32)
        for pass_colour, extra in (((0, 0, 0), 2), (colour, 0)):   # dark outline, then the colour
            for a, b in EDGES:
                if present[n, a] and present[n, b]:
                    cv2.line(out, _pt(xy[a]), _pt(xy[b]), pass_colour, thickness + extra, cv2.LINE_AA, 4)
            for j in np.flatnonzero(present[n]):
                cv2.circle(out, _pt(xy[j]), 16 * max(1, (thickness + extra + 1) // 2), pass_colour, -1,
                           cv2.LINE_AA, 4)
        if label_weights or labels is not None:
            top = points[n, present[n]]
            anchor = top[np.argmin(top[:, 1]), :2]
            text = labels[n] if labels is not None else f"{weights[n]:.2f}"
            out = draw_text(out, text, (anchor[0] + 4, anchor[1] - 16), size=12, colour=colour)
    return out


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(xy[0]), int(xy[1])


def upsample_attention(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w] map -> float32 [H, W] (bilinear, cell centres aligned), ``size`` = (W, H)."""
    return cv2.resize(np.asarray(attention, np.float32), size, interpolation=cv2.INTER_LINEAR)


def blend_attention(image: np.ndarray, attention: np.ndarray, vmax: float | None = None,
                    alpha: float = HEAT_ALPHA, cmap: str = HEAT_CMAP) -> np.ndarray:
    """Blend the attention map [h, w] (upsampled to the image) over ``image`` as a heat map. The
    map is scaled by ``vmax`` (default its own maximum; pass the clip's maximum to compare frames)
    and the heat map's opacity is ``alpha`` x the scaled value, so unattended regions stay visible."""
    height, width = image.shape[:2]
    amap = upsample_attention(attention, (width, height))
    vmax = float(vmax if vmax is not None else amap.max())
    scaled = np.clip(amap / vmax, 0.0, 1.0) if vmax > 0 else np.zeros_like(amap)
    heat = _cmap_table(cmap)[(scaled * HEAT_TOP * 255).round().astype(np.int32)].astype(np.float32)
    a = (alpha * scaled)[..., None]
    return (image.astype(np.float32) * (1.0 - a) + heat * a).round().clip(0, 255).astype(np.uint8)


def draw_text(image: np.ndarray, text: str, xy: tuple[float, float], size: int = 12,
              colour: tuple[int, int, int] = (255, 255, 255), background: bool = True) -> np.ndarray:
    """``text`` at ``xy`` (top-left, pixels) on a translucent dark box."""
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(pil, "RGBA")
    font = _font(size)
    x, y = float(xy[0]), float(xy[1])
    x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
    # keep the text inside the image
    dx = min(0.0, pil.width - 1 - x1) - min(0.0, x0)
    dy = min(0.0, pil.height - 1 - y1) - min(0.0, y0)
    if background:
        draw.rectangle((x0 + dx - 2, y0 + dy - 1, x1 + dx + 2, y1 + dy + 1), fill=(0, 0, 0, 150))
    draw.text((x + dx, y + dy), text, font=font, fill=tuple(colour) + (255,))
    return np.asarray(pil).copy()


def render_tile(frame: np.ndarray, *, points: np.ndarray | None = None, weights: np.ndarray | None = None,
                attention: np.ndarray | None = None, attention_max: float | None = None,
                caption: str = "") -> np.ndarray:
    """One sampled frame with what exists of: the attention heat map, the skeletons (points in
    pixels of ``frame``), and a caption in the top-left corner."""
    out = np.ascontiguousarray(frame, dtype=np.uint8)
    if attention is not None:
        out = blend_attention(out, attention, vmax=attention_max)
    if points is not None and len(points):
        out = draw_skeletons(out, points, weights)
    if caption:
        out = draw_text(out, caption, (3, 2), size=max(10, min(out.shape[:2]) // 18))
    return out


def _header(width: int, height: int, lines: list[str], size: int) -> np.ndarray:
    band = np.full((height, width, 3), 24, np.uint8)
    step = height / max(len(lines), 1)
    for i, line in enumerate(lines):
        band = draw_text(band, _fit(line, width, size), (6, 3 + i * step), size=size, background=False)
    return band


def _fit(text: str, width: int, size: int) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` pixels."""
    font = _font(size)
    if font.getlength(text) <= width - 12:
        return text
    while text and font.getlength(text + "...") > width - 12:
        text = text[:-1]
    return text + "..."


def contact_sheet(tiles: list[np.ndarray], lines: list[str], columns: int = SHEET_COLUMNS) -> np.ndarray:
    """Tiles (all D x D) in a grid of ``columns`` (rows as needed) under a header of two text lines:
    [SHEET_HEADER + rows * D, columns * D, 3]."""
    if not tiles:
        raise ValueError("contact sheet: no tiles")
    d = tiles[0].shape[0]
    rows = -(-len(tiles) // columns)
    grid = np.zeros((rows * d, columns * d, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * d:(r + 1) * d, c * d:(c + 1) * d] = tile
    return np.concatenate([_header(columns * d, SHEET_HEADER, lines[:2], 15), grid])


def with_header(image: np.ndarray, text: str, height: int = MP4_HEADER) -> np.ndarray:
    """``image`` under a one-line header band, padded to even width and height (yuv420p)."""
    out = np.concatenate([_header(image.shape[1], height, [text], 13), image])
    pad_h, pad_w = out.shape[0] % 2, out.shape[1] % 2
    return np.pad(out, ((0, pad_h), (0, pad_w), (0, 0))) if pad_h or pad_w else out


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(tmp, format="PNG")


def write_mp4(path: str | os.PathLike, frames: list[np.ndarray], fps: float) -> None:
    """Encode same-size RGB frames as H.264 (libx264, yuv420p) MP4, written atomically."""
    if not frames:
        raise ValueError(f"{path}: no frames to encode")
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"{path}: libx264 with yuv420p needs even sizes, got {width}x{height}")
    data = b"".join(np.ascontiguousarray(f, dtype=np.uint8).tobytes() for f in frames)
    with atomic_path(path, suffix=".mp4") as tmp:
        cmd = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
               .output(str(tmp), format="mp4", vcodec="libx264", pix_fmt="yuv420p", crf=18,
                       movflags="+faststart", r=fps)
               .global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1")
               .overwrite_output())
        try:
            cmd.run(input=data, capture_stdout=True, capture_stderr=True)
        except ffmpeg.Error as err:
            message = (err.stderr or b"").decode(errors="replace").strip()[-300:]
            raise OSError(f"{path}: ffmpeg could not encode the MP4: {message}") from None
