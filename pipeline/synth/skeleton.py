"""An articulated 2D figure in the 14-keypoint layout and the motions it performs.

A pose is a set of joint angles in degrees, measured in the image plane from "straight down",
positive towards the way the figure faces (``facing`` = +1 right, -1 left):

* ``lean``: the trunk's tilt (forward > 0); all limb angles are absolute;
* ``r_sh``/``l_sh``: upper arm; ``r_el``/``l_el``: elbow flexion (the forearm turns forward);
* ``r_hip``/``l_hip``: thigh (absolute); ``r_kn``/``l_kn``: knee flexion (the shin turns back);
* ``lift``: height of the feet above the ground, as a fraction of body height (jumps).

The person's right side is drawn on the side opposite to where they face, so "backward" angles of
the right arm/leg are also "outward" in a frontal view (jumping jack, wave).

A motion is a cyclic list of keyframes ``(phase, angles)`` from phase 0 to 1, smoothly
interpolated; the last keyframe may differ from the first by whole turns (a windmill swing).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.keypoints import INDEX

ANGLES = ("lean", "r_sh", "r_el", "l_sh", "l_el", "r_hip", "r_kn", "l_hip", "l_kn", "lift")

# Body proportions as fractions of the standing height (sole to head top).
TORSO = 0.30
HEAD = 0.17          # neck -> head top
UPPER_ARM = 0.165
FOREARM = 0.15
THIGH = 0.245
SHIN = 0.23
SHOULDER = 0.105     # half shoulder width, frontal view
HIP = 0.065          # half hip width, frontal view
SOLE = 0.035         # ankle joint above the ground

# Keypoints are kept on a 1/16-pixel grid: the drawing uses the same fixed-point coordinates
# (cv2 shift=4), and the grid makes the stored values insensitive to last-bit float differences.
SUBPIXEL = 16


def _kf(phase: float, **angles: float) -> tuple[float, dict[str, float]]:
    return phase, angles


# Resting pose every keyframe starts from (missing angles take these values).
NEUTRAL = dict(lean=2.0, r_sh=-6.0, r_el=14.0, l_sh=6.0, l_el=14.0, r_hip=2.0, r_kn=4.0,
               l_hip=-2.0, l_kn=4.0, lift=0.0)


@dataclass(frozen=True)
class Motion:
    keyframes: tuple[tuple[float, dict[str, float]], ...]
    period: tuple[float, float]      # seconds per cycle, sampled per video
    view: tuple[float, float]        # width factor: 1 frontal, ~0.4 side view
    anchor: str                      # joint kept in place on the ground: mid_ankle, l_ankle, pelvis
    contact: float = -1.0            # phase at which the hand/foot meets the object (balls)


# Low back-to-front arm swing with a lunge: the forehand and the bowling delivery.
SWING_LOW = Motion((
    _kf(0.00, lean=10, r_sh=10, r_el=20, l_sh=20, l_el=30, r_hip=5, r_kn=15, l_hip=2, l_kn=15),
    _kf(0.30, lean=14, r_sh=-80, r_el=12, l_sh=50, l_el=20, r_hip=-8, r_kn=22, l_hip=14, l_kn=22),
    _kf(0.50, lean=25, r_sh=15, r_el=6, l_sh=5, l_el=25, r_hip=-22, r_kn=28, l_hip=32, l_kn=38),
    _kf(0.65, lean=22, r_sh=115, r_el=35, l_sh=-30, l_el=25, r_hip=-22, r_kn=28, l_hip=32,
        l_kn=34),
    _kf(0.85, lean=12, r_sh=40, r_el=30, l_sh=5, l_el=25, r_hip=-5, r_kn=18, l_hip=12, l_kn=18),
    _kf(1.00, lean=10, r_sh=10, r_el=20, l_sh=20, l_el=30, r_hip=5, r_kn=15, l_hip=2, l_kn=15),
), period=(1.3, 2.0), view=(0.35, 0.6), anchor="r_ankle", contact=0.5)

# Overhead windmill: arm back, up behind the head, over the top and down in front; the other arm
# tosses up. The tennis serve and the overhand throw.
SWING_OVERHEAD = Motion((
    _kf(0.00, lean=0, r_sh=-20, r_el=20, l_sh=30, l_el=20, r_hip=-10, r_kn=8, l_hip=14, l_kn=8),
    _kf(0.25, lean=-8, r_sh=-75, r_el=25, l_sh=165, l_el=5, r_hip=-10, r_kn=25, l_hip=14,
        l_kn=25),
    _kf(0.45, lean=-14, r_sh=-165, r_el=115, l_sh=120, l_el=20, r_hip=-10, r_kn=30, l_hip=14,
        l_kn=30),
    _kf(0.55, lean=8, r_sh=-188, r_el=5, l_sh=40, l_el=30, r_hip=-12, r_kn=4, l_hip=12, l_kn=4,
        lift=0.03),
    _kf(0.72, lean=28, r_sh=-295, r_el=25, l_sh=-20, l_el=40, r_hip=-25, r_kn=15, l_hip=18,
        l_kn=20),
    _kf(1.00, lean=0, r_sh=-380, r_el=20, l_sh=30, l_el=20, r_hip=-10, r_kn=8, l_hip=14, l_kn=8),
), period=(1.4, 2.1), view=(0.35, 0.65), anchor="l_ankle", contact=0.58)

# Kick with the right leg, the left foot planted.
KICK = Motion((
    _kf(0.00, lean=2, r_sh=-10, r_el=20, l_sh=10, l_el=20, r_hip=0, r_kn=6, l_hip=0, l_kn=6),
    _kf(0.30, lean=-4, r_sh=-30, r_el=25, l_sh=50, l_el=30, r_hip=-40, r_kn=85, l_hip=4,
        l_kn=18),
    _kf(0.50, lean=-10, r_sh=-45, r_el=25, l_sh=35, l_el=30, r_hip=32, r_kn=12, l_hip=4, l_kn=16),
    _kf(0.62, lean=-18, r_sh=-50, r_el=25, l_sh=20, l_el=30, r_hip=80, r_kn=8, l_hip=4, l_kn=14),
    _kf(0.82, lean=-2, r_sh=-15, r_el=20, l_sh=15, l_el=20, r_hip=10, r_kn=35, l_hip=2, l_kn=8),
    _kf(1.00, lean=2, r_sh=-10, r_el=20, l_sh=10, l_el=20, r_hip=0, r_kn=6, l_hip=0, l_kn=6),
), period=(1.3, 2.0), view=(0.35, 0.6), anchor="l_ankle", contact=0.5)

# Lower the hips to seat height (thighs level, shins upright), hold, stand up: sitting on a chair
# or squatting in the open look the same to the skeleton.
LOWER = Motion((
    _kf(0.00, lean=2, r_sh=-4, r_el=12, l_sh=4, l_el=12),
    _kf(0.12, lean=4, r_sh=0, r_el=15, l_sh=6, l_el=15),
    _kf(0.35, lean=22, r_sh=30, r_el=45, l_sh=35, l_el=40, r_hip=88, r_kn=88, l_hip=84, l_kn=84),
    _kf(0.65, lean=12, r_sh=18, r_el=60, l_sh=22, l_el=55, r_hip=90, r_kn=90, l_hip=86, l_kn=86),
    _kf(0.85, lean=30, r_sh=35, r_el=30, l_sh=35, l_el=30, r_hip=55, r_kn=55, l_hip=52, l_kn=52),
    _kf(1.00, lean=2, r_sh=-4, r_el=12, l_sh=4, l_el=12),
), period=(2.0, 2.8), view=(0.3, 0.55), anchor="mid_ankle")

# Right arm raised, forearm waving; frontal view.
WAVE = Motion((
    _kf(0.00, lean=0, r_sh=-10, r_el=10, l_sh=8, l_el=8),
    _kf(0.15, lean=-2, r_sh=-150, r_el=-28, l_sh=8, l_el=8),
    _kf(0.30, lean=2, r_sh=-155, r_el=40, l_sh=8, l_el=8),
    _kf(0.45, lean=-2, r_sh=-150, r_el=-28, l_sh=8, l_el=8),
    _kf(0.60, lean=2, r_sh=-155, r_el=40, l_sh=8, l_el=8),
    _kf(0.75, lean=0, r_sh=-150, r_el=-25, l_sh=8, l_el=8),
    _kf(1.00, lean=0, r_sh=-10, r_el=10, l_sh=8, l_el=8),
), period=(1.6, 2.4), view=(0.8, 1.0), anchor="mid_ankle")

# Jumping jack, frontal view: arms out and overhead, legs apart, small jumps in between.
JUMPING_JACK = Motion((
    _kf(0.00, lean=0, r_sh=-8, r_el=5, l_sh=8, l_el=5, r_hip=-3, r_kn=5, l_hip=3, l_kn=5),
    _kf(0.25, lean=0, r_sh=-90, r_el=5, l_sh=90, l_el=5, r_hip=-14, r_kn=5, l_hip=14, l_kn=5,
        lift=0.06),
    _kf(0.50, lean=0, r_sh=-168, r_el=-10, l_sh=168, l_el=-10, r_hip=-22, r_kn=8, l_hip=22,
        l_kn=8),
    _kf(0.75, lean=0, r_sh=-90, r_el=5, l_sh=90, l_el=5, r_hip=-14, r_kn=5, l_hip=14, l_kn=5,
        lift=0.06),
    _kf(1.00, lean=0, r_sh=-8, r_el=5, l_sh=8, l_el=5, r_hip=-3, r_kn=5, l_hip=3, l_kn=5),
), period=(0.9, 1.4), view=(0.85, 1.0), anchor="mid_ankle")

# Distractors.
WALK = Motion((
    _kf(0.00, lean=4, r_sh=22, r_el=20, l_sh=-22, l_el=15, r_hip=-20, r_kn=10, l_hip=22, l_kn=6),
    _kf(0.25, lean=4, r_sh=0, r_el=15, l_sh=0, l_el=15, r_hip=2, r_kn=6, l_hip=-2, l_kn=40),
    _kf(0.50, lean=4, r_sh=-22, r_el=15, l_sh=22, l_el=20, r_hip=22, r_kn=6, l_hip=-20, l_kn=10),
    _kf(0.75, lean=4, r_sh=0, r_el=15, l_sh=0, l_el=15, r_hip=-2, r_kn=40, l_hip=2, l_kn=6),
    _kf(1.00, lean=4, r_sh=22, r_el=20, l_sh=-22, l_el=15, r_hip=-20, r_kn=10, l_hip=22, l_kn=6),
), period=(0.9, 1.3), view=(0.3, 0.5), anchor="pelvis")

IDLE = Motion((
    _kf(0.00, lean=1, r_sh=-5, r_el=12, l_sh=5, l_el=12, r_hip=3, r_kn=4, l_hip=-3, l_kn=4),
    _kf(0.50, lean=4, r_sh=-2, r_el=25, l_sh=10, l_el=18, r_hip=0, r_kn=10, l_hip=-5, l_kn=2),
    _kf(1.00, lean=1, r_sh=-5, r_el=12, l_sh=5, l_el=12, r_hip=3, r_kn=4, l_hip=-3, l_kn=4),
), period=(2.5, 4.0), view=(0.4, 1.0), anchor="mid_ankle")

MOTIONS: dict[str, Motion] = {
    "swing_low": SWING_LOW, "swing_overhead": SWING_OVERHEAD, "kick": KICK, "lower": LOWER,
    "wave": WAVE, "jumping_jack": JUMPING_JACK, "walk": WALK, "idle": IDLE,
}


def _table(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    phases = np.array([p for p, _ in motion.keyframes], dtype=np.float64)
    values = np.array([[{**NEUTRAL, **a}[k] for k in ANGLES] for _, a in motion.keyframes],
                      dtype=np.float64)
    if phases[0] != 0.0 or phases[-1] != 1.0 or np.any(np.diff(phases) <= 0):
        raise ValueError("keyframes must run from phase 0 to phase 1 in increasing order")
    return phases, values


@dataclass(frozen=True)
class Performance:
    """One person's rendition of a motion: timing, amplitude and small idiosyncratic wobbles."""
    motion: Motion
    period: float
    phase0: float
    amplitude: float              # scales every angle's deviation from the first keyframe
    wobble_amp: np.ndarray        # [len(ANGLES)] degrees
    wobble_freq: np.ndarray       # [len(ANGLES)] Hz
    wobble_phase: np.ndarray      # [len(ANGLES)] radians

    @classmethod
    def sample(cls, motion: Motion, rng: np.random.Generator, speed: float = 1.0) -> "Performance":
        n = len(ANGLES)
        amp = rng.uniform(2.0, 6.0, n)
        amp[ANGLES.index("lift")] = 0.0
        return cls(motion, period=rng.uniform(*motion.period) / speed, phase0=rng.uniform(0, 1),
                   amplitude=rng.uniform(0.85, 1.12), wobble_amp=amp,
                   wobble_freq=rng.uniform(0.2, 0.7, n), wobble_phase=rng.uniform(0, 2 * np.pi, n))

    def cycle_phase(self, t: np.ndarray) -> np.ndarray:
        """Continuous phase (cycles since phase 0) at times t (seconds)."""
        return np.asarray(t, dtype=np.float64) / self.period + self.phase0

    def angles(self, t: np.ndarray) -> np.ndarray:
        """[len(t), len(ANGLES)] angles at times t."""
        phases, values = _table(self.motion)
        u = self.cycle_phase(t)
        p = u - np.floor(u)
        i = np.clip(np.searchsorted(phases, p, side="right") - 1, 0, len(phases) - 2)
        s = (p - phases[i]) / (phases[i + 1] - phases[i])
        s = 0.5 - 0.5 * np.cos(np.pi * s)
        out = values[i] + (values[i + 1] - values[i]) * s[:, None]
        # Scale the deviation from the resting pose; whole turns (windmill) are not scaled, so the
        # cycle still closes.
        base = values[0] + (values[-1] - values[0]) * p[:, None]
        out = base + (out - base) * self.amplitude
        t = np.asarray(t, dtype=np.float64)
        out += self.wobble_amp * np.sin(2 * np.pi * self.wobble_freq * t[:, None]
                                        + self.wobble_phase)
        return out


