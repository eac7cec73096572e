"""One video's content: scene, actor with props, distractors, occluder, camera jitter; its
ground-truth keypoints and a renderer for its frames. Everything random comes from the generators
passed in, so a video depends only on (seed, class, index within class)."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from pipeline.keypoints import INDEX
from pipeline.synth import skeleton as sk
from pipeline.synth.classes import CLASSES, ActionClass
from pipeline.synth.render import Color, Style, draw_ball, draw_person, draw_racket, shade
from pipeline.synth.scene import (Occluder, Scene, draw_chair, draw_static_ball, make_occluder,
                                  make_scene)

P_DISTRACTORS = (0.3, 0.3, 0.25, 0.15)   # 0..3 distractors -> 1..4 people
P_OCCLUDER = 0.25
P_TRUNCATED = 0.15
P_JITTER = 0.7
# Relation classes (kick_air, squat): the object lies elsewhere in the scene in this fraction of
# videos, so that its mere presence does not give the class away; otherwise it is absent.
P_OBJECT_ELSEWHERE = 0.5

_SKIN = ((250, 218, 185), (235, 190, 150), (200, 145, 105), (160, 108, 72), (105, 70, 48))
_HAIR = ((30, 25, 20), (85, 55, 30), (195, 160, 95), (150, 150, 150), (120, 55, 25))
_PANTS = ((45, 65, 115), (30, 30, 35), (150, 130, 95), (110, 110, 115), (60, 85, 60),
          (120, 30, 35), (225, 225, 225))
_SHOES = ((240, 240, 240), (30, 30, 30), (120, 70, 40), (200, 40, 40))
_CHAIRS = ((120, 75, 40), (40, 40, 45), (190, 40, 40), (60, 110, 170), (235, 235, 230))
BALL = 0.065            # football radius / body height


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _jit(rng: np.random.Generator, color, spread: float = 12.0) -> Color:
    c = np.asarray(color, dtype=np.float64) + rng.normal(0, spread, 3)
    return tuple(int(v) for v in np.clip(np.round(c), 0, 255))


def _bright_color(rng: np.random.Generator) -> Color:
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.35, 0.95), rng.uniform(0.35, 0.95)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _dist(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def sample_style(rng: np.random.Generator, avoid: Color | None = None) -> Style:
    shirt = _bright_color(rng)
    for _ in range(6):  # keep the shirt apart from the floor colour around the person
        if avoid is None or _dist(shirt, avoid) > 80:
            break
        shirt = _bright_color(rng)
    pants = _jit(rng, _pick(rng, _PANTS))
    for _ in range(6):
        if avoid is None or _dist(pants, avoid) > 60:
            break
        pants = _jit(rng, _pick(rng, _PANTS))
    return Style(shirt=shirt, pants=pants, skin=_jit(rng, _pick(rng, _SKIN), 8),
                 hair=_jit(rng, _pick(rng, _HAIR), 8), shoes=_jit(rng, _pick(rng, _SHOES), 8),
                 long_sleeves=bool(rng.random() < 0.4), shorts=bool(rng.random() < 0.3))


def perturb_style(style: Style, rng: np.random.Generator, avoid: Color) -> Style:
    """The group's actor in this clip: the same clothes, slightly different light; a new shirt if
    it would vanish into this clip's floor."""
    k = rng.uniform(0.9, 1.1)
    shirt = shade(style.shirt, k)
    if _dist(shirt, avoid) < 80:
        shirt = sample_style(rng, avoid).shirt
    return Style(shirt=shirt, pants=shade(style.pants, k), skin=shade(style.skin, k),
                 hair=style.hair, shoes=style.shoes, long_sleeves=style.long_sleeves,
                 shorts=style.shorts)


@dataclass
class Person:
    role: str                  # actor | idle | walk
    joints: np.ndarray         # [F, 14, 2] world px (1/16 px grid)
    style: Style
    height: float
    facing: int
    ground: float
    props: list = field(default_factory=list)   # callables (img, frame, offset) drawn after


