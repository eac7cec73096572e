"""Spatial Appearance (SA) CNN module head (paper section III-D, eq. 17)."""
from __future__ import annotations

import torch
from torch import nn


class SAModule(nn.Module):
    """F = AvgPool(TemporalConv(v_s^T F_5b)) followed by dropout.

    v_s is a 1x1 convolution to ``appearance_dim`` channels, W_t a kernel-3 convolution over the T
    frames with 'same' (zero) padding. As in eq. 17 there is no non-linearity between them."""

    def __init__(self, in_channels: int, appearance_dim: int, dropout: float):
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, appearance_dim, 1)                     # v_s
        self.temporal = nn.Conv3d(appearance_dim, appearance_dim, (3, 1, 1), padding=(1, 0, 0))  # W_t
        self.dropout = nn.Dropout(dropout)

    def forward(self, last: torch.Tensor, steps: int) -> torch.Tensor:
        """last [B*T, C, h, w] (frames of a clip consecutive) -> F [B, appearance_dim]."""
        x = self.reduce(last)
        x = x.unflatten(0, (-1, steps)).transpose(1, 2)                              # [B, D, T, h, w]
        return self.dropout(self.temporal(x).mean(dim=(2, 3, 4)))