def pose_joints(angles: np.ndarray, *, facing: int, view: float) -> np.ndarray:
    """[N, 14, 2] joint positions for a unit-height figure with the pelvis at the origin (y down),
    before anchoring. ``angles`` is [N, len(ANGLES)]."""
    a = {k: np.radians(angles[:, i]) for i, k in enumerate(ANGLES) if k != "lift"}
    f = float(facing)

    def direction(theta):  # unit vector at angle theta from straight down, forward positive
        return np.stack([f * np.sin(theta), np.cos(theta)], -1)

    n = angles.shape[0]
    out = np.zeros((n, 14, 2))
    pelvis = np.zeros((n, 2))
    up = -direction(-a["lean"])                    # the trunk tilts forward when lean > 0
    neck = pelvis + TORSO * up
    side = np.array([-f * view, 0.0])             # towards the person's right side
    out[:, INDEX["neck"]] = neck
    out[:, INDEX["head_top"]] = neck + HEAD * up
    for s, sign in (("r", 1.0), ("l", -1.0)):
        name = "right" if s == "r" else "left"
        sh = neck + sign * SHOULDER * side
        el = sh + UPPER_ARM * direction(a[f"{s}_sh"])
        wr = el + FOREARM * direction(a[f"{s}_sh"] + a[f"{s}_el"])
        hp = pelvis + sign * HIP * side
        kn = hp + THIGH * direction(a[f"{s}_hip"])
        an = kn + SHIN * direction(a[f"{s}_hip"] - a[f"{s}_kn"])
        for part, value in (("shoulder", sh), ("elbow", el), ("wrist", wr), ("hip", hp),
                            ("knee", kn), ("ankle", an)):
            out[:, INDEX[f"{name}_{part}"]] = value
    return out


