"""Model configuration (the ``model:`` section of params.yaml)."""
from __future__ import annotations

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
    backbone: str = "bninception"    # bninception | resnet_tiny | resnet18 | resnet50 | efficientnet_lite0
    backbone_width: int = 16         # base width of the small backbones
    pretrained: str | None = None    # path of a backbone state_dict file, or efficientnet_lite0 (the pip wheel's)
    hidden_size: int = 512           # TA-LSTM hidden size (paper 512)
    window: int = 5                  # TA-LSTM sliding window n (0 = plain LSTM)
    person_fusion: str = "attention" # attention | sum
    num_persons: int = 4
    part_hidden: int = 32
    part_dim: int = 100
    pose_dim: int = 512
    appearance_dim: int = 512
    bidirectional: bool = True
    dropout: float = 0.5
    joint_visibility: bool = False   # the pose RNN also reads per-joint visibility (pipeline/pose_inputs.py)
    pa_joint_map: bool = False       # PA attention also sees where the joints are (not in the paper; pa.py)
    pose_centred: bool = False       # pose coordinates in [-1, 1] about the view's centre (pose_inputs.centre), else [0, 1]

    def __post_init__(self):
        self.validate()

    @property
    def streams(self) -> tuple[str, ...]:
        return VARIANT_STREAMS[self.variant]

    def validate(self) -> None:
        def positive_int(name: str, minimum: int = 1):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"model.{name} must be an integer >= {minimum}, got {value!r}")

        for name in ("num_classes", "backbone_width", "hidden_size", "num_persons", "part_hidden",
                     "part_dim", "pose_dim", "appearance_dim"):
            positive_int(name)
        positive_int("window", minimum=0)
        if self.variant not in VARIANT_STREAMS:
            raise ValueError(f"model.variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"model.backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.person_fusion not in PERSON_FUSIONS:
            raise ValueError(f"model.person_fusion must be one of {PERSON_FUSIONS}, "
                             f"got {self.person_fusion!r}")
        if self.pretrained is not None and (not isinstance(self.pretrained, (str, os.PathLike))
                                            or not str(self.pretrained)):
            raise ValueError(f"model.pretrained must be null, the path of a backbone state_dict "
                             f"file or efficientnet_lite0, got {self.pretrained!r}")
        for name in ("pa_joint_map", "pose_centred"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"model.{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.joint_visibility, bool):
            raise ValueError(f"model.joint_visibility must be true or false, got {self.joint_visibility!r}")
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"model.bidirectional must be true or false, got {self.bidirectional!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be a number in [0, 1), got {self.dropout!r}")
