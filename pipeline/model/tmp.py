"""Temporal Multi-Pose (TMP) RNN module (paper section III-C, eqs. 11-16)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pipeline.keypoints import BODY_PART, LIMB_PARTS, NUM_KEYPOINTS
from pipeline.model.ta_lstm import TALSTM, CellGroup, TALSTMCell, stacked_bias, stacked_weight


class PartEncoder(nn.Module):
    """Multi-pose encoding layer (eqs. 11-12): [..., 14, 2] -> [..., pose_dim].

    Follows the official code's grouping rather than a single shared MLP for all five parts (the
    body part has 4 joints, the limbs 3): the four limbs share one encoder (6 -> part_hidden ReLU
    -> part_dim tanh), the body part (head top, neck, both shoulders) has its own (8 -> ... -> ...),
    and the five codes are concatenated and projected 5 * part_dim -> pose_dim (eq. 12, no bias)."""

    def __init__(self, part_hidden: int, part_dim: int, pose_dim: int):
        super().__init__()
        self.register_buffer("limb_index", torch.tensor(LIMB_PARTS), persistent=False)
        self.register_buffer("body_index", torch.tensor(BODY_PART), persistent=False)
        self.limb = self._mlp(2 * len(LIMB_PARTS[0]), part_hidden, part_dim)
        self.body = self._mlp(2 * len(BODY_PART), part_hidden, part_dim)
        self.project = nn.Linear((len(LIMB_PARTS) + 1) * part_dim, pose_dim, bias=False)

    @staticmethod
    def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
        # eq. 11: tanh(W_2 relu(W_1 l) + b); W_1 has no bias.
        return nn.Sequential(nn.Linear(inp, hidden, bias=False), nn.ReLU(),
                             nn.Linear(hidden, out), nn.Tanh())

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        lead = poses.shape[:-2]
        limbs = poses[..., self.limb_index, :].reshape(*lead, len(LIMB_PARTS), -1)
        body = poses[..., self.body_index, :].reshape(*lead, -1)
        codes = torch.cat([self.limb(limbs).flatten(-2), self.body(body)], dim=-1)
        return self.project(codes)


class PersonAttention(nn.Module):
    """Attentional pose selection (eq. 13), additive like eq. 5: score_n = v^T tanh(W_p p_n + W_q q).
    Absent persons are masked out of the softmax; a frame with nobody gets all-zero weights, so its
    fused vector is zero (not NaN)."""

    def __init__(self, pose_dim: int, query_dim: int, attn_dim: int):
        super().__init__()
        self.key = nn.Linear(pose_dim, attn_dim)
        self.query = nn.Linear(query_dim, attn_dim, bias=False)
        self.score = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, keys: torch.Tensor, persons: torch.Tensor, query: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keys = self.key(persons) (precomputed for all frames), persons [B, N, D], query [B, Q],
        mask [B, N] -> (fused [B, D], weights [B, N])."""
        scores = self.score(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(-1).float()
        weights = masked_softmax(scores, mask).to(persons.dtype)
        return (weights.unsqueeze(-1) * persons).sum(1), weights


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over the True entries of ``mask``; exactly 0 elsewhere, and all 0 where nothing is
    True (a finite fill value rather than -inf keeps both the values and the gradients NaN-free)."""
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask


@dataclass
class TMPOutput:
    pose: torch.Tensor            # [B, dirs * H] pose representation h~_T^p
    motion: torch.Tensor          # [B, dirs * H] motion representation h~_T^v
    fused: torch.Tensor           # [B, T, fused_dim] pose-fusion vectors P_t
    person_weights: torch.Tensor  # [B, T, N]


class TMPModule(nn.Module):
    """Pose encoding, per-step person selection driving the pose TA-LSTM (eqs. 13-14), and the
    motion TA-LSTM over P_t - P_{t-1} (eqs. 15-16); both bidirectional when configured.

    With attention fusion each direction selects persons with its own previous output as the
    query (eq. 13), so the two directions have their own P_t; the time-aligned pair is
    concatenated into the P_t used downstream (motion RNN, pose-aware attention) and the reported
    person weights are the mean of the two directions' weights. With sum fusion (Table II) P_t is
    the sum of the present persons' codes.

    Beyond the paper (pipeline/pose_inputs.py): with ``joint_visibility`` the pose TA-LSTM also
    reads the selected persons' per-joint visibility (1 reported, 0 filled), so it knows what was
    filled; it enters the pose RNN's input beside P_t, not P_t itself, so that a joint's flicker
    does not become motion for the motion stream. A frame with nobody, or one after it, gives the
    motion stream a zero difference instead of a jump to or from the empty P_t."""

    def __init__(self, *, part_hidden: int, part_dim: int, pose_dim: int, hidden_size: int,
                 window: int, bidirectional: bool, person_fusion: str, joint_visibility: bool = False):
        super().__init__()
        self.encoder = PartEncoder(part_hidden, part_dim, pose_dim)
        self.person_fusion = person_fusion
        self.joint_visibility = joint_visibility
        directions = 2 if bidirectional else 1
        rnn_in = pose_dim + (NUM_KEYPOINTS if joint_visibility else 0)
        if person_fusion == "attention":
            self.pose_cells = nn.ModuleList(TALSTMCell(rnn_in, hidden_size, window)
                                            for _ in range(directions))
            self.person_attention = nn.ModuleList(PersonAttention(pose_dim, hidden_size, hidden_size)
                                                  for _ in range(directions))
            self.fused_dim = directions * pose_dim
        else:
            self.pose_rnn = TALSTM(rnn_in, hidden_size, window, bidirectional)
            self.fused_dim = pose_dim
        self.motion_rnn = TALSTM(self.fused_dim, hidden_size, window, bidirectional)
        self.output_size = directions * hidden_size

    def forward(self, poses: torch.Tensor, mask: torch.Tensor,
                visibility: torch.Tensor | None = None) -> TMPOutput:
        """poses [B, T, N, 14, 2], mask [B, T, N] bool, visibility [B, T, N, 14] (with
        joint_visibility; None: every joint counts as reported)."""
        # Padded persons are zeroed so that nothing about them (not even NaN) reaches the output.
        poses = poses.masked_fill(~mask[..., None, None], 0.0)
        persons = self.encoder(poses)                                        # [B, T, N, D]
        vis = None
        if self.joint_visibility:
            vis = poses.new_ones(poses.shape[:-1]) if visibility is None else visibility.to(poses.dtype)
            vis = vis.masked_fill(~mask[..., None], 0.0)
        if self.person_fusion == "attention":
            pose_rep, fused, weights = self._attend_and_run(persons, mask, vis)
        else:
            fused = (persons * mask.unsqueeze(-1)).sum(2)
            weights = mask.to(persons.dtype)
            rnn_in = fused
            if vis is not None:
                share = weights / weights.sum(-1, keepdim=True).clamp_min(1.0)
                rnn_in = torch.cat([fused, (share.unsqueeze(-1) * vis).sum(2)], -1)
            _, pose_rep = self.pose_rnn(rnn_in)
        anyone = mask.any(-1)
        both = (anyone[:, 1:] & anyone[:, :-1]).unsqueeze(-1).to(fused.dtype)
        _, motion_rep = self.motion_rnn((fused[:, 1:] - fused[:, :-1]) * both)   # eq. 15
        return TMPOutput(pose_rep, motion_rep, fused, weights)

    def _attend_and_run(self, persons, mask, vis):
        """Person selection and the pose TA-LSTM, both directions in lockstep (CellGroup): the
        backward one steps through the time-reversed inputs."""
        directions = len(self.pose_cells)

        def in_order(x):  # [K, B, T, ...]: each direction's inputs in its own time order
            return torch.stack([x, x.flip(1)][:directions])

        persons_k, mask_k = in_order(persons), in_order(mask)
        vis_k = in_order(vis) if vis is not None else None
        cells, attention = CellGroup(list(self.pose_cells)), _AttentionGroup(self.person_attention)
        keys = attention.keys(persons_k)
        state = cells.init_state(persons.shape[0], persons)
        out = state.h  # zeros: the query of the first step
        fused, weights = [], []
        for t in range(persons.shape[1]):
            fused_t, weights_t = attention(keys[:, :, t], persons_k[:, :, t], out, mask_k[:, :, t])
            step_in = fused_t
            if vis_k is not None:
                step_in = torch.cat([step_in, torch.matmul(weights_t.unsqueeze(2), vis_k[:, :, t]).squeeze(2)], -1)
            out, state = cells.step(cells.project(step_in), state)              # eq. 14
            fused.append(fused_t)
            weights.append(weights_t)
        fused, weights = torch.stack(fused, 2), torch.stack(weights, 2)
        # back to frame order; each direction's last output (frame T-1 forward, frame 0 backward)
        fused = [fused[0]] + [f.flip(1) for f in fused[1:]]
        weights = [weights[0]] + [w.flip(1) for w in weights[1:]]
        return torch.cat(list(out), -1), torch.cat(fused, -1), torch.stack(weights).mean(0)


class _AttentionGroup:
    """The PersonAttention of each direction stepped in lockstep, like CellGroup: inputs [K, B, ...],
    one batched matmul per layer over the stacked weights."""

    def __init__(self, attentions):
        self.key = stacked_weight([a.key for a in attentions])                          # [K, D, A]
        self.key_bias = stacked_bias([a.key for a in attentions])                       # [K, 1, A]
        self.query = stacked_weight([a.query for a in attentions])                      # [K, Q, A]
        self.score = stacked_weight([a.score for a in attentions])[:, None]             # [K, 1, A, 1]

    def keys(self, persons: torch.Tensor) -> torch.Tensor:
        """[K, B, T, N, D] -> [K, B, T, N, A] (W_p p_n + b for every frame at once)."""
        flat = persons.reshape(persons.shape[0], -1, persons.shape[-1])
        return torch.baddbmm(self.key_bias, flat, self.key).reshape(*persons.shape[:-1], -1)

    def __call__(self, keys, persons, query, mask):
        """keys [K, B, N, A], persons [K, B, N, D], query [K, B, Q], mask [K, B, N] -> (fused
        [K, B, D], weights [K, B, N]), as PersonAttention.forward per direction."""
        z = torch.tanh(keys + torch.bmm(query, self.query).unsqueeze(2))
        scores = torch.matmul(z, self.score).squeeze(-1).float()
        weights = masked_softmax(scores, mask).to(persons.dtype)
        return torch.matmul(weights.unsqueeze(2), persons).squeeze(2), weights
