"""The synthetic action classes: which scene, body motion and object each one uses.

The classes are built in pairs so that neither stream alone separates all of them:

* same scene, different motion (only the pose stream tells them apart reliably);
* same motion, different scene and held object (only appearance tells them apart);
* same motion and scene, different relation between the actor and an object (where the actor is
  relative to the chair or the ball).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionClass:
    name: str
    scene: str     # scene.SCENES key
    motion: str    # skeleton.MOTIONS key
    prop: str      # racket | bowling_ball | throw_ball | soccer_ball | chair | none
    relation: str  # for soccer_ball and chair: at_foot | under (touching) or away (elsewhere)
    cue: str       # what tells the class apart, for the generated README


CLASSES: tuple[ActionClass, ...] = (
    ActionClass("tennis_forehand", "court", "swing_low", "racket", "",
                "low back-to-front arm swing with a racket on a tennis court; the same scene "
                "as tennis_serve (motion needed), the same motion as bowling (scene/object "
                "needed)"),
    ActionClass("tennis_serve", "court", "swing_overhead", "racket", "",
                "overhead windmill swing with a racket on a tennis court; the same scene as "
                "tennis_forehand (motion needed), the same motion as throw_ball (scene/object "
                "needed)"),
    ActionClass("bowling", "lane", "swing_low", "bowling_ball", "",
                "low back-to-front arm swing holding a bowling ball on a bowling lane; the same "
                "motion as tennis_forehand (scene/object needed)"),
    ActionClass("throw_ball", "park", "swing_overhead", "throw_ball", "",
                "overhead windmill swing that releases a small ball, in a park; the same motion "
                "as tennis_serve (scene/object needed), the same scene as wave and jumping_jack "
                "(motion needed)"),
    ActionClass("kick_ball", "field", "kick", "soccer_ball", "at_foot",
                "leg kick on a football field with the ball at the kicking foot, which flies "
                "off at contact; the same motion and scene as kick_air (the actor-ball relation "
                "is needed)"),
    ActionClass("kick_air", "field", "kick", "soccer_ball", "away",
                "the same leg kick on a football field, with the ball lying elsewhere, untouched "
                "(the actor-ball relation is needed), or no ball at all (half of the videos)"),
    ActionClass("sit_on_chair", "room", "lower", "chair", "under",
                "lowering the hips to seat height in a room, onto a chair; the same motion and "
                "scene as squat (the actor-chair relation is needed)"),
    ActionClass("squat", "room", "lower", "chair", "away",
                "the same lowering of the hips in a room, in the open: the chair stands elsewhere "
                "(the actor-chair relation is needed) or is absent (half of the videos)"),
    ActionClass("wave", "park", "wave", "none", "",
                "one arm raised, the forearm waving side to side, in a park; the same scene as "
                "jumping_jack and throw_ball (motion needed)"),
    ActionClass("jumping_jack", "park", "jumping_jack", "none", "",
                "arms and legs spread and closed with small jumps, in a park; the same scene as "
                "wave and throw_ball (motion needed)"),
)

CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
BY_NAME = {c.name: c for c in CLASSES}
