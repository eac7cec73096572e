"""Temporal Attention LSTM (paper section III-B, eqs. 1-10).

Gate rows are ordered (i, f, g, o) as in torch.nn.LSTMCell (g is the candidate c-hat of eq. 2), so
with window 0 the cell's weights load straight into an LSTMCell. The state starts at zeros (the
official code's learned initial state and layer-normalised cell are not in the paper).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TAState:
    """S_t of eq. 10: (h_t, c_t), the attention vector h'_t and the window H~_t of past outputs
    (``values``) with their attention keys W'_1 h~_i, oldest first."""
    h: torch.Tensor
    c: torch.Tensor
    att: torch.Tensor | None
    keys: list
    values: list


class TALSTMCell(nn.Module):
    """One TA-LSTM step: ``out, state = cell(x_t, state)``.

    ``window`` is the sliding window n. With n = 0 there is nothing to attend over: eqs. 1 and 5-8
    vanish, the input goes straight to the gates and the output is h_t, i.e. a plain LSTM cell.
    """

    def __init__(self, input_size: int, hidden_size: int, window: int):
        super().__init__()
        self.input_size, self.hidden_size, self.window = input_size, hidden_size, window
        if window > 0:
            # W_i of eq. 1, split column-wise into its x_t and h'_{t-1} blocks so that the x_t block
            # can run once over the whole sequence.
            self.in_x = nn.Linear(input_size, hidden_size)
            self.in_att = nn.Linear(hidden_size, hidden_size, bias=False)
            self.att_key = nn.Linear(hidden_size, hidden_size, bias=False)      # W'_1 (eq. 5)
            self.att_query = nn.Linear(2 * hidden_size, hidden_size)            # W'_2 (eq. 5)
            self.att_score = nn.Linear(hidden_size, 1, bias=False)              # v (eq. 5)
            self.out = nn.Linear(2 * hidden_size, hidden_size)                  # W_o (eq. 8)
            gate_in = hidden_size
        else:
            gate_in = input_size
        # W of eq. 2, split into its x'_t and h_{t-1} blocks.
        self.gate_x = nn.Linear(gate_in, 4 * hidden_size)
        self.gate_h = nn.Linear(hidden_size, 4 * hidden_size, bias=False)

    def init_state(self, batch: int, like: torch.Tensor) -> TAState:
        zeros = like.new_zeros(batch, self.hidden_size)
        return TAState(zeros, zeros, zeros if self.window > 0 else None, [], [])

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """The part of the step that depends on x_t alone; works on [..., input_size]."""
        return self.in_x(x) if self.window > 0 else self.gate_x(x)

    def forward(self, x: torch.Tensor, state: TAState) -> tuple[torch.Tensor, TAState]:
        return self.step_projected(self.project_input(x), state)

    def step_projected(self, px: torch.Tensor, state: TAState) -> tuple[torch.Tensor, TAState]:
        if self.window > 0:
            x_prime = px + self.in_att(state.att)                              # eq. 1
            gates = self.gate_x(x_prime) + self.gate_h(state.h)                # eq. 2
        else:
            gates = px + self.gate_h(state.h)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)      # eq. 3
        h = torch.sigmoid(o) * torch.tanh(c)                                   # eq. 4: the new c_t
        if self.window == 0:
            return h, TAState(h, c, None, [], [])

        if state.values:  # the first steps attend over the fewer outputs that exist
            keys = torch.stack(state.keys, dim=1)                              # [B, k, A]
            values = torch.stack(state.values, dim=1)                          # [B, k, H]
            query = self.att_query(torch.cat([h, c], dim=-1))
            scores = self.att_score(torch.tanh(keys + query.unsqueeze(1))).squeeze(-1)  # eq. 5
            weights = torch.softmax(scores, dim=1)                                       # eq. 6
            att = (weights.unsqueeze(-1) * values).sum(1)                                # eq. 7
        else:
            att = torch.zeros_like(h)
        out = self.out(torch.cat([h, att], dim=-1))                            # eq. 8
        keys = (state.keys + [self.att_key(out)])[-self.window:]
        values = (state.values + [out])[-self.window:]
        return out, TAState(h, c, att, keys, values)


class TALSTM(nn.Module):
    """A TA-LSTM layer over a whole sequence [B, T, D] -> outputs [B, T, H] (bidirectional: the
    forward and backward outputs, both in the input's time order, concatenated on the last axis).

    The backward direction runs its own cell on the time-reversed sequence; its outputs are
    re-reversed so that index t of both halves refers to frame t."""

    def __init__(self, input_size: int, hidden_size: int, window: int, bidirectional: bool):
        super().__init__()
        self.forward_cell = TALSTMCell(input_size, hidden_size, window)
        self.backward_cell = TALSTMCell(input_size, hidden_size, window) if bidirectional else None
        self.output_size = hidden_size * (2 if bidirectional else 1)

    @staticmethod
    def run_cell(cell: TALSTMCell, x: torch.Tensor) -> torch.Tensor:
        projected = cell.project_input(x)
        state = cell.init_state(x.shape[0], projected)
        outs = []
        for t in range(x.shape[1]):
            out, state = cell.step_projected(projected[:, t], state)
            outs.append(out)
        return torch.stack(outs, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (outputs [B, T, output_size], representation [B, output_size]): the last forward
        output, and for a bidirectional layer the last backward output (frame 0) after it."""
        fwd = self.run_cell(self.forward_cell, x)
        if self.backward_cell is None:
            return fwd, fwd[:, -1]
        bwd = self.run_cell(self.backward_cell, x.flip(1)).flip(1)
        return torch.cat([fwd, bwd], dim=-1), torch.cat([fwd[:, -1], bwd[:, 0]], dim=-1)