@dataclass
class Clip:
    cls: ActionClass
    scene: Scene
    people: list[Person]       # the actor first
    occluder: Occluder | None
    jitter: np.ndarray         # int [F, 2] camera offset (jx, jy): frame = world - jitter
    fps: int

    @property
    def num_frames(self) -> int:
        return len(self.jitter)

    def keypoints(self) -> np.ndarray:
        """float32 [F, P, 14, 3]: frame px and visibility (0 outside the frame or under the
        occluder). A joint is at pixel (floor(x + 0.5), floor(y + 0.5)), pixel centres at
        integers as cv2 draws them."""
        F, W, H = self.num_frames, self.scene.width, self.scene.height
        xy = np.stack([p.joints for p in self.people], 1) - self.jitter[:, None, None, :]
        px = np.floor(xy + 0.5).astype(np.int64)
        vis = (px[..., 0] >= 0) & (px[..., 0] < W) & (px[..., 1] >= 0) & (px[..., 1] < H)
        if self.occluder is not None:
            for f in range(F):
                mask = self.occluder.mask(W, H, int(self.jitter[f, 0]), int(self.jitter[f, 1]))
                inside = vis[f]
                cx, cy = np.clip(px[f, ..., 0], 0, W - 1), np.clip(px[f, ..., 1], 0, H - 1)
                vis[f] = inside & ~mask[cy, cx]
        out = np.concatenate([xy, vis[..., None].astype(np.float64)], -1)
        return out.astype(np.float32)

    def render(self, f: int, people: bool = True) -> np.ndarray:
        """RGB uint8 [H, W, 3] frame ``f``; ``people=False`` leaves out people and their props."""
        jx, jy = int(self.jitter[f, 0]), int(self.jitter[f, 1])
        img = self.scene.crop(jx, jy)
        off = (-float(jx), -float(jy))
        if people:
            for p in sorted(self.people, key=lambda q: q.ground):
                draw_person(img, p.joints[f], p.style, p.height, p.facing, off)
                for prop in p.props:
                    prop(img, f, off)
        if self.occluder is not None:
            self.occluder.draw(img, jx, jy)
        return img


# --- building ----------------------------------------------------------------------------------

def _perform(perf: sk.Performance, t: np.ndarray, *, facing: int, view: float, x, ground: float,
             height: float) -> np.ndarray:
    angles = perf.angles(t)
    unit = sk.pose_joints(angles, facing=facing, view=view)
    x = np.broadcast_to(np.asarray(x, dtype=np.float64), (len(t),))
    return sk.place(unit, angles, anchor=perf.motion.anchor, x=x, ground=ground, height=height)


def _camera(rng: np.random.Generator, F: int, fps: int, margin: int) -> np.ndarray:
    if rng.random() >= P_JITTER:
        return np.zeros((F, 2), np.int64)
    t = np.arange(F) / fps
    out = np.zeros((F, 2))
    for axis, scale in ((0, 1.0), (1, 0.6)):
        amp = rng.uniform(0.3, 1.0) * margin * scale
        f1, f2 = rng.uniform(0.2, 0.8), rng.uniform(1.0, 3.0)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        out[:, axis] = amp * (0.75 * np.sin(2 * np.pi * f1 * t + p1)
                              + 0.25 * np.sin(2 * np.pi * f2 * t + p2))
    return np.clip(np.round(out), -margin, margin).astype(np.int64)