def place(joints: np.ndarray, angles: np.ndarray, *, anchor: str, x: np.ndarray, ground: float,
          height: float) -> np.ndarray:
    """Scale unit-height joints to ``height`` px and move them so that the anchor joint sits at
    world x (per frame) and the lower ankle on the ground line (minus the jump lift)."""
    j = joints * height
    ankles = j[:, [INDEX["right_ankle"], INDEX["left_ankle"]]]
    if anchor == "mid_ankle":
        ax = ankles[:, :, 0].mean(1)
    elif anchor == "l_ankle":
        ax = ankles[:, 1, 0]
    elif anchor == "r_ankle":
        ax = ankles[:, 0, 0]
    elif anchor == "pelvis":
        ax = np.zeros(len(j))
    else:
        raise ValueError(f"unknown anchor {anchor!r}")
    lowest = ankles[:, :, 1].max(1)
    lift = angles[:, ANGLES.index("lift")] * height
    dx = np.asarray(x, dtype=np.float64) - ax
    dy = ground - SOLE * height - lift - lowest
    j = j + np.stack([dx, dy], -1)[:, None, :]
    return quantize(j)


def quantize(xy: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(xy) * SUBPIXEL) / SUBPIXEL


def person_height(ground: float, horizon: float, frame_h: int) -> float:
    """Apparent standing height of a person whose feet are at ``ground`` (simple perspective: a
    person standing near the bottom of the frame is about 0.62 of the frame tall)."""
    k = 0.62 * frame_h / max(0.92 * frame_h - horizon, 1.0)
    return max(k * (ground - horizon), 0.12 * frame_h)
