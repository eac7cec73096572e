"""Model configuration: ModelConfig, and ModelParams (the ``model:`` section of params.yaml: the
same fields, less the three a run derives from its data and pose sections)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

# Which representations (and so which classification heads) each variant has; "concat" is always
# present (paper Table I rows: TMP, SA, TMP+SA, PARNet; tmp_pa is TMP+PA without the global F).
VARIANT_STREAMS = {
    "tmp": ("pose", "motion"),
    "sa": ("appearance",),
    "tmp_sa": ("pose", "motion", "appearance"),
    "tmp_pa": ("pose", "motion", "relation"),
    "parnet": ("pose", "motion", "relation", "appearance"),
}
VARIANTS = tuple(VARIANT_STREAMS)
BACKBONES = ("bninception", "resnet_tiny", "resnet18", "resnet50", "efficientnet_lite0")
PERSON_FUSIONS = ("attention", "sum")


@dataclass(frozen=True)
class ModelConfig:
    num_classes: int
    variant: str = "parnet"          # tmp | sa | tmp_sa | tmp_pa | parnet
    backbone: str = "efficientnet_lite0"  # bninception | resnet_tiny | resnet18 | resnet50 | efficientnet_lite0
    backbone_width: int = 16         # base width of the small backbones
    pretrained: str | None = "efficientnet_lite0"  # a backbone state_dict file, efficientnet_lite0 (the wheel's) or None
    hidden_size: int = 128           # TA-LSTM hidden size (paper 512)
    window: int = 5                  # TA-LSTM sliding window n (0 = plain LSTM)
    person_fusion: str = "attention" # attention | sum
    num_persons: int = 4             # from pose.max_persons
    part_hidden: int = 32
    part_dim: int = 100
    pose_dim: int = 128              # paper 512
    appearance_dim: int = 128        # paper 512
    bidirectional: bool = True
    dropout: float = 0.5
    joint_visibility: bool = True    # the pose RNN also reads per-joint visibility (pipeline/pose_inputs.py)
    pa_joint_map: bool = True        # PA attention also sees where the joints are (not in the paper; pa.py)
    pose_centred: bool = False       # pose coordinates in [-1, 1] about the view's centre, else [0, 1] (pose_inputs.centre)

    def __post_init__(self):
        self.validate()

    @property
    def streams(self) -> tuple[str, ...]:
        return VARIANT_STREAMS[self.variant]

    def validate(self) -> None:
        _validate(self)


def _validate(cfg) -> None:
    """Checks of ModelConfig's fields, on a ModelConfig or a ModelParams (which lacks DERIVED)."""
    def positive_int(name: str, minimum: int = 1):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"model.{name} must be an integer >= {minimum}, got {value!r}")

    for name in ("num_classes", "backbone_width", "hidden_size", "num_persons", "part_hidden",
                 "part_dim", "pose_dim", "appearance_dim"):
        if hasattr(cfg, name):
            positive_int(name)
    positive_int("window", minimum=0)
    if cfg.variant not in VARIANT_STREAMS:
        raise ValueError(f"model.variant must be one of {VARIANTS}, got {cfg.variant!r}")
    if cfg.backbone not in BACKBONES:
        raise ValueError(f"model.backbone must be one of {BACKBONES}, got {cfg.backbone!r}")
    if cfg.person_fusion not in PERSON_FUSIONS:
        raise ValueError(f"model.person_fusion must be one of {PERSON_FUSIONS}, "
                         f"got {cfg.person_fusion!r}")
    if cfg.pretrained is not None and (not isinstance(cfg.pretrained, (str, os.PathLike))
                                        or not str(cfg.pretrained)):
        raise ValueError(f"model.pretrained must be null, the path of a backbone state_dict "
                         f"file or efficientnet_lite0, got {cfg.pretrained!r}")
    for name in ("pa_joint_map", "pose_centred"):
        if hasattr(cfg, name) and not isinstance(getattr(cfg, name), bool):
            raise ValueError(f"model.{name} must be true or false, got {getattr(cfg, name)!r}")
    if not isinstance(cfg.joint_visibility, bool):
        raise ValueError(f"model.joint_visibility must be true or false, got {cfg.joint_visibility!r}")
    if not isinstance(cfg.bidirectional, bool):
        raise ValueError(f"model.bidirectional must be true or false, got {cfg.bidirectional!r}")
    if isinstance(cfg.dropout, bool) or not isinstance(cfg.dropout, (int, float)) \
            or not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"model.dropout must be a number in [0, 1), got {cfg.dropout!r}")


# ModelConfig's fields that a run takes from elsewhere, not from `model:` (pipeline.runs.run_spec).
DERIVED = {"num_classes": "the run's index", "num_persons": "pose.max_persons", "pose_centred": "pose_inputs.centre"}

# A checkpoint written before one of these fields existed holds a model built without it: its value
# then (model_io.load_model), whatever today's default.
LEGACY = {"pretrained": None, "joint_visibility": False, "pa_joint_map": False, "pose_centred": False}


def _model_params_post_init(self) -> None:
    _validate(self)


def _model_params_config(self, *, num_classes: int, num_persons: int, pose_centred: bool) -> ModelConfig:
    """The ModelConfig of a run with ``num_classes`` classes, ``num_persons`` person slots and
    ``pose_centred`` pose coordinates."""
    return ModelConfig(num_classes=num_classes, num_persons=num_persons, pose_centred=pose_centred,
                       **dataclasses.asdict(self))


# The `model:` section of params.yaml: ModelConfig's fields and defaults, less DERIVED (one definition).
ModelParams = dataclasses.make_dataclass(
    "ModelParams",
    [(f.name, f.type, dataclasses.field(default=f.default)) for f in dataclasses.fields(ModelConfig)
     if f.name not in DERIVED],
    frozen=True, namespace={"__post_init__": _model_params_post_init, "config": _model_params_config,
                            "__module__": __name__,
                            "__doc__": "The `model:` section of params.yaml: ModelConfig less its DERIVED fields."})