def _actor_props(cls: ActionClass, rng: np.random.Generator, scene: Scene, actor: Person,
                 perf: sk.Performance, pose_at, t: np.ndarray) -> None:
    """Add the actor's held/kicked objects, and static props (chair, far ball) to the scene."""
    if cls.prop == "racket":
        _racket(rng, actor)
    elif cls.prop == "bowling_ball":
        _bowling_ball(rng, actor)
    elif cls.prop == "throw_ball":
        _thrown_ball(rng, actor, perf, pose_at, t)
    elif cls.prop == "soccer_ball" and cls.relation == "at_foot":
        _kicked_ball(rng, actor, perf, pose_at, t)
    elif cls.prop == "soccer_ball":      # lying elsewhere on the field, or no ball at all
        if rng.random() >= P_OBJECT_ELSEWHERE:
            return
        _ball_elsewhere(rng, scene, actor)
    elif cls.prop == "chair":
        chairs = [c for c in _CHAIRS if _dist(c, scene.ground_color) > 90] or list(_CHAIRS)
        col = _jit(rng, _pick(rng, chairs), 10)       # stands out from the floor
        if cls.relation == "under":
            _chair_under(scene, actor, perf, pose_at, col)
        elif rng.random() < P_OBJECT_ELSEWHERE:    # elsewhere in the room, or no chair at all
            _chair_elsewhere(rng, scene, actor, col)


def _racket(rng: np.random.Generator, actor: Person) -> None:
    J, h = actor.joints, actor.height
    el, wr = INDEX["right_elbow"], INDEX["right_wrist"]
    col = _jit(rng, _pick(rng, ((200, 30, 30), (30, 30, 30), (30, 80, 200), (240, 200, 30))))
    actor.props.append(lambda img, i, off: draw_racket(img, J[i, el], J[i, wr], h, col, off))


def _bowling_ball(rng: np.random.Generator, actor: Person) -> None:
    J, h = actor.joints, actor.height
    el, wr = INDEX["right_elbow"], INDEX["right_wrist"]
    col = _jit(rng, _pick(rng, ((30, 60, 160), (160, 30, 40), (25, 25, 30), (40, 130, 60))), 15)
    r = 0.058 * h

    def bowl(img, i, off):
        d = J[i, wr] - J[i, el]
        d = d / max(float(np.hypot(*d)), 1e-6)
        draw_ball(img, J[i, wr] + d * r * 0.6, r, col, off)
    actor.props.append(bowl)


def _thrown_ball(rng: np.random.Generator, actor: Person, perf: sk.Performance, pose_at,
                 t: np.ndarray) -> None:
    """A ball in the hand until the release, then flying on a parabola."""
    J, h, f = actor.joints, actor.height, actor.facing
    wr = INDEX["right_wrist"]
    col = _jit(rng, _pick(rng, ((240, 240, 240), (235, 215, 60), (220, 60, 50))), 10)
    r = max(1.2, 0.035 * h)
    u = perf.cycle_phase(t)
    contact = perf.motion.contact
    k = np.floor(u - contact)
    since = (u - (k + contact)) * perf.period                    # seconds since release
    rel_t = (k + contact - perf.phase0) * perf.period            # release times
    rel = pose_at(rel_t)[:, wr]
    v = np.array([f * rng.uniform(1.6, 2.4), -rng.uniform(0.1, 0.5)]) * h
    g = 2.5 * h
    flying = (u - np.floor(u)) >= contact
    pos = np.where(flying[:, None],
                   rel + v * since[:, None] + np.stack([0 * since, 0.5 * g * since ** 2], -1),
                   J[:, wr])
    actor.props.append(lambda img, i, off: draw_ball(img, pos[i], r, col, off))


def _kicked_ball(rng: np.random.Generator, actor: Person, perf: sk.Performance, pose_at,
                 t: np.ndarray) -> None:
    """A ball at the foot, kicked away at each contact; the next one lies ready for the next."""
    h, f = actor.height, actor.facing
    r = max(1.5, BALL * h)
    u = perf.cycle_phase(t)
    contact = perf.motion.contact
    k = np.floor(u - contact)
    since = u - (k + contact)                                   # cycles since the last kick
    ank = INDEX["right_ankle"]
    spot_now = pose_at((k + contact - perf.phase0) * perf.period)[:, ank]
    spot_next = pose_at((k + 1 + contact - perf.phase0) * perf.period)[:, ank]

    def rest(spot):  # the ball lies just in front of the foot at contact
        return np.stack([spot[:, 0] + f * r * 0.9, np.full(len(spot), actor.ground - r)], -1)

    speed = rng.uniform(1.6, 2.6) * h
    loft = rng.uniform(0.0, 1.2) * h
    tau = since * perf.period
    rise = np.maximum(loft * tau - 1.5 * h * tau ** 2, 0)
    fly = rest(spot_now) + np.stack([f * speed * tau, -rise], -1)
    pos = np.where((since < 0.72)[:, None], fly, rest(spot_next))
    actor.props.append(lambda img, i, off: draw_ball(img, pos[i], r, (245, 245, 245), off,
                                                     patches=True))


