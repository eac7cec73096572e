"""How a clip is made for a model: the one owner of clip geometry (issue 27 item 1).

A ``ClipSpec`` is built once by training (from the run's settings), written into ``model.pt``
(its ``clip`` entry) and read back by evaluation and prediction, which build their clips from it
alone, the way timm's ``pretrained_cfg`` travels with a model. Checkpoints written before it
existed record the same settings loosely in their ``run`` entry: ``from_checkpoint`` rebuilds the
spec from those.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from pipeline.errors import InputError
from pipeline.pixels import InputConvention
from pipeline.pose_augment import PoseAugmentParams, parse_pose_augment
from pipeline.pose_augment import from_run_info as pose_augment_from_run_info
from pipeline.pose_inputs import PoseInputParams, parse_pose_inputs
from pipeline.pose_inputs import from_run_info as pose_inputs_from_run_info

CLIP_VIEWS = ("crop", "frame")
# The ClipSpec fields that older checkpoints record in their `run` entry (pipeline.runs.RunSpec.info),
# and that a checkpoint must record for its clips to be rebuilt.
RUN_KEYS = ("input_size", "resize_short", "num_segments")


class ClipSpecError(InputError, ValueError):
    """A clip spec (or a checkpoint's record of one) that cannot be used."""


@dataclass(frozen=True)
class ClipSpec:
    input_size: int                        # crop view: the side of the square crops
    resize_short: int                      # crop view: evaluation resizes the short side to this, then centre-crops
    num_segments: int = 0                  # T: TSN segments per video, one frame each (0: not recorded)
    view: str = "crop"                     # crop: square input_size crops (the paper's) | frame: the whole frame
    frame_size: tuple[int, int] = (128, 96)  # view frame: (width, height) of the model's input
    crop_scales: tuple[float, ...] = (1.0,)  # training: crop sides as fractions of the short side
    flip_prob: float = 0.0                 # training: probability of a horizontal flip
    pose_inputs: PoseInputParams = field(default_factory=PoseInputParams)      # missing-joint filling, coordinates
    pose_augment: PoseAugmentParams = field(default_factory=PoseAugmentParams)  # its view (crop | person) and,
    #                                                                            in training, its augmentations
    input_convention: InputConvention | None = None  # the backbone's pixels (None: no backbone, or not recorded)

    def __post_init__(self):
        if self.view not in CLIP_VIEWS:
            raise ClipSpecError(f"clip view must be one of {CLIP_VIEWS}, got {self.view!r}")
        for name in ("input_size", "resize_short"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ClipSpecError(f"clip {name} must be a positive integer, got {value!r}")
        if isinstance(self.num_segments, bool) or not isinstance(self.num_segments, int) or self.num_segments < 0:
            raise ClipSpecError(f"clip num_segments must be an integer >= 0, got {self.num_segments!r}")
        if len(self.frame_size) != 2:
            raise ClipSpecError(f"clip frame_size must be (width, height), got {self.frame_size!r}")

    @property
    def view_frame_size(self) -> tuple[int, int] | None:
        """ClipDataset's ``frame_size``: the model's input size for the frame view, None for crops."""
        return tuple(self.frame_size) if self.view == "frame" else None

    def dataset_settings(self) -> dict:
        """The keyword arguments of pipeline.data.ClipDataset that this spec decides."""
        return dict(input_size=self.input_size, resize_short=self.resize_short, crop_scales=self.crop_scales,
                    flip_prob=self.flip_prob, pose_augment=self.pose_augment, pose_inputs=self.pose_inputs,
                    frame_size=self.view_frame_size)

    def to_dict(self) -> dict:
        """Plain types only (a weights-only checkpoint loads it)."""
        d = asdict(self)
        d["frame_size"], d["crop_scales"] = list(self.frame_size), list(self.crop_scales)
        if self.input_convention is not None:
            d["input_convention"] = self.input_convention.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClipSpec":
        if not isinstance(d, dict):
            raise ClipSpecError(f"a clip spec must be a mapping, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ClipSpecError(f"unknown clip spec key(s) {unknown}")
        try:
            convention = d.get("input_convention")
            return cls(input_size=int(d["input_size"]), resize_short=int(d["resize_short"]),
                       num_segments=int(d.get("num_segments", 0)), view=str(d.get("view", "crop")),
                       frame_size=tuple(int(v) for v in d.get("frame_size", (128, 96))),
                       crop_scales=tuple(float(v) for v in d.get("crop_scales", (1.0,))),
                       flip_prob=float(d.get("flip_prob", 0.0)),
                       pose_inputs=parse_pose_inputs(d.get("pose_inputs")),
                       pose_augment=parse_pose_augment(d.get("pose_augment")),
                       input_convention=None if convention is None else InputConvention.from_dict(convention))
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ClipSpecError):
                raise
            raise ClipSpecError(f"unreadable clip spec {d!r}: {err}") from None

    @classmethod
    def from_settings(cls, s, *, num_segments: int = 0, pose_augment: PoseAugmentParams | None = None,
                      pose_inputs: PoseInputParams | None = None,
                      input_convention: InputConvention | None = None) -> "ClipSpec":
        """The spec of a run's training settings ``s`` (pipeline.params.TrainParams or any object
        with its clip fields: input_size, resize_short, crop_scales, flip_prob, view, frame_size)."""
        return cls(input_size=int(s.input_size), resize_short=int(s.resize_short), num_segments=int(num_segments),
                   view=s.view, frame_size=tuple(int(v) for v in s.frame_size),
                   crop_scales=tuple(float(v) for v in s.crop_scales), flip_prob=float(s.flip_prob),
                   pose_inputs=pose_inputs if pose_inputs is not None else PoseInputParams(),
                   pose_augment=pose_augment if pose_augment is not None else PoseAugmentParams(),
                   input_convention=input_convention)

    @classmethod
    def from_run_info(cls, run: dict | None, input_convention: dict | None = None) -> "ClipSpec":
        """The spec of a checkpoint written before ClipSpec, from its ``run`` entry: its input_size,
        resize_short and num_segments (ClipSpecError naming the missing ones), view (absent: crop, all
        models trained before train.view existed saw square crops), frame_size, pose_augment (absent:
        the defaults) and pose_inputs (absent: zeros in [0, 1], what models before it were fed). The
        training-only crop scales and flips are not recorded: evaluation uses neither."""
        run = run or {}
        missing = [k for k in RUN_KEYS if k not in run]
        if missing:
            raise ClipSpecError(f"the checkpoint does not record {', '.join(missing)}")
        d = {k: run[k] for k in (*RUN_KEYS, "view", "frame_size") if k in run}
        spec = cls.from_dict({**d, "input_convention": input_convention})
        return replace(spec, pose_augment=pose_augment_from_run_info(run),
                       pose_inputs=pose_inputs_from_run_info(run))

    @classmethod
    def from_checkpoint(cls, ckpt: dict, settings=None) -> "ClipSpec":
        """The spec a checkpoint's model was trained with: its ``clip`` entry, or for a checkpoint
        from before ClipSpec its ``run`` entry (from_run_info). ``settings`` (the evaluating run's
        TrainParams): for a checkpoint whose run does not record its clip sizes, the sizes of those
        settings (what evaluation used before checkpoints recorded them), with the checkpoint's pose
        settings; without ``settings`` such a checkpoint is a ClipSpecError."""
        if ckpt.get("clip") is not None:
            return cls.from_dict(ckpt["clip"])
        run = ckpt.get("run") or {}
        if settings is not None and any(k not in run for k in RUN_KEYS):
            recorded = ckpt.get("input_convention")
            return cls.from_settings(settings, num_segments=int(run.get("num_segments", 0)),
                                     pose_augment=pose_augment_from_run_info(run),
                                     pose_inputs=pose_inputs_from_run_info(run),
                                     input_convention=None if recorded is None else InputConvention.from_dict(recorded))
        return cls.from_run_info(run, ckpt.get("input_convention"))
