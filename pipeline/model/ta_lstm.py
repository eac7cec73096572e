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
    The arithmetic is CellGroup's (a group of one cell).
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
        return _squeezed(CellGroup([self]).init_state(batch, like))

    def forward(self, x: torch.Tensor, state: TAState) -> tuple[torch.Tensor, TAState]:
        """x [B, input_size], state of [B, ...] tensors (init_state)."""
        group = CellGroup([self])
        out, state = group.step(group.project(x[None]), _unsqueezed(state))
        return out[0], _squeezed(state)


def _unsqueezed(state: TAState) -> TAState:
    add = lambda t: None if t is None else t[None]
    return TAState(add(state.h), add(state.c), add(state.att), [add(k) for k in state.keys],
                   [add(v) for v in state.values])


def _squeezed(state: TAState) -> TAState:
    drop = lambda t: None if t is None else t[0]
    return TAState(drop(state.h), drop(state.c), drop(state.att), [drop(k) for k in state.keys],
                   [drop(v) for v in state.values])


def stacked_weight(layers) -> torch.Tensor:
    """The weights of K nn.Linear layers of one shape as [K, in, out], for torch.bmm/baddbmm."""
    return torch.stack([layer.weight for layer in layers]).transpose(1, 2)


def stacked_bias(layers) -> torch.Tensor:
    """Their biases as [K, 1, out], broadcast over a batch by baddbmm."""
    return torch.stack([layer.bias for layer in layers])[:, None]


class CellGroup:
    """K TA-LSTM cells of one shape stepped in lockstep, e.g. the two directions of a
    bidirectional layer: every tensor carries the cell on a leading axis [K, B, ...], and each
    layer of the step is one batched matmul over the K cells' stacked weights. Built per sequence
    from the cells' own parameters (gradients reach them through the stacking): the same
    arithmetic as K separate cells, in a K-th of the operations, which is what a step costs at
    these sizes on a CPU."""

    def __init__(self, cells):
        first = cells[0]
        self.window, self.hidden_size = first.window, first.hidden_size

        def weight(name):
            return stacked_weight([getattr(c, name) for c in cells])

        def bias(name):
            return stacked_bias([getattr(c, name) for c in cells])

        self.gate_x, self.gate_x_bias, self.gate_h = weight("gate_x"), bias("gate_x"), weight("gate_h")
        if self.window > 0:
            self.in_x, self.in_x_bias, self.in_att = weight("in_x"), bias("in_x"), weight("in_att")
            self.att_key, self.att_query, self.att_query_bias = weight("att_key"), weight("att_query"), bias("att_query")
            self.att_score = weight("att_score")[:, None]                       # [K, 1, H, 1]
            self.out, self.out_bias = weight("out"), bias("out")

    def init_state(self, batch: int, like: torch.Tensor) -> TAState:
        zeros = like.new_zeros(self.gate_h.shape[0], batch, self.hidden_size)
        return TAState(zeros, zeros, zeros if self.window > 0 else None, [], [])

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The part of a step that depends on x_t alone: [K, ..., input_size] -> [K, ..., width]."""
        w, b = (self.in_x, self.in_x_bias) if self.window > 0 else (self.gate_x, self.gate_x_bias)
        flat = x.reshape(x.shape[0], -1, x.shape[-1])
        return torch.baddbmm(b, flat, w).reshape(*x.shape[:-1], w.shape[-1])

    def step(self, px: torch.Tensor, state: TAState) -> tuple[torch.Tensor, TAState]:
        """px [K, B, width] (project), state of [K, B, ...] tensors -> (out [K, B, H], state)."""
        if self.window > 0:
            x_prime = torch.baddbmm(px, state.att, self.in_att)                           # eq. 1
            gates = torch.baddbmm(torch.baddbmm(self.gate_x_bias, x_prime, self.gate_x),
                                  state.h, self.gate_h)                                    # eq. 2
        else:
            gates = torch.baddbmm(px, state.h, self.gate_h)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)      # eq. 3
        h = torch.sigmoid(o) * torch.tanh(c)                                   # eq. 4: the new c_t
        if self.window == 0:
            return h, TAState(h, c, None, [], [])

        if state.values:  # the first steps attend over the fewer outputs that exist
            keys = torch.stack(state.keys, dim=2)                              # [K, B, k, A]
            values = torch.stack(state.values, dim=2)                          # [K, B, k, H]
            query = torch.baddbmm(self.att_query_bias, torch.cat([h, c], dim=-1), self.att_query)
            scores = torch.matmul(torch.tanh(keys + query.unsqueeze(2)), self.att_score).squeeze(-1)  # eq. 5
            weights = torch.softmax(scores, dim=2)                                                   # eq. 6
            att = torch.matmul(weights.unsqueeze(2), values).squeeze(2)                              # eq. 7
        else:
            att = torch.zeros_like(h)
        out = torch.baddbmm(self.out_bias, torch.cat([h, att], dim=-1), self.out)   # eq. 8
        keys = (state.keys + [torch.bmm(out, self.att_key)])[-self.window:]
        values = (state.values + [out])[-self.window:]
        return out, TAState(h, c, att, keys, values)


class TALSTM(nn.Module):
    """A TA-LSTM layer over a whole sequence [B, T, D] -> outputs [B, T, H] (bidirectional: the
    forward and backward outputs, both in the input's time order, concatenated on the last axis).

    The backward direction runs its own cell on the time-reversed sequence, in lockstep with the
    forward one (CellGroup); its outputs are re-reversed so that index t of both halves refers to
    frame t."""

    def __init__(self, input_size: int, hidden_size: int, window: int, bidirectional: bool):
        super().__init__()
        self.forward_cell = TALSTMCell(input_size, hidden_size, window)
        self.backward_cell = TALSTMCell(input_size, hidden_size, window) if bidirectional else None
        self.output_size = hidden_size * (2 if bidirectional else 1)

    @staticmethod
    def run_cells(cells, xs: torch.Tensor) -> torch.Tensor:
        """Each of K cells over its own sequence: xs [K, B, T, D] -> outputs [K, B, T, H]."""
        group = CellGroup(cells)
        projected = group.project(xs)
        state = group.init_state(xs.shape[1], projected)
        outs = []
        for t in range(xs.shape[2]):
            out, state = group.step(projected[:, :, t], state)
            outs.append(out)
        return torch.stack(outs, dim=2)

    @staticmethod
    def run_cell(cell: TALSTMCell, x: torch.Tensor) -> torch.Tensor:
        return TALSTM.run_cells([cell], x[None])[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (outputs [B, T, output_size], representation [B, output_size]): the last forward
        output, and for a bidirectional layer the last backward output (frame 0) after it."""
        if self.backward_cell is None:
            fwd = self.run_cell(self.forward_cell, x)
            return fwd, fwd[:, -1]
        fwd, bwd = self.run_cells([self.forward_cell, self.backward_cell], torch.stack([x, x.flip(1)]))
        bwd = bwd.flip(1)
        return torch.cat([fwd, bwd], dim=-1), torch.cat([fwd[:, -1], bwd[:, 0]], dim=-1)
