"""Check downloaded ImageNet backbone weights through the project's own preprocessing: the
backbone file's own ImageNet classifier (``last_linear``, ``fc`` or ``_fc``) ranks the 1000 classes for one
image, seen as evaluation sees a frame (short side ``resize_short``, centre ``size`` crop:
pipeline.data's ``center_view``/``apply_view_image``) and turned into pixels by the backbone's input
convention (pipeline.pixels, as training's ``to_model_inputs``). Right weights with the right
convention name the object in the image with confidence; a wrong channel order or scale shows at
once as nonsense classes, and the same image with red and blue swapped is ranked beside it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.data import apply_view_image, center_view, normalize_frames
from pipeline.model.backbones import CLASSIFIER_PREFIXES, build_backbone, load_backbone_weights, read_state_dict
from pipeline.pixels import InputConvention

NUM_IMAGENET_CLASSES = 1000


@dataclass
class Ranked:
    index: int
    probability: float
    name: str | None = None


def read_class_names(path: str | Path | None, count: int = NUM_IMAGENET_CLASSES) -> list[str] | None:
    """One class name per line, in the classifier's index order (None: no file)."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: class names file not found (one name per line, {count} lines)")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) != count:
        raise ValueError(f"{path}: {len(names)} class names for a {count}-class classifier; give one per line")
    return names


def classifier_of(state: dict[str, torch.Tensor], path, out_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [K, C], bias [K]) of the file's ImageNet classifier, kept although training drops it."""
    for prefix in CLASSIFIER_PREFIXES:
        weight, bias = state.get(prefix + "weight"), state.get(prefix + "bias")
        if weight is not None and bias is not None:
            weight, bias = weight.reshape(weight.shape[0], -1).float(), bias.reshape(-1).float()
            if weight.shape[1] != out_channels or bias.shape[0] != weight.shape[0]:
                raise ValueError(f"{path}: classifier {prefix}weight {tuple(weight.shape)} does not fit a "
                                 f"{out_channels}-channel backbone output")
            return weight, bias
    raise ValueError(f"{path}: no ImageNet classifier ({', '.join(p + 'weight' for p in CLASSIFIER_PREFIXES)}) "
                     f"in the file; the check needs the file as downloaded")


def image_pixels(image: Image.Image, convention: InputConvention, *, size: int = 224,
                 resize_short: int = 256) -> torch.Tensor:
    """[1, 3, size, size] float: the evaluation view of ``image`` in ``convention``."""
    view = center_view(image.width, image.height, size, resize_short)
    array = np.asarray(apply_view_image(image.convert("RGB"), view))
    return normalize_frames(torch.from_numpy(array.copy()).permute(2, 0, 1)[None], convention)


def load_imagenet_model(weights: str | Path, backbone: str):
    """(backbone in eval mode with the file's weights, classifier weight, classifier bias)."""
    net = build_backbone(backbone, with_last=True)
    load_backbone_weights(net, weights, name=backbone)
    weight, bias = classifier_of(read_state_dict(weights, backbone), weights, net.out_channels)
    return net.eval(), weight, bias


@torch.no_grad()
def imagenet_probabilities(net, weight: torch.Tensor, bias: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Softmax over the classifier's classes: global average pool of the stride-32 map, then the
    linear classifier (as the Caffe BN-Inception, torchvision's ResNets and EfficientNet end)."""
    _, last = net(pixels)
    return torch.softmax(last.mean((2, 3)) @ weight.T + bias, dim=1)[0]


def top_classes(probs: torch.Tensor, k: int, names: list[str] | None = None) -> list[Ranked]:
    values, order = probs.topk(min(k, probs.numel()))
    return [Ranked(int(i), float(p), names[int(i)] if names else None) for p, i in zip(values, order)]


def swap_red_blue(image: Image.Image) -> Image.Image:
    r, g, b = image.convert("RGB").split()
    return Image.merge("RGB", (b, g, r))
