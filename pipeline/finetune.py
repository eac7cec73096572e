"""Fine-tuning an ImageNet-pretrained backbone, as TSN does (Wang et al., ECCV 2016, sec. 3.2, and
its code), applied by training only when ``model.pretrained`` is set:

- partial BN: every BatchNorm of the backbone but the first keeps its ImageNet statistics (eval
  mode) and its affine parameters (no gradient). The first one adapts to the new input
  distribution. A clip batch is a few videos x 16 highly correlated frames, so its statistics are
  poor estimates of the population's and would overwrite ImageNet's.
- the backbone learns at ``backbone_lr_mult`` x the learning rate of the new layers (the TMP, SA
  and PA modules and the heads, trained from scratch)."""
from __future__ import annotations

from torch import nn


def partial_bn(backbone: nn.Module) -> int:
    """Freeze every BatchNorm of ``backbone`` after the first in module order (the first conv's
    BN for every backbone here): eval mode and no gradient for weight and bias. Idempotent; call
    it again after each ``model.train()``, which puts them back in training mode. Returns how many
    were frozen."""
    norms = [m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms[1:]:
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return max(len(norms) - 1, 0)


def freeze(backbone: nn.Module) -> int:
    """Freeze the whole backbone: eval mode (every BN keeps its ImageNet statistics) and no
    gradient for any parameter, so autograd keeps no activations and runs no backward through it.
    Call it again after each ``model.train()``. Returns how many parameters were frozen."""
    backbone.eval()
    params = list(backbone.parameters())
    for p in params:
        p.requires_grad_(False)
    return len(params)


def param_groups(model: nn.Module, backbone: nn.Module, lr: float, backbone_lr_mult: float) -> list[dict]:
    """Optimizer groups: the new layers at ``lr`` first (the lr that is logged), then the
    backbone at ``lr * backbone_lr_mult``; frozen parameters are left out."""
    in_backbone = {id(p) for p in backbone.parameters()}
    new = [p for p in model.parameters() if id(p) not in in_backbone and p.requires_grad]
    pretrained = [p for p in backbone.parameters() if p.requires_grad]
    return [{"params": new, "lr": lr}] + ([{"params": pretrained, "lr": lr * backbone_lr_mult}] if pretrained else [])
