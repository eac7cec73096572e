"""2D CNN backbones of the SA and PA modules. ``backbone(x) -> (mid, last)`` with x [M, 3, H, W]:
``mid`` is the stride-16 map the pose-aware attention looks at, ``last`` the stride-32 map of the
appearance stream (None when built with ``with_last=False``: a variant without the SA module).

Each backbone class declares ``input_convention`` (pipeline.pixels): the channel order, scale and
mean/std its pretrained weights expect; the data path, checkpoints and predict follow it."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.model_config import BACKBONES
from pipeline.model.efficientnet_lite import EfficientNetLite0, efficientnet_lite0_weights_path
from pipeline.model.resnet import TorchvisionResNet
from pipeline.pixels import CAFFE_BGR, RGB_IMAGENET

# BN-Inception (Ioffe & Szegedy 2015, Fig. 5 / the Caffe model): per block, the channels of
# 1x1, (3x3 reduce, 3x3), (double 3x3 reduce, double 3x3), pool projection, pooling kind.
# A stride-2 block (3c, 4e) has no 1x1 branch and no projection; its pool branch is a max pool.
_INCEPTION = (
    ("inception_3a", 192, 64, (64, 64), (64, 96), 32, "avg", 1),
    ("inception_3b", 256, 64, (64, 96), (64, 96), 64, "avg", 1),
    ("inception_3c", 320, 0, (128, 160), (64, 96), 0, "max", 2),
    ("inception_4a", 576, 224, (64, 96), (96, 128), 128, "avg", 1),
    ("inception_4b", 576, 192, (96, 128), (96, 128), 128, "avg", 1),
    ("inception_4c", 576, 160, (128, 160), (128, 160), 128, "avg", 1),
    ("inception_4d", 608, 96, (128, 192), (160, 192), 128, "avg", 1),
    ("inception_4e", 608, 0, (128, 192), (192, 256), 0, "max", 2),
    ("inception_5a", 1056, 352, (192, 320), (160, 224), 128, "avg", 1),
    ("inception_5b", 1024, 352, (192, 320), (192, 224), 128, "max", 1),
)
# The mid-level tap of the PA module: inception_4e/double_3x3_1, 14x14x256 for a 224 input.
BNINCEPTION_MID = "inception_4e_double_3x3_1"


def _pool_same(x: torch.Tensor, kind: str, stride: int) -> torch.Tensor:
    if stride == 1:
        if kind == "avg":
            return F.avg_pool2d(x, 3, 1, 1, count_include_pad=True)
        return F.max_pool2d(x, 3, 1, 1)
    # Caffe's ceil-mode 3x3/2 max pool; an odd side is padded by one (-inf) row/column at the end
    # so that the pool branch keeps the size of the stride-2 conv branches (identical at 224).
    x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), value=float("-inf"))
    return F.max_pool2d(x, 3, 2, ceil_mode=True)


class BNInception(nn.Module):
    """BN-Inception with the flat layer names of the common Caffe-converted PyTorch weights
    (``conv1_7x7_s2``, ``conv1_7x7_s2_bn``, ``inception_3a_1x1``, ...), so such a state_dict (its
    ``last_linear`` classifier is ignored) loads as is. Convolutions keep their Caffe biases.

    mid = ``inception_4e/double_3x3_1`` (after BN-ReLU): 256 channels at stride 16, 14x14 at 224.
    The paper's "inception-4e, 14x14x256" names exactly this map, and it is the one the official
    code taps (TF Mixed_5a, branch 1, the 3x3 conv before the stride-2 conv). inception_4e's own
    output is 7x7x1056 (the block has stride 2); the last 14x14 block output, inception_4d, has 608.
    last = inception_5b: 7x7x1024."""

    mid_channels = 256
    out_channels = 1024
    input_convention = CAFFE_BGR  # the Caffe model's: BGR, 0-255, mean (104, 117, 128), std 1

    def __init__(self, with_last: bool = True):
        super().__init__()
        self.with_last = with_last
        self._conv("conv1_7x7_s2", 3, 64, 7, 2, 3)
        self._conv("conv2_3x3_reduce", 64, 64, 1)
        self._conv("conv2_3x3", 64, 192, 3, 1, 1)
        for name, cin, c1, (r3, c3), (rd, cd), proj, _, stride in _INCEPTION:
            if name == "inception_4e" and not with_last:
                self._conv(f"{name}_double_3x3_reduce", cin, rd, 1)
                self._conv(f"{name}_double_3x3_1", rd, cd, 3, 1, 1)
                break
            if c1:
                self._conv(f"{name}_1x1", cin, c1, 1)
            self._conv(f"{name}_3x3_reduce", cin, r3, 1)
            self._conv(f"{name}_3x3", r3, c3, 3, stride, 1)
            self._conv(f"{name}_double_3x3_reduce", cin, rd, 1)
            self._conv(f"{name}_double_3x3_1", rd, cd, 3, 1, 1)
            self._conv(f"{name}_double_3x3_2", cd, cd, 3, stride, 1)
            if proj:
                self._conv(f"{name}_pool_proj", cin, proj, 1)

    def _conv(self, name: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0):
        self.add_module(name, nn.Conv2d(cin, cout, k, stride, pad))
        self.add_module(f"{name}_bn", nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor):
        x = self._run("conv1_7x7_s2", x)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = self._run("conv2_3x3", self._run("conv2_3x3_reduce", x))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        mid = None
        for name, _, c1, _, _, proj, pool, stride in _INCEPTION:
            double = self._run(f"{name}_double_3x3_1", self._run(f"{name}_double_3x3_reduce", x))
            if name == "inception_4e":
                mid = double
                if not self.with_last:
                    return mid, None
            branches = [self._run(f"{name}_1x1", x)] if c1 else []
            branches.append(self._run(f"{name}_3x3", self._run(f"{name}_3x3_reduce", x)))
            branches.append(self._run(f"{name}_double_3x3_2", double))
            pooled = _pool_same(x, pool, stride)
            branches.append(self._run(f"{name}_pool_proj", pooled) if proj else pooled)
            x = torch.cat(branches, dim=1)
        return mid, x

    def _run(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)), inplace=True)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNetTiny(nn.Module):
    """A small ResNet for CPU runs: a stride-2 stem of ``width`` channels, then four stages of one
    basic block each, every one of stride 2, with widths w, 2w, 4w, 8w. mid = stage 3 (stride 16,
    4w channels), last = stage 4 (stride 32, 8w channels). It is trained from scratch; its
    convention is the one every run used before conventions existed (the default run's numbers
    depend on it)."""

    input_convention = RGB_IMAGENET

    def __init__(self, width: int = 16, with_last: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        widths = (width, width, 2 * width, 4 * width, 8 * width)
        stages = 4 if with_last else 3
        self.stages = nn.ModuleList(BasicBlock(widths[i], widths[i + 1], 2) for i in range(stages))
        self.mid_channels = 4 * width
        self.out_channels = 8 * width

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        for stage in self.stages[:3]:
            x = stage(x)
        return x, (self.stages[3](x) if len(self.stages) > 3 else None)


def build_backbone(name: str, width: int = 16, with_last: bool = True) -> nn.Module:
    if name == "bninception":
        return BNInception(with_last=with_last)
    if name == "resnet_tiny":
        return ResNetTiny(width, with_last=with_last)
    if name in ("resnet18", "resnet50"):
        return TorchvisionResNet(int(name[len("resnet"):]), with_last=with_last)
    if name == "efficientnet_lite0":
        return EfficientNetLite0(with_last=with_last)
    raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")


# Keys of an ImageNet classifier that a backbone state_dict may carry; they are ignored.
CLASSIFIER_PREFIXES = ("last_linear.", "fc.", "classifier.", "_fc.")

# model.pretrained may name weights that an installed package ships instead of giving a path.
PRETRAINED_NAMES = {"efficientnet_lite0": efficientnet_lite0_weights_path}


def resolve_pretrained(value) -> Path:
    """The file of ``model.pretrained``: a known name (PRETRAINED_NAMES: the package's file, its
    sha256 checked) or else a path."""
    if isinstance(value, str) and value in PRETRAINED_NAMES:
        return PRETRAINED_NAMES[value]()
    return Path(value)


def read_state_dict(path, name: str) -> dict[str, torch.Tensor]:
    """The torch-saved state_dict at ``path`` (weights-only unpickling; a ``{"state_dict": ...}``
    wrapper is unwrapped); errors name the file. ``path`` may be a name of PRETRAINED_NAMES."""
    path = resolve_pretrained(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: {path} does not exist (expected a torch-saved "
                                f"state_dict of the {name} backbone)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise ValueError(f"model.pretrained: {path} is not a torch-saved state_dict ({err})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"model.pretrained: {path} does not hold a state_dict (a dict of tensors)")
    return state


def load_backbone_weights(backbone: nn.Module, path, *, name: str, width: int = 16) -> None:
    """Load a torch-saved state_dict of the backbone from ``path`` (weights-only unpickling).

    Ignored: classifier keys (CLASSIFIER_PREFIXES), keys of the part of the full backbone that a
    truncated one (``with_last=False``) lacks, and missing BN ``num_batches_tracked`` counters.
    A tensor stored with an extra leading dimension of 1 is squeezed (TSN's Caffe-converted
    BN-Inception file keeps BN vectors as [1, C]). Anything else missing, unexpected or of the
    wrong shape is an error naming the file and keys. ``path`` may be a name of PRETRAINED_NAMES."""
    state = read_state_dict(path, name)   # resolves a name (and checks its sha256) once
    own = backbone.state_dict()
    state = {k: v[0] if k in own and v.dim() == own[k].dim() + 1 and v.shape[0] == 1
             and v.shape[1:] == own[k].shape else v for k, v in state.items()}
    with torch.device("meta"):
        full = set(build_backbone(name, width, with_last=True).state_dict())
    state = {k: v for k, v in state.items()
             if not k.startswith(CLASSIFIER_PREFIXES) and (k in own or k not in full)}
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{label} {len(keys)}: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}"
                 for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                     ("shape mismatches", shapes)) if keys]
        raise ValueError(f"model.pretrained: {path} does not fit the {name} backbone"
                         f"{f' (width {width})' if name == 'resnet_tiny' else ''}: " + "; ".join(parts))
    backbone.load_state_dict(state, strict=False)
