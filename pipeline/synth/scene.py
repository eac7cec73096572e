"""Scenes: textured backgrounds with static objects, props placed relative to the actor, and
occluders drawn in front of people.

A scene is painted once per video on a canvas ``margin`` pixels larger than the frame on every
side; each frame is a crop of it shifted by the camera jitter. World coordinates are frame
coordinates without jitter.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.synth.render import Color, disc, draw_ball, ellipse, line, polygon, shade

SCENES = ("court", "lane", "field", "room", "park")


@dataclass
class Scene:
    kind: str
    canvas: np.ndarray        # uint8 [H + 2m, W + 2m, 3]
    margin: int
    width: int
    height: int
    horizon: float            # world y where the floor meets the back
    ground_color: Color       # typical colour of the floor around the actor
    props: dict               # scene-specific positions (court lines, goal side, ...)

    @property
    def offset(self) -> tuple[float, float]:
        return float(self.margin), float(self.margin)

    def crop(self, jx: int, jy: int) -> np.ndarray:
        m = self.margin
        return self.canvas[m + jy:m + jy + self.height, m + jx:m + jx + self.width].copy()


def _jitter_color(rng: np.random.Generator, base, spread: float = 18.0) -> Color:
    c = np.asarray(base, dtype=np.float64) * rng.uniform(0.85, 1.15) + rng.normal(0, spread, 3)
    return tuple(int(v) for v in np.clip(np.round(c), 0, 255))


def _noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in about [-1, 1] with features about ``cell`` pixels across."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    small = rng.normal(0.0, 0.6, (gh, gw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _fill(canvas: np.ndarray, mask: np.ndarray, color, rng: np.random.Generator, *,
          coarse: float, fine: float, cell: float) -> None:
    h, w = canvas.shape[:2]
    tex = coarse * _noise(rng, h, w, cell) + fine * rng.normal(0, 1, (h, w)).astype(np.float32)
    region = np.asarray(color, dtype=np.float32)[None, None, :] + tex[..., None]
    canvas[mask] = np.clip(np.round(region[mask]), 0, 255).astype(np.uint8)


def _rows(canvas: np.ndarray, y0: float, y1: float, margin: int) -> np.ndarray:
    h = canvas.shape[0]
    ys = np.arange(h)[:, None] - margin
    return np.broadcast_to((ys >= y0) & (ys < y1), canvas.shape[:2])


def _sky(canvas, horizon, margin, rng) -> None:
    top = np.array(_jitter_color(rng, (110, 160, 225), 12), dtype=np.float32)
    low = np.array(_jitter_color(rng, (200, 220, 240), 10), dtype=np.float32)
    h = canvas.shape[0]
    t = np.clip((np.arange(h) - margin) / max(horizon, 1.0), 0, 1)[:, None, None]
    sky = top * (1 - t) + low * t
    rows = int(np.clip(np.ceil(horizon + margin), 0, h))
    canvas[:rows] = np.round(np.broadcast_to(sky, canvas.shape)[:rows]).astype(np.uint8)
    off = (float(margin), float(margin))
    w = canvas.shape[1] - 2 * margin
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = rng.uniform(0, w), rng.uniform(0.1, 0.6) * horizon
        for k in range(3):
            ellipse(canvas, (cx + (k - 1) * 0.05 * w, cy + (k % 2) * 0.02 * w),
                    (0.06 * w, 0.03 * w), 0, (245, 245, 248), off)


def _ground_lines(canvas, vx, vy, xs_bottom, bottom, top, color, width, off) -> None:
    """Lines converging to the vanishing point (vx, vy), from the bottom row up to row ``top``."""
    for xb in xs_bottom:
        t = (top - bottom) / (vy - bottom)
        xt = xb + (vx - xb) * t
        line(canvas, (xb, bottom), (xt, top), color, width, off)


def _court(rng, W, H, m, canvas):
    horizon = H * rng.uniform(0.30, 0.40)
    off = (float(m), float(m))
    surface = [(55, 125, 80), (50, 95, 165), (185, 100, 65)][int(rng.integers(3))]
    surface = _jitter_color(rng, surface, 10)
    outside = shade(_jitter_color(rng, surface, 10), rng.uniform(0.75, 0.9))
    fence = _jitter_color(rng, (35, 70, 55), 10)
    _fill(canvas, _rows(canvas, -m, horizon, m), fence, rng, coarse=6, fine=3, cell=12)
    _fill(canvas, _rows(canvas, horizon, H + m, m), outside, rng, coarse=5, fine=3, cell=16)
    # Fence mesh and a strip of sky.
    sky_h = horizon * rng.uniform(0.15, 0.4)
    _fill(canvas, _rows(canvas, -m, sky_h, m), _jitter_color(rng, (150, 190, 230), 10), rng,
          coarse=4, fine=1, cell=20)
    mesh = shade(fence, 1.35)
    step = max(3.0, W / rng.uniform(16, 26))
    for x in np.arange(-m, W + m, step):
        line(canvas, (x, sky_h), (x, horizon), mesh, 1, off)
    # Court surface in perspective.
    vx, vy = W * rng.uniform(0.35, 0.65), horizon - H * rng.uniform(0.5, 1.0)
    half = W * rng.uniform(0.55, 0.8)
    cx = W * rng.uniform(0.4, 0.6)
    bottom = H + m
    tb = (horizon - bottom) / (vy - bottom)
    left_b, right_b = cx - half, cx + half
    pts = np.array([(left_b, bottom), (right_b, bottom), (right_b + (vx - right_b) * tb, horizon),
                    (left_b + (vx - left_b) * tb, horizon)])
    coarse = rng.uniform(2, 6)
    mask = np.zeros(canvas.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(pts + off).astype(np.int32)], 1)
    _fill(canvas, mask.astype(bool), surface, rng, coarse=coarse, fine=2.5, cell=14)
    white = _jitter_color(rng, (235, 235, 230), 6)
    lw = max(1.0, W / 110)
    _ground_lines(canvas, vx, vy, [left_b + 0.1 * half, right_b - 0.1 * half, cx], bottom,
                  horizon, white, lw, off)
    for yy in (horizon + (H - horizon) * rng.uniform(0.35, 0.5), H * rng.uniform(0.97, 1.0)):
        t = (yy - bottom) / (vy - bottom)
        xl, xr = left_b + (vx - left_b) * t, right_b + (vx - right_b) * t
        line(canvas, (xl, yy), (xr, yy), white, lw, off)
    # Net across the court.
    net_y = horizon + (H - horizon) * rng.uniform(0.12, 0.22)
    t = (net_y - bottom) / (vy - bottom)
    xl, xr = left_b + (vx - left_b) * t - 0.05 * W, right_b + (vx - right_b) * t + 0.05 * W
    net_h = 0.085 * H
    net_col = (30, 30, 35)
    polygon(canvas, [(xl, net_y - net_h), (xr, net_y - net_h), (xr, net_y), (xl, net_y)],
            shade(net_col, 1.4), off)
    for x in np.arange(xl, xr, max(2.0, W / 60)):
        line(canvas, (x, net_y - net_h), (x, net_y), net_col, 1, off)
    line(canvas, (xl, net_y - net_h), (xr, net_y - net_h), (240, 240, 240), max(1.0, H / 80), off)
    for x in (xl, xr):
        line(canvas, (x, net_y - net_h * 1.2), (x, net_y), (70, 70, 70), max(1.5, W / 100), off)
    return horizon, surface, {"net_y": net_y}


def _lane(rng, W, H, m, canvas):
    horizon = H * rng.uniform(0.28, 0.38)
    off = (float(m), float(m))
    wall = _jitter_color(rng, [(30, 25, 60), (20, 20, 30), (60, 25, 50)][int(rng.integers(3))], 8)
    _fill(canvas, _rows(canvas, -m, horizon, m), wall, rng, coarse=5, fine=2, cell=10)
    neon = [(240, 60, 160), (60, 200, 240), (250, 200, 40)][int(rng.integers(3))]
    band = horizon * rng.uniform(0.25, 0.55)
    line(canvas, (-m, band), (W + m, band), neon, max(1.0, H / 50), off)
    for _ in range(int(rng.integers(2, 5))):
        disc(canvas, (rng.uniform(0, W), rng.uniform(0.05, 0.2) * horizon), max(1.0, H / 70),
             (250, 250, 220), off)
    carpet = _jitter_color(rng, (70, 70, 80), 12)
    _fill(canvas, _rows(canvas, horizon, H + m, m), carpet, rng, coarse=5, fine=5, cell=6)
    wood = _jitter_color(rng, (205, 160, 105), 12)
    vx, vy = W * rng.uniform(0.4, 0.6), horizon - H * rng.uniform(0.15, 0.35)
    bottom = H + m
    t = (horizon - bottom) / (vy - bottom)
    lanes = []
    for k in (-1, 0, 1):
        cx = W * rng.uniform(0.45, 0.55) + k * W * 0.95
        half = W * rng.uniform(0.3, 0.38)
        lanes.append((cx, half))
        for edge_half, col in ((half * 1.18, (25, 25, 28)), (half, wood)):
            lb, rb = cx - edge_half, cx + edge_half
            pts = np.array([(lb, bottom), (rb, bottom), (rb + (vx - rb) * t, horizon),
                            (lb + (vx - lb) * t, horizon)])
            mask = np.zeros(canvas.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(pts + off).astype(np.int32)], 1)
            if col == wood:
                _fill(canvas, mask.astype(bool), shade(wood, 1.0 if k == 0 else 0.9), rng,
                      coarse=6, fine=3, cell=8)
                planks = np.linspace(lb, rb, 9)[1:-1]
                _ground_lines(canvas, vx, vy, planks, bottom, horizon, shade(wood, 0.8), 1,
                              off)
            else:
                _fill(canvas, mask.astype(bool), col, rng, coarse=3, fine=2, cell=8)
    cx, half = lanes[1]
    # Pins at the far end and target arrows.
    tpin = (horizon + 1 - bottom) / (vy - bottom)
    lb, rb = cx - half + (vx - cx + half) * tpin, cx + half + (vx - cx - half) * tpin
    pin_h = max(2.0, 0.07 * H)
    for k, x in enumerate(np.linspace(lb + 0.2 * (rb - lb), rb - 0.2 * (rb - lb), 5)):
        y = horizon + 1 - (k % 2) * 0.015 * H
        ellipse(canvas, (x, y - pin_h * 0.5), (pin_h * 0.22, pin_h * 0.5), 0, (245, 245, 245), off)
        line(canvas, (x - pin_h * 0.15, y - pin_h * 0.65), (x + pin_h * 0.15, y - pin_h * 0.65),
             (200, 30, 30), 1, off)
    ya = horizon + (H - horizon) * 0.45
    ta = (ya - bottom) / (vy - bottom)
    for x in np.linspace(cx - half * 0.6, cx + half * 0.6, 5):
        xa = x + (vx - x) * ta
        polygon(canvas, [(xa, ya - 0.03 * H), (xa - 0.015 * W, ya + 0.015 * H),
                         (xa + 0.015 * W, ya + 0.015 * H)], shade(wood, 0.55), off)
    return horizon, wood, {"lane_center": cx}


def _field(rng, W, H, m, canvas):
    horizon = H * rng.uniform(0.28, 0.4)
    off = (float(m), float(m))
    _sky(canvas, horizon, m, rng)
    # Distant stands or tree line.
    band_top = horizon - H * rng.uniform(0.06, 0.14)
    stands = _jitter_color(rng, [(60, 80, 60), (90, 90, 100)][int(rng.integers(2))], 10)
    _fill(canvas, _rows(canvas, band_top, horizon, m), stands, rng, coarse=8, fine=10, cell=4)
    grass = _jitter_color(rng, (70, 140, 60), 14)
    _fill(canvas, _rows(canvas, horizon, H + m, m), grass, rng, coarse=5, fine=3, cell=12)
    # Mowing stripes, wider towards the camera.
    n = int(rng.integers(5, 9))
    ys = horizon + (H + m - horizon) * (np.linspace(0, 1, n + 1) ** 1.6)
    dark = shade(grass, rng.uniform(0.82, 0.9))
    for i in range(0, n, 2):
        mask = _rows(canvas, ys[i], ys[i + 1], m)
        canvas[mask] = np.round(canvas[mask] * (dark[1] / max(grass[1], 1))).clip(0, 255).astype(
            np.uint8)
    white = (235, 235, 235)
    lw = max(1.0, W / 120)
    yl = horizon + (H - horizon) * rng.uniform(0.08, 0.2)
    line(canvas, (-m, yl), (W + m, yl), white, lw, off)
    # Goal on the far line, left or right.
    side = 1 if rng.random() < 0.5 else -1
    gx = W * (0.5 + side * rng.uniform(0.15, 0.35))
    gw, gh = W * rng.uniform(0.28, 0.4), H * rng.uniform(0.18, 0.24)
    x0, x1 = gx - gw / 2, gx + gw / 2
    netc = (215, 215, 215)
    for x in np.arange(x0, x1, max(2.0, W / 50)):
        line(canvas, (x, yl - gh), (x, yl), netc, 1, off)
    for y in np.arange(yl - gh, yl, max(2.0, H / 40)):
        line(canvas, (x0, y), (x1, y), netc, 1, off)
    pw = max(1.5, W / 80)
    line(canvas, (x0, yl), (x0, yl - gh), (250, 250, 250), pw, off)
    line(canvas, (x1, yl), (x1, yl - gh), (250, 250, 250), pw, off)
    line(canvas, (x0, yl - gh), (x1, yl - gh), (250, 250, 250), pw, off)
    return horizon, grass, {"goal_x": gx}


def _room(rng, W, H, m, canvas):
    horizon = H * rng.uniform(0.45, 0.56)
    off = (float(m), float(m))
    wall = _jitter_color(rng, [(225, 210, 180), (180, 200, 220), (190, 215, 185), (200, 200, 200),
                               (225, 190, 190)][int(rng.integers(5))], 10)
    _fill(canvas, _rows(canvas, -m, horizon, m), wall, rng, coarse=3, fine=1.5, cell=16)
    pattern = int(rng.integers(3))
    if pattern == 0:     # vertical stripes
        step = W / rng.uniform(8, 16)
        for x in np.arange(-m, W + m, step):
            polygon(canvas, [(x, -m), (x + step / 2, -m), (x + step / 2, horizon), (x, horizon)],
                    shade(wall, 0.93), off)
    elif pattern == 1:   # dots
        step = W / rng.uniform(10, 16)
        for i, y in enumerate(np.arange(step / 2, horizon - 2, step)):
            for x in np.arange(-m + (i % 2) * step / 2, W + m, step):
                disc(canvas, (x, y), max(0.8, step * 0.12), shade(wall, 0.85), off)
    # Window or picture.
    for _ in range(int(rng.integers(1, 3))):
        ww, wh = W * rng.uniform(0.12, 0.25), horizon * rng.uniform(0.3, 0.5)
        x, y = rng.uniform(0, W - ww), horizon * rng.uniform(0.1, 0.3)
        frame = _jitter_color(rng, (240, 240, 240) if rng.random() < 0.5 else (110, 70, 40), 10)
        inner = _jitter_color(rng, (150, 200, 240) if rng.random() < 0.5 else (120, 150, 90), 25)
        polygon(canvas, [(x, y), (x + ww, y), (x + ww, y + wh), (x, y + wh)], frame, off)
        b = max(1.0, ww * 0.08)
        polygon(canvas, [(x + b, y + b), (x + ww - b, y + b), (x + ww - b, y + wh - b),
                         (x + b, y + wh - b)], inner, off)
    floors = [(150, 105, 65), (175, 140, 100), (120, 110, 100)]
    floor = _jitter_color(rng, floors[int(rng.integers(3))], 12)
    _fill(canvas, _rows(canvas, horizon, H + m, m), floor, rng, coarse=5, fine=3, cell=10)
    n = int(rng.integers(5, 10))
    for y in horizon + (H + m - horizon) * (np.linspace(0, 1, n) ** 1.5):
        line(canvas, (-m, y), (W + m, y), shade(floor, 0.78), 1, off)
    skirting = shade(wall, 0.7) if rng.random() < 0.5 else (235, 235, 235)
    line(canvas, (-m, horizon), (W + m, horizon), skirting, max(1.5, H / 45), off)
    return horizon, floor, {}


def _park(rng, W, H, m, canvas):
    horizon = H * rng.uniform(0.3, 0.42)
    off = (float(m), float(m))
    _sky(canvas, horizon, m, rng)
    grass = _jitter_color(rng, (95, 150, 70), 16)
    _fill(canvas, _rows(canvas, horizon - 1, H + m, m), grass, rng, coarse=10, fine=5, cell=9)
    # A path crossing the lawn.
    if rng.random() < 0.7:
        path = _jitter_color(rng, (195, 180, 145), 10)
        x0, x1 = rng.uniform(-0.2, 1.2) * W, rng.uniform(0.2, 0.8) * W
        wb, wt = W * rng.uniform(0.12, 0.25), W * 0.04
        pts = [(x0 - wb, H + m), (x0 + wb, H + m), (x1 + wt, horizon), (x1 - wt, horizon)]
        mask = np.zeros(canvas.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(np.array(pts) + off).astype(np.int32)], 1)
        _fill(canvas, mask.astype(bool), path, rng, coarse=4, fine=4, cell=8)
    # Trees along the horizon.
    for _ in range(int(rng.integers(3, 7))):
        x = rng.uniform(-0.05, 1.05) * W
        th = H * rng.uniform(0.12, 0.22)
        trunk = _jitter_color(rng, (100, 70, 45), 10)
        line(canvas, (x, horizon + 2), (x, horizon - th * 0.6), trunk, max(1.5, W / 90), off)
        leaf = _jitter_color(rng, (50, 110, 50), 15)
        for k in range(3):
            disc(canvas, (x + (k - 1) * th * 0.25, horizon - th * (0.7 + 0.15 * (k % 2))),
                 th * rng.uniform(0.28, 0.4), shade(leaf, 0.9 + 0.1 * k), off)
    return horizon, grass, {}


_BUILDERS = {"court": _court, "lane": _lane, "field": _field, "room": _room, "park": _park}


def make_scene(kind: str, rng: np.random.Generator, width: int, height: int) -> Scene:
    margin = max(2, int(round(0.03 * width)))
    canvas = np.zeros((height + 2 * margin, width + 2 * margin, 3), np.uint8)
    horizon, ground, props = _BUILDERS[kind](rng, width, height, margin, canvas)
    return Scene(kind, canvas, margin, width, height, float(horizon), ground, props)


# --- props drawn into the background once the actor is placed -------------------------------

def draw_chair(scene: Scene, *, seat_back: float, seat_front: float, seat_y: float, ground: float,
               back_top: float, color: Color) -> None:
    """A side-view chair: seat from x ``seat_back`` to ``seat_front`` at height ``seat_y``."""
    img, off = scene.canvas, scene.offset
    size = abs(seat_front - seat_back)
    w = max(2.0, 0.16 * size)
    dark = shade(color, 0.7)
    line(img, (seat_back, seat_y), (seat_back, back_top), dark, w, off)          # back post
    line(img, (seat_front, seat_y), (seat_front, ground), dark, w * 0.9, off)    # front leg
    line(img, (seat_back, seat_y), (seat_back, ground), dark, w * 0.9, off)      # back leg
    mid = seat_back + (seat_front - seat_back) * 0.12
    line(img, (mid, seat_y), (mid, ground - 1), shade(color, 0.55), w * 0.8, off)
    line(img, (seat_back, back_top + 0.15 * (seat_y - back_top)),
         (seat_back, back_top + 0.55 * (seat_y - back_top)), color, w * 1.9, off)   # backrest
    line(img, (seat_back, seat_y), (seat_front, seat_y), color, w * 1.3, off)     # seat


def draw_static_ball(scene: Scene, center, radius: float) -> None:
    draw_ball(scene.canvas, center, radius, (245, 245, 245), scene.offset, patches=True)


# --- occluders -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Occluder:
    """A shape in front of the people. ``poly`` holds integer world pixels and is drawn without
    anti-aliasing, so the visibility mask is exactly the painted area."""
    kind: str
    poly: np.ndarray          # int32 [N, 2]
    color: Color
    details: tuple            # ((kind, params), ...) drawn strictly inside the polygon

    def mask(self, width: int, height: int, jx: int, jy: int) -> np.ndarray:
        m = np.zeros((height, width), np.uint8)
        cv2.fillPoly(m, [(self.poly - (jx, jy)).reshape(-1, 1, 2).astype(np.int32)], 1)
        return m.astype(bool)

    def draw(self, img: np.ndarray, jx: int, jy: int) -> None:
        """Paint exactly the pixels of ``mask``: the plain shape, then its details clipped to it."""
        h, w = img.shape[:2]
        inside = self.mask(w, h, jx, jy)
        if not inside.any():
            return
        layer = np.empty_like(img)
        layer[:] = self.color
        off = (-float(jx), -float(jy))
        for kind, params in self.details:
            if kind == "line":
                a, b, col, width = params
                line(layer, a, b, col, width, off)
            elif kind == "disc":
                c, r, col = params
                disc(layer, c, r, col, off)
        img[inside] = layer[inside]


def make_occluder(rng: np.random.Generator, *, x: float, ground: float, height: float,
                  frame_h: int) -> Occluder:
    """An occluder covering part of a person standing at (x, ground) who is ``height`` px tall."""
    kind = ["crate", "post", "bush", "wall"][int(rng.integers(4))]
    near = ground + rng.uniform(0.02, 0.08) * height       # its base is closer to the camera
    if kind == "post":
        w = max(3.0, rng.uniform(0.1, 0.16) * height)
        cx = x + rng.uniform(-0.12, 0.12) * height
        x0, x1 = int(round(cx - w / 2)), int(round(cx + w / 2))
        y0, y1 = int(round(min(ground - 1.3 * height, -2))), int(round(near))
        poly = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], np.int32)
        col = _jitter_color(rng, (120, 120, 125), 15)
        details = (("line", ((x0 + 0.3 * w + 1, y0), (x0 + 0.3 * w + 1, y1 - 2), shade(col, 1.3),
                             max(1.0, 0.15 * w))),)
        return Occluder(kind, poly, col, details)
    top_frac = rng.uniform(0.2, 0.45)
    top = int(round(ground - top_frac * height))
    w = rng.uniform(0.45, 0.9) * height
    cx = x + rng.uniform(-0.3, 0.3) * height
    x0, x1 = int(round(cx - w / 2)), int(round(cx + w / 2))
    y1 = int(round(near))
    if kind == "bush":
        pts = cv2.ellipse2Poly((int(round(cx)), int(round((top + y1) / 2))),
                               (max(2, int(round(w / 2))), max(2, int(round((y1 - top) / 2)))),
                               0, 0, 360, 10)
        col = _jitter_color(rng, (50, 115, 45), 12)
        r = (y1 - top) / 2
        details = tuple(("disc", ((cx + dx * w * 0.25, (top + y1) / 2 + dy * r * 0.35),
                                  max(1.0, 0.18 * r), shade(col, 0.7 if k % 2 else 1.25)))
                        for k, (dx, dy) in enumerate(rng.uniform(-1, 1, (5, 2))))
        return Occluder(kind, pts.astype(np.int32), col, details)
    poly = np.array([(x0, top), (x1, top), (x1, y1), (x0, y1)], np.int32)
    if kind == "crate":
        col = _jitter_color(rng, (150, 105, 60), 12)
        b = max(1.0, 0.08 * min(x1 - x0, y1 - top))
        dark = shade(col, 0.7)
        details = (("line", ((x0 + b + 1, top + b + 1), (x1 - b - 1, y1 - b - 1), dark, b)),
                   ("line", ((x0 + b + 1, y1 - b - 1), (x1 - b - 1, top + b + 1), dark, b)))
    else:  # a low wall with mortar lines
        col = _jitter_color(rng, (165, 80, 60), 15)
        mortar = (205, 195, 180)
        rows = max(2, int((y1 - top) / max(3.0, 0.06 * frame_h)))
        details = tuple(("line", ((x0 + 2, top + (y1 - top) * k / rows),
                                  (x1 - 2, top + (y1 - top) * k / rows), mortar, 1))
                        for k in range(1, rows))
    return Occluder(kind, poly, col, details)
