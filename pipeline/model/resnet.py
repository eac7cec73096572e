"""torchvision's ResNet-18 and ResNet-50 (V1.5: the stride on the 3x3 conv) written out with the
same module names, so torchvision's ImageNet state_dicts (``resnet18-f37072fd.pth``,
``resnet50-0676ba61.pth``, ``resnet50-11ad3fa6.pth``) load key for key: ``conv1``, ``bn1``,
``layer1.0.conv1``, ..., ``layer2.0.downsample.0`` (the ``fc`` classifier is not part of the
backbone; pipeline.imagenet_check uses it). No torchvision import.

mid = layer3 (stride 16: 256 channels for ResNet-18, 1024 for ResNet-50); last = layer4 (stride 32:
512 / 2048 channels). Built with ``with_last=False`` (a variant without the SA module) it stops
after layer3."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.pixels import RGB_IMAGENET


class _Basic(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)), inplace=True)


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)), inplace=True)


def _downsample(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


# depth -> (block, blocks per stage)
_LAYOUTS = {18: (_Basic, (2, 2, 2, 2)), 50: (_Bottleneck, (3, 4, 6, 3))}


class TorchvisionResNet(nn.Module):
    """``backbone(x) -> (layer3 map, layer4 map or None)`` with torchvision's parameter names."""

    input_convention = RGB_IMAGENET

    def __init__(self, depth: int, with_last: bool = True):
        super().__init__()
        if depth not in _LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(_LAYOUTS)}, got {depth}")
        block, counts = _LAYOUTS[depth]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (width, count) in enumerate(zip((64, 128, 256, 512), counts), start=1):
            if i == 4 and not with_last:
                break
            blocks = []
            for j in range(count):
                blocks.append(block(cin, width, 2 if (j == 0 and i > 1) else 1))
                cin = width * block.expansion
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        self.mid_channels = 256 * block.expansion
        self.out_channels = 512 * block.expansion
        self.with_last = with_last
        for m in self.modules():  # torchvision's initialisation (used when no weights are loaded)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x)), inplace=True), 3, 2, 1)
        mid = self.layer3(self.layer2(self.layer1(x)))
        return mid, (self.layer4(mid) if self.with_last else None)
