"""Pose-Aware (PA) RNN module (paper section III-E, eqs. 18-19)."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.model.ta_lstm import TALSTM


class PoseAwareAttention(nn.Module):
    """f_t^r = Attention_r(P_t, F_mid,t) (eq. 18).

    P_t modulates the map additively: z = tanh(W_f F + W_p P_t) with P_t projected to the
    attention width and broadcast over positions, then a 1x1 conv gives one score per position and
    a softmax over positions the attention map. This is the additive form of eqs. 5 and 13 and of
    the official code. A multiplicative gate F * W_p P_t was not chosen: a frame with nobody has
    P_t = 0 and would zero the whole map (uniform attention), while the additive form still lets
    appearance drive the map. The attended feature is the weighted sum of the unmodulated F."""

    def __init__(self, map_channels: int, query_dim: int, attn_dim: int):
        super().__init__()
        self.key = nn.Conv2d(map_channels, attn_dim, 1)                    # W_f
        self.query = nn.Linear(query_dim, attn_dim, bias=False)            # W_p
        # A bias would shift every position's score alike: the softmax ignores it.
        self.score = nn.Conv2d(attn_dim, 1, 1, bias=False)

    def forward(self, mid: torch.Tensor, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mid [B*T, C, h, w], fused P [B, T, Q] -> (f^r [B, T, C], attention [B, T, h, w])."""
        batch, steps = fused.shape[:2]
        z = torch.tanh(self.key(mid) + self.query(fused).flatten(0, 1)[..., None, None])
        scores = self.score(z).flatten(1)                                  # [B*T, h*w]
        weights = torch.softmax(scores.float(), dim=1).to(mid.dtype)
        feature = torch.einsum("mp,mcp->mc", weights, mid.flatten(2))
        return (feature.unflatten(0, (batch, steps)),
                weights.unflatten(0, (batch, steps)).unflatten(2, mid.shape[-2:]))


class PAModule(nn.Module):
    """Pose-aware attention then the relation TA-LSTM (eq. 19); unidirectional, its last output is
    the pose-aware representation h~_T^r."""

    def __init__(self, map_channels: int, query_dim: int, hidden_size: int, window: int):
        super().__init__()
        self.attention = PoseAwareAttention(map_channels, query_dim, hidden_size)
        self.rnn = TALSTM(map_channels, hidden_size, window, bidirectional=False)
        self.output_size = hidden_size

    def forward(self, mid: torch.Tensor, fused: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature, attention = self.attention(mid, fused)
        _, rep = self.rnn(feature)
        return rep, attention
