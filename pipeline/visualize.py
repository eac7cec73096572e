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
from pipeline.keypoints import EDGES, INDEX, KEYPOINT_NAMES

HEAT_CMAP = "jet"           # attention map colours (low blue .. high red)
HEAT_TOP = 0.875            # the maximum maps to this point of the colormap: jet's bright red, not its dark end
PERSON_CMAP = "cool"        # skeleton colours by person weight (low cyan .. high magenta)
HEAT_ALPHA = 0.6            # opacity of the heat map where attention is at its maximum
SHEET_COLUMNS = 4
SHEET_HEADER = 48           # pixels above the grid: two lines of text
MP4_HEADER = 28             # pixels above each MP4 frame: one line of text


@lru_cache(maxsize=4)
def _cmap_table(name: str) -> np.ndarray:
    """[256, 3] uint8 RGB of a matplotlib colormap."""
    from matplotlib import colormaps
    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


# One hue per person slot (colour-blind-safe Okabe-Ito order), slot 0 first: the wide casing of
# every line, the joints and the label.
SLOT_COLOURS = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
                (213, 94, 0), (204, 121, 167), (255, 255, 255))
# The thin core of each limb line tells the sides apart, warm right and cool left as OpenPose draws
# them; red and blue stay apart for red-green colour blindness too.
RIGHT_COLOUR = (255, 40, 40)
LEFT_COLOUR = (40, 90, 255)
LOW_SCORE = 0.4             # people the estimator scored below are drawn faded
LOW_SCORE_ALPHA = 0.45      # opacity of a low-score person (drawn faded, score in its label)
_HEAD_EDGE = (INDEX["neck"], INDEX["head_top"])


def _side(a: int, b: int) -> tuple[int, int, int] | None:
    names = (KEYPOINT_NAMES[a], KEYPOINT_NAMES[b])
    if all(n.startswith("right_") for n in names):
        return RIGHT_COLOUR
    if all(n.startswith("left_") for n in names):
        return LEFT_COLOUR
    return None


# (edge, core colour or None) for every skeleton edge: limbs get their side's colour, the torso
# (shoulder and hip lines, neck, head) only the person's hue.
EDGE_SIDES = tuple(((a, b), _side(a, b)) for a, b in EDGES)


def stroke_width(width: int, height: int) -> int:
    """Core line width in pixels for a width x height image: 1 up to ~300 px on the short side,
    5 at 1080p, so a 1080p drawing scaled down to 270 px still shows 1-2 px lines."""
    return max(1, int(round(min(width, height) / 200)))


def label_size(width: int, height: int) -> int:
    """Font size of person labels: 11 at 256 px on the short side, 45 at 1080p."""
    return max(9, int(round(min(width, height) / 24)))


def header_height(width: int, height: int) -> int:
    """Height of the one-line band above an MP4 frame: MP4_HEADER up to ~450 px on the short
    side, then 1.5 x label_size (even)."""
    return max(MP4_HEADER, 2 * int(round(label_size(width, height) * 0.75)))


def weight_style(weight: float, display: int) -> tuple[int, tuple[int, int, int]]:
    """(core line width in pixels, RGB colour) of a skeleton of person attention ``weight`` in
    [0, 1], for a tile ``display`` pixels wide: from half to three times stroke_width (1 to 3
    pixels at 224; draw_skeletons adds the casing around it)."""
    w = float(np.clip(np.nan_to_num(weight), 0.0, 1.0))
    thickness = max(1, int(round(stroke_width(display, display) * (0.5 + 2.5 * w))))
    colour = tuple(int(c) for c in _cmap_table(PERSON_CMAP)[int(round(w * 255))])
    return thickness, colour


