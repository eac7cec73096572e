"""Drawing: anti-aliased shapes at 1/16-pixel precision, people and the objects they hold.

Every function draws into an RGB uint8 image in place. Coordinates are world pixels; ``offset``
is added before drawing (the background canvas margin, or minus the camera jitter).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.keypoints import INDEX
from pipeline.synth.skeleton import SUBPIXEL

SHIFT = 4  # cv2 fixed-point bits, SUBPIXEL == 2 ** SHIFT
assert SUBPIXEL == 1 << SHIFT
AA = cv2.LINE_AA

Color = tuple[int, int, int]


def fp(xy, offset=(0.0, 0.0)) -> np.ndarray:
    """Fixed-point int32 coordinates for cv2 (``shift=SHIFT``)."""
    return np.round((np.asarray(xy, dtype=np.float64) + offset) * SUBPIXEL).astype(np.int32)


def _pt(p, offset) -> tuple[int, int]:
    # One point to fixed point; plain floats are much faster than numpy for single points.
    return (int(round((float(p[0]) + offset[0]) * SUBPIXEL)),
            int(round((float(p[1]) + offset[1]) * SUBPIXEL)))


def _c(color) -> tuple[int, ...]:
    return tuple(int(v) for v in color)


def line(img, a, b, color, width: float, offset=(0.0, 0.0)) -> None:
    """A thick segment with round ends."""
    cv2.line(img, _pt(a, offset), _pt(b, offset), _c(color), max(1, int(round(width))), AA, SHIFT)


def disc(img, center, radius: float, color, offset=(0.0, 0.0)) -> None:
    cv2.circle(img, _pt(center, offset), max(1, int(round(radius * SUBPIXEL))), _c(color), -1,
               AA, SHIFT)


def ellipse(img, center, axes, angle_deg: float, color, offset=(0.0, 0.0), start=0.0,
            end=360.0) -> None:
    ax = (max(1, int(round(axes[0] * SUBPIXEL))), max(1, int(round(axes[1] * SUBPIXEL))))
    cv2.ellipse(img, _pt(center, offset), ax, float(angle_deg), float(start), float(end),
                _c(color), -1, AA, SHIFT)


def polygon(img, pts, color, offset=(0.0, 0.0)) -> None:
    cv2.fillPoly(img, [fp(pts, offset).reshape(-1, 1, 2)], _c(color), AA, SHIFT)


def shade(color, k: float) -> Color:
    return tuple(min(255, max(0, int(round(float(v) * k)))) for v in color)


@dataclass(frozen=True)
class Style:
    shirt: Color
    pants: Color
    skin: Color
    hair: Color
    shoes: Color
    long_sleeves: bool
    shorts: bool


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(v[0], v[1]))
    return v / n if n > 1e-9 else np.array([0.0, -1.0])


def draw_person(img, joints: np.ndarray, style: Style, height: float, facing: int,
                offset=(0.0, 0.0)) -> None:
    """Draw a figure whose 14 joints (world px) are ``joints``: thick limbs, a torso polygon, an
    ellipse head with hair, hands and shoes. Every joint lies on a drawn shape of the figure, so
    a visible keypoint always covers figure pixels."""
    J = {name: joints[i] for name, i in INDEX.items()}
    h = float(height)
    w_upper, w_fore = max(2.0, 0.065 * h), max(2.0, 0.055 * h)
    w_thigh, w_shin = max(2.0, 0.085 * h), max(2.0, 0.07 * h)
    sleeve = style.shirt if style.long_sleeves else style.skin
    shin_col = style.skin if style.shorts else style.pants

    def arm(side: str, k: float) -> None:
        sh, el, wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        line(img, el, wr, shade(sleeve, k), w_fore, offset)
        line(img, sh, el, shade(style.shirt, k), w_upper, offset)
        disc(img, wr, max(1.2, 0.032 * h), shade(style.skin, k), offset)

    def leg(side: str, k: float) -> None:
        hp, kn, an = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
        shin = an - kn
        toe = an + _unit(np.array([-shin[1], shin[0]]) * facing) * 0.075 * h
        line(img, an, toe, shade(style.shoes, k), max(2.0, 0.045 * h), offset)
        line(img, kn, an, shade(shin_col, k), w_shin, offset)
        line(img, hp, kn, shade(style.pants, k), w_thigh, offset)

    # The left side is drawn first and a little darker (it is the far side).
    arm("left", 0.8)
    leg("left", 0.8)
    leg("right", 1.0)

    _draw_torso(img, J, style, h, offset)
    _draw_head(img, J, style, h, facing, offset)
    arm("right", 1.0)


def _draw_torso(img, J: dict, style: Style, h: float, offset) -> None:
    """Torso: shoulders to hips, never thinner than a side-view chest."""
    neck, pelvis = J["neck"], 0.5 * (J["right_hip"] + J["left_hip"])
    axis = _unit(neck - pelvis)
    perp = np.array([-axis[1], axis[0]])
    half_sh = max(0.5 * float(np.hypot(*(J["right_shoulder"] - J["left_shoulder"]))), 0.075 * h)
    half_hp = max(0.5 * float(np.hypot(*(J["right_hip"] - J["left_hip"]))), 0.065 * h)
    top = neck - axis * 0.01 * h
    torso = np.array([top + perp * half_sh, top - perp * half_sh,
                      pelvis - perp * half_hp - axis * 0.03 * h,
                      pelvis + perp * half_hp - axis * 0.03 * h])
    polygon(img, torso, style.shirt, offset)
    line(img, J["right_hip"], J["left_hip"], style.pants, max(2.0, 0.09 * h), offset)
    line(img, J["right_shoulder"], J["left_shoulder"], style.shirt, max(2.0, 0.07 * h), offset)


def _draw_head(img, J: dict, style: Style, h: float, facing: int, offset) -> None:
    """Head: an ellipse along the neck -> head-top axis, reaching just past the head-top."""
    neck = J["neck"]
    top_j = J["head_top"]
    v = top_j - neck
    length = float(np.hypot(*v))
    hd = _unit(v)
    line(img, neck, neck + v * 0.3, style.skin, max(2.0, 0.05 * h), offset)
    center = neck + v * 0.57
    ang = np.degrees(np.arctan2(hd[1], hd[0]))
    axes = (0.48 * length, 0.36 * length)
    ellipse(img, center, axes, ang, style.skin, offset)
    # Hair over the crown and the back of the head: local angle 0 is the crown, -90 the
    # person's back when facing right (+x), +90 when facing left.
    start, end = (-150.0, 45.0) if facing > 0 else (-45.0, 150.0)
    ellipse(img, center + hd * 0.05 * length, (axes[0] * 0.97, axes[1] * 1.04), ang, style.hair,
            offset, start=start, end=end)


def draw_racket(img, elbow, wrist, height: float, frame_col: Color, offset=(0.0, 0.0)) -> None:
    d = _unit(np.asarray(wrist, dtype=np.float64) - elbow)
    h = float(height)
    grip_end = wrist + d * 0.09 * h
    line(img, wrist, grip_end, (40, 40, 40), max(1.5, 0.03 * h), offset)
    center = wrist + d * 0.2 * h
    ang = np.degrees(np.arctan2(d[1], d[0]))
    ellipse(img, center, (0.12 * h, 0.075 * h), ang, frame_col, offset)
    ellipse(img, center, (0.095 * h, 0.052 * h), ang, (225, 230, 200), offset)
    line(img, center - d * 0.09 * h, center + d * 0.09 * h, (170, 170, 150), 1, offset)


def draw_ball(img, center, radius: float, color: Color, offset=(0.0, 0.0),
              patches: bool = False) -> None:
    disc(img, center, radius, shade(color, 0.6), offset)
    disc(img, center, radius * 0.85, color, offset)
    if patches:
        disc(img, center, radius * 0.35, (30, 30, 30), offset)
    else:
        disc(img, np.asarray(center) - radius * 0.3, radius * 0.25, shade(color, 1.4), offset)
