"""Pose-Aware (PA) RNN module (paper section III-E, eqs. 18-19)."""
from __future__ import annotations

import torch
from torch import nn

from pipeline.keypoints import NUM_KEYPOINTS
from pipeline.model.ta_lstm import TALSTM


def joint_heatmaps(poses: torch.Tensor, mask: torch.Tensor, size: tuple[int, int], *, centred: bool,
                   sigma: float = 1.0) -> torch.Tensor:
    """poses [B, T, N, 14, 2] in view coordinates ([-1, 1] about the centre if ``centred``, else
    [0, 1]), person mask [B, T, N] -> [B*T, 14, h, w]: for each joint type a Gaussian (``sigma`` in
    map cells) at every present person's joint, the maximum over persons."""
    h, w = size
    xy = (poses + 1) / 2 if centred else poses
    gx = (torch.arange(w, device=poses.device, dtype=poses.dtype) + 0.5) / w
    gy = (torch.arange(h, device=poses.device, dtype=poses.dtype) + 0.5) / h
    dx2 = ((xy[..., 0, None] - gx) * w).square()                          # [B, T, N, 14, w]
    dy2 = ((xy[..., 1, None] - gy) * h).square()                          # [B, T, N, 14, h]
    maps = torch.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (2 * sigma ** 2))
    maps = maps * mask[..., None, None, None].to(maps.dtype)
    return maps.amax(dim=2).flatten(0, 1)


class PoseAwareAttention(nn.Module):
    """f_t^r = Attention_r(P_t, F_mid,t) (eq. 18).

    P_t modulates the map additively: z = tanh(W_f F + W_p P_t) with P_t projected to the
    attention width and broadcast over positions, then a 1x1 conv gives one score per position and
    a softmax over positions the attention map. This is the additive form of eqs. 5 and 13 and of
    the official code. P_t is one vector per frame, so it can choose *what* to look at but not
    *where*: conv features carry no position. With ``joint_map`` (not in the paper) the key also
    gets a 1x1 projection of the joints' heatmaps on the map's grid (``joint_heatmaps``), so the
    attention can look next to a given joint (the ball at the kicking foot, the chair under the
    hips). A multiplicative gate F * W_p P_t was not chosen: a frame with nobody has
    P_t = 0 and would zero the whole map (uniform attention), while the additive form still lets
    appearance drive the map. The attended feature is the weighted sum of the unmodulated F."""

    def __init__(self, map_channels: int, query_dim: int, attn_dim: int, joint_map: bool = False):
        super().__init__()
        self.key = nn.Conv2d(map_channels, attn_dim, 1)                    # W_f
        self.query = nn.Linear(query_dim, attn_dim, bias=False)            # W_p
        self.joints = nn.Conv2d(NUM_KEYPOINTS, attn_dim, 1, bias=False) if joint_map else None
        # A bias would shift every position's score alike: the softmax ignores it.
        self.score = nn.Conv2d(attn_dim, 1, 1, bias=False)

    def forward(self, mid: torch.Tensor, fused: torch.Tensor,
                joints: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mid [B*T, C, h, w], fused P [B, T, Q], joints [B*T, 14, h, w] (with ``joint_map``) ->
        (f^r [B, T, C], attention [B, T, h, w])."""
        batch, steps = fused.shape[:2]
        key = self.key(mid)
        if self.joints is not None:
            key = key + self.joints(joints.to(key.dtype))
        z = torch.tanh(key + self.query(fused).flatten(0, 1)[..., None, None])
        scores = self.score(z).flatten(1)                                  # [B*T, h*w]
        weights = torch.softmax(scores.float(), dim=1).to(mid.dtype)
        feature = torch.einsum("mp,mcp->mc", weights, mid.flatten(2))
        return (feature.unflatten(0, (batch, steps)),
                weights.unflatten(0, (batch, steps)).unflatten(2, mid.shape[-2:]))


class PAModule(nn.Module):
    """Pose-aware attention then the relation TA-LSTM (eq. 19); unidirectional, its last output is
    the pose-aware representation h~_T^r."""

    def __init__(self, map_channels: int, query_dim: int, hidden_size: int, window: int,
                 joint_map: bool = False):
        super().__init__()
        self.attention = PoseAwareAttention(map_channels, query_dim, hidden_size, joint_map)
        self.rnn = TALSTM(map_channels, hidden_size, window, bidirectional=False)
        self.output_size = hidden_size

    def forward(self, mid: torch.Tensor, fused: torch.Tensor,
                joints: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        feature, attention = self.attention(mid, fused, joints)
        _, rep = self.rnn(feature)
        return rep, attention