def draw_skeletons(image: np.ndarray, points: np.ndarray, weights: np.ndarray | None = None,
                   label_weights: bool = True, colours: list[tuple[int, int, int]] | None = None,
                   labels: list[str] | None = None, faded: list[bool] | None = None,
                   head_estimated: bool = False) -> np.ndarray:
    """Draw people ``points`` [N, 14, 3] (x, y in pixels of ``image``, confidence; missing joints
    NaN / confidence 0) with pipeline.keypoints.EDGES; people with no joint are skipped.

    Each line is a wide casing in the person's colour around a thin core: RIGHT_COLOUR on right
    limbs, LEFT_COLOUR on left limbs, the person's colour on the torso and head. ``weights`` [N]
    (person attention) set each person's line width and colour (weight_style) and the drawing
    order (most attended on top); None: widths follow the image size (stroke_width) and the first
    person is on top. ``colours`` [N] RGB override the weight colours; ``labels`` [N] replace the
    weight printed above each person (label size follows the image size). ``faded`` [N] people
    are blended at LOW_SCORE_ALPHA. ``head_estimated``: the head top was extrapolated from the
    nose (layouts without one, pipeline.keypoints): its edge is dashed and its point a ring."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    points = np.asarray(points, np.float32).reshape(-1, len(INDEX), 3)
    height, width = out.shape[:2]
    display = min(height, width)
    base = stroke_width(width, height)
    if weights is None:
        order = np.arange(len(points))[::-1]
        weights = np.ones(len(points), np.float32)
        fixed = True
    else:
        weights = np.asarray(weights, np.float32)
        order = np.argsort(weights, kind="stable")
        fixed = False
    present = (points[..., 2] > 0) & np.isfinite(points[..., :2]).all(-1)
    for n in order:
        if not present[n].any():
            continue
        core, colour = weight_style(weights[n], display)
        if fixed:
            core = base
        if colours is not None:
            colour = tuple(int(c) for c in colours[n])
        fade = faded is not None and bool(faded[n])
        layer = out.copy() if fade else out
        _draw_person(layer, points[n], present[n], core, colour, head_estimated)
        if fade:
            out = cv2.addWeighted(layer, LOW_SCORE_ALPHA, out, 1.0 - LOW_SCORE_ALPHA, 0.0)
        if label_weights or labels is not None:
            top = points[n, present[n]]
            anchor = top[np.argmin(top[:, 1]), :2]
            text = labels[n] if labels is not None else f"{weights[n]:.2f}"
            size = label_size(width, height)
            out = draw_text(out, text, (anchor[0] + size / 3, anchor[1] - 1.4 * size), size=size, colour=colour)
    return out


def _draw_person(out: np.ndarray, points: np.ndarray, present: np.ndarray, core: int,
                 colour: tuple[int, int, int], head_estimated: bool) -> None:
    """One person's skeleton drawn in place: black edge, casing in ``colour``, side-coloured core."""
    casing = core + 2 * max(1, (core + 1) // 2)
    xy = np.nan_to_num(points[:, :2]) * 16          # cv2 sub-pixel coordinates (shift 4)
    xy = np.clip(xy, -(2 ** 20), 2 ** 20).round().astype(np.int32)
    head = INDEX["head_top"]
    edge = casing + 2 * max(1, int(round(core / 2)))
    for pass_colour, thick, is_core in (((0, 0, 0), edge, False), (colour, casing, False),
                                        (None, core, True)):
        for (a, b), side in EDGE_SIDES:
            if not (present[a] and present[b]):
                continue
            if is_core and side is None:
                continue
            line_colour = side if is_core else pass_colour
            if head_estimated and (a, b) in (_HEAD_EDGE, _HEAD_EDGE[::-1]):
                neck, top = (xy[a], xy[b]) if b == head else (xy[b], xy[a])
                _dashed_line(out, neck, _towards(top, neck, 16 * (casing + 1)), line_colour, thick,
                             dash=3 * casing)
            else:
                cv2.line(out, _pt(xy[a]), _pt(xy[b]), line_colour, thick, cv2.LINE_AA, 4)
        if is_core:
            continue
        radius = 16 * max(1, (thick + 1) // 2)
        for j in np.flatnonzero(present):
            if head_estimated and j == head:   # a hollow ring: an estimated point, not a detected one
                cv2.circle(out, _pt(xy[j]), 16 * (casing + 1), pass_colour, thick - casing + max(1, core // 2),
                           cv2.LINE_AA, 4)
            else:
                cv2.circle(out, _pt(xy[j]), radius, pass_colour, -1, cv2.LINE_AA, 4)


def _towards(a: np.ndarray, b: np.ndarray, distance: float) -> np.ndarray:
    """The point ``distance`` from ``a`` towards ``b`` (``a`` itself when they are closer)."""
    gap = b.astype(np.float64) - a
    length = float(np.hypot(*gap))
    if length <= distance:
        return a
    return (a + gap * (distance / length)).round().astype(np.int32)


def _dashed_line(out: np.ndarray, a: np.ndarray, b: np.ndarray, colour, thickness: int, dash: int) -> None:
    """A dashed line from ``a`` to ``b`` (shift-4 sub-pixel points), dashes ``dash`` pixels long."""
    length = float(np.hypot(*(b - a))) / 16
    steps = max(1, int(length // dash))
    for i in range(0, steps, 2):
        p = a + (b - a) * (i / steps)
        q = a + (b - a) * (min(i + 1, steps) / steps)
        cv2.line(out, _pt(p.round().astype(np.int32)), _pt(q.round().astype(np.int32)), colour, thickness,
                 cv2.LINE_AA, 4)


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
                caption: str = "", labels: list[str] | None = None, faded: list[bool] | None = None,
                head_estimated: bool = False) -> np.ndarray:
    """One sampled frame with what exists of: the attention heat map, the skeletons (points in
    pixels of ``frame``; person n in SLOT_COLOURS[n], width from ``weights``), and a caption in
    the top-left corner."""
    out = np.ascontiguousarray(frame, dtype=np.uint8)
    if attention is not None:
        out = blend_attention(out, attention, vmax=attention_max)
    if points is not None and len(points):
        colours = [SLOT_COLOURS[n % len(SLOT_COLOURS)] for n in range(len(points))]
        out = draw_skeletons(out, points, weights, colours=colours, labels=labels, faded=faded,
                             head_estimated=head_estimated)
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
    """Tiles (all H x W) in a grid of ``columns`` (rows as needed) under a header of two text lines:
    [SHEET_HEADER + rows * H, columns * W, 3]."""
    if not tiles:
        raise ValueError("contact sheet: no tiles")
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    grid = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return np.concatenate([_header(columns * w, SHEET_HEADER, lines[:2], 15), grid])


def with_header(image: np.ndarray, text: str, height: int | None = None) -> np.ndarray:
    """``image`` under a one-line header band (default header_height: grows with the image),
    padded to even width and height (yuv420p)."""
    height = header_height(image.shape[1], image.shape[0]) if height is None else height
    out = np.concatenate([_header(image.shape[1], height, [text], max(13, int(height / 1.5))), image])
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