def _ball_elsewhere(rng: np.random.Generator, scene: Scene, actor: Person) -> None:
    """A ball lying on the field away from the actor's feet."""
    h, W, H = actor.height, scene.width, scene.height
    foot_x = float(np.mean(actor.joints[:, INDEX["right_ankle"], 0]))
    for _ in range(30):
        gy = rng.uniform(scene.horizon + 0.3 * (H - scene.horizon), 0.97 * H)
        bx = rng.uniform(0.05, 0.95) * W
        if abs(bx - foot_x) > 0.7 * h + 0.15 * W:
            break
    else:
        bx = foot_x + (0.7 * h + 0.15 * W) * (1 if foot_x < W / 2 else -1)
    r = max(1.5, BALL * sk.person_height(gy, scene.horizon, H))
    draw_static_ball(scene, (bx, gy - r), r)


def _chair_under(scene: Scene, actor: Person, perf: sk.Performance, pose_at, col: Color) -> None:
    """The chair the actor sits on, its seat under the pelvis at the sitting phase."""
    h, f = actor.height, actor.facing
    u_sit = 0.5
    t_sit = (u_sit - perf.phase0) * perf.period
    sit = pose_at(np.array([t_sit]))[0]
    pelvis = 0.5 * (sit[INDEX["right_hip"]] + sit[INDEX["left_hip"]])
    seat_y = pelvis[1] + 0.05 * h
    draw_chair(scene, seat_back=pelvis[0] - f * 0.13 * h,
               seat_front=pelvis[0] + f * 0.14 * h,
               seat_y=seat_y, ground=actor.ground, back_top=seat_y - 0.3 * h, color=col)


def _chair_elsewhere(rng: np.random.Generator, scene: Scene, actor: Person, col: Color) -> None:
    """A chair standing in the room away from the actor, facing either way."""
    h, W, H = actor.height, scene.width, scene.height
    ax = float(np.mean(actor.joints[:, INDEX["neck"], 0]))
    for _ in range(30):
        gy = rng.uniform(scene.horizon + 0.35 * (H - scene.horizon), 0.97 * H)
        ch = sk.person_height(gy, scene.horizon, H) * rng.uniform(0.9, 1.1)
        cx = rng.uniform(0.08, 0.92) * W
        if abs(cx - ax) > 0.55 * h + 0.3 * ch:
            break
    else:
        gy, ch = scene.horizon + 0.45 * (H - scene.horizon), 0.0
        ch = sk.person_height(gy, scene.horizon, H)
        cx = ax + (0.55 * h + 0.3 * ch) * (1 if ax < W / 2 else -1)
    fc = 1 if rng.random() < 0.5 else -1
    seat_y = gy - (sk.SHIN + sk.SOLE - 0.01) * ch
    draw_chair(scene, seat_back=cx - fc * 0.13 * ch, seat_front=cx + fc * 0.14 * ch,
               seat_y=seat_y, ground=gy, back_top=seat_y - 0.3 * ch, color=col)


