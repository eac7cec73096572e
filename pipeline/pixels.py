"""How a backbone wants its pixels: the input convention (channel order, scale, mean and std) that
its pretrained weights were trained with, and the one function that applies it to decoded frames.

Frames leave the loader as uint8 RGB; ``to_pixels`` turns them into what the first convolution
expects. Getting this wrong does not crash, it silently wastes the pretrained weights: Caffe-converted
BN-Inception weights fed RGB in [0, 1] see red and blue swapped and a scale ~58x too small."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class InputConvention:
    channels: str                        # "RGB" | "BGR": order of the channels the first conv sees
    scale: float                         # value of a white pixel before mean/std: 1.0 or 255.0
    mean: tuple[float, float, float]     # per channel, in ``channels`` order, on that scale
    std: tuple[float, float, float]

    def __post_init__(self):
        if self.channels not in ("RGB", "BGR"):
            raise ValueError(f"input convention: channels must be RGB or BGR, got {self.channels!r}")
        if not self.scale > 0 or len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"input convention: bad scale/mean/std {self.scale!r} {self.mean!r} {self.std!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "InputConvention":
        return cls(channels=str(d["channels"]), scale=float(d["scale"]),
                   mean=tuple(float(v) for v in d["mean"]), std=tuple(float(v) for v in d["std"]))


# torchvision's ImageNet models (and every model this project trained before conventions were
# recorded, whatever its backbone): RGB in [0, 1], ImageNet mean and std.
RGB_IMAGENET = InputConvention("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
# Caffe-trained BN-Inception (and its PyTorch conversions used by TSN/TSM): BGR in [0, 255],
# mean (104, 117, 128) for (B, G, R), no std.
CAFFE_BGR = InputConvention("BGR", 255.0, (104.0, 117.0, 128.0), (1.0, 1.0, 1.0))


def to_pixels(frames: torch.Tensor, convention: InputConvention) -> torch.Tensor:
    """uint8 RGB [..., 3, H, W] -> float32 in ``convention``."""
    x = frames.float()
    if convention.scale != 255.0:
        x = x / (255.0 / convention.scale)   # scale 1: exactly x / 255
    if convention.channels == "BGR":
        x = x.flip(-3)
    mean = torch.tensor(convention.mean, device=frames.device).view(3, 1, 1)
    std = torch.tensor(convention.std, device=frames.device).view(3, 1, 1)
    return (x - mean) / std