def build_clip(class_index: int, *, rng: np.random.Generator, identity_rng: np.random.Generator,
               num_frames: int, width: int, height: int, fps: int) -> Clip:
    """Sample one video of class ``class_index``. ``identity_rng`` drives what the clips of one
    group share (the actor's clothes and build); ``rng`` everything else."""
    cls = CLASSES[class_index]
    W, H, F = width, height, num_frames
    t = np.arange(F, dtype=np.float64) / fps
    identity = sample_style(identity_rng)
    build = identity_rng.uniform(0.93, 1.07)

    scene = make_scene(cls.scene, rng, W, H)
    actor, perf, pose_at, truncated = _sample_actor(cls, rng, scene, identity, build, t)
    _actor_props(cls, rng, scene, actor, perf, pose_at, t)

    # Distractors: idle or walking people elsewhere in the scene.
    people = [actor]
    n = int(rng.choice(len(P_DISTRACTORS), p=P_DISTRACTORS))
    for _ in range(n):
        people.append(_sample_distractor(cls, rng, scene, actor, t))

    occluder = None
    if rng.random() < P_OCCLUDER and not truncated:
        cx = float(np.mean(actor.joints[:, INDEX["neck"], 0]))
        occluder = make_occluder(rng, x=cx, ground=actor.ground, height=actor.height, frame_h=H)
    jitter = _camera(rng, F, fps, scene.margin)
    return Clip(cls, scene, people, occluder, jitter, fps)


def _sample_actor(cls: ActionClass, rng: np.random.Generator, scene: Scene, identity: Style,
                  build: float, t: np.ndarray):
    """The actor: performance, facing, view, place and clothes. Returns (actor, performance,
    pose_at(times) -> joints, whether the actor stands truncated at a frame edge)."""
    W, H = scene.width, scene.height
    motion = sk.MOTIONS[cls.motion]
    perf = sk.Performance.sample(motion, rng)
    facing = 1 if rng.random() < 0.5 else -1
    view = rng.uniform(*motion.view)
    ground = rng.uniform(0.8, 0.95) * H
    h = sk.person_height(ground, scene.horizon, H) * build * rng.uniform(0.94, 1.06)
    truncated = rng.random() < P_TRUNCATED
    if truncated:       # standing at a frame edge: about a quarter to half of the body cut off
        edge = rng.uniform(0.02, 0.3) * h
        x = edge if rng.random() < 0.5 else W - edge
    else:
        x = rng.uniform(0.3, 0.7) * W
        # Leave room in front for a kicked or thrown ball to travel.
        if cls.motion in ("kick", "swing_overhead"):
            x -= facing * 0.12 * W
    style = perturb_style(identity, rng, scene.ground_color)

    def pose_at(times):
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        return _perform(perf, times, facing=facing, view=view, x=x, ground=ground, height=h)

    return Person("actor", pose_at(t), style, h, facing, ground), perf, pose_at, truncated


def _sample_distractor(cls: ActionClass, rng: np.random.Generator, scene: Scene, actor: Person,
                       t: np.ndarray) -> Person:
    """An idle or walking person that keeps clear of the actor (the best of a few tries)."""
    W, H, h = scene.width, scene.height, actor.height
    actor_cx = actor.joints[:, INDEX["neck"], 0]
    role = "walk" if rng.random() < 0.5 else "idle"
    dm = sk.MOTIONS[role]
    dperf = sk.Performance.sample(dm, rng)
    dfacing = 1 if rng.random() < 0.5 else -1
    dview = rng.uniform(*dm.view)
    nearest = 0.35 if cls.scene == "room" else 0.12      # rooms are shallow
    speed = rng.uniform(0.25, 0.6) if role == "walk" else 0.0
    best = None
    for _ in range(20):
        dg = rng.uniform(scene.horizon + nearest * (H - scene.horizon), 0.97 * H)
        dh = sk.person_height(dg, scene.horizon, H) * rng.uniform(0.9, 1.1)
        dxs = rng.uniform(-0.05, 1.05) * W + dfacing * speed * dh * t
        gap = float(np.min(np.abs(dxs - actor_cx))) / (h + dh)
        if best is None or gap > best[0]:
            best = (gap, dg, dh, dxs)
        if gap > 0.4:
            break
    _, dg, dh, dxs = best
    joints = _perform(dperf, t, facing=dfacing, view=dview, x=dxs, ground=dg, height=dh)
    return Person(role, joints, sample_style(rng, scene.ground_color), dh, dfacing, dg)
