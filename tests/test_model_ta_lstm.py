"""TA-LSTM (paper eqs. 1-10): plain-LSTM limit, attention over the window, time order."""
from __future__ import annotations

import torch

from pipeline.model.ta_lstm import TALSTM, TALSTMCell


def run(cell: TALSTMCell, x: torch.Tensor) -> torch.Tensor:
    return TALSTM.run_cell(cell, x)


def test_window_zero_is_an_lstm_cell_with_the_same_weights():
    torch.manual_seed(0)
    cell = TALSTMCell(6, 8, window=0)
    for p in cell.parameters():  # non-zero everywhere, so no weight can silently go unused
        torch.nn.init.uniform_(p, -0.5, 0.5)
    lstm = torch.nn.LSTMCell(6, 8)
    with torch.no_grad():
        lstm.weight_ih.copy_(cell.gate_x.weight)
        lstm.bias_ih.copy_(cell.gate_x.bias)
        lstm.weight_hh.copy_(cell.gate_h.weight)
        lstm.bias_hh.zero_()
    x = torch.randn(3, 7, 6)
    h = c = torch.zeros(3, 8)
    expected = []
    for t in range(7):
        h, c = lstm(x[:, t], (h, c))
        expected.append(h)
    torch.testing.assert_close(run(cell, x), torch.stack(expected, 1), atol=1e-6, rtol=0)
    assert not hasattr(cell, "att_score")  # no attention term at all


def reference(cell: TALSTMCell, x: torch.Tensor) -> torch.Tensor:
    """Eqs. 1-8 written out with the concatenated weight matrices of the paper."""
    n, H = cell.window, cell.hidden_size
    W_i = torch.cat([cell.in_x.weight, cell.in_att.weight], 1)
    W = torch.cat([cell.gate_x.weight, cell.gate_h.weight], 1)
    B = x.shape[0]
    h, c, att = torch.zeros(B, H), torch.zeros(B, H), torch.zeros(B, H)
    outputs = []
    for t in range(x.shape[1]):
        xp = torch.cat([x[:, t], att], 1) @ W_i.T + cell.in_x.bias                     # eq. 1
        z = torch.cat([xp, h], 1) @ W.T + cell.gate_x.bias                              # eq. 2
        i, f, g, o = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H]), \
            torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
        c = f * c + i * g                                                               # eq. 3
        h = o * torch.tanh(c)                                                           # eq. 4
        window = outputs[max(0, t - n):t]
        if window:
            query = torch.cat([h, c], 1) @ cell.att_query.weight.T + cell.att_query.bias
            u = torch.stack([torch.tanh(cell.att_key.weight @ hi.T + query.T).T @ cell.att_score.weight[0]
                             for hi in window], 1)                                      # eq. 5
            a = torch.softmax(u, 1)                                                     # eq. 6
            att = sum(a[:, k:k + 1] * hi for k, hi in enumerate(window))                # eq. 7
        else:
            att = torch.zeros(B, H)
        outputs.append(torch.cat([h, att], 1) @ cell.out.weight.T + cell.out.bias)       # eq. 8
    return torch.stack(outputs, 1)


def test_cell_follows_equations_1_to_8():
    torch.manual_seed(1)
    cell = TALSTMCell(5, 6, window=3)
    x = torch.randn(2, 7, 5)
    torch.testing.assert_close(run(cell, x), reference(cell, x), atol=1e-5, rtol=1e-5)


def test_first_steps_attend_over_the_outputs_that_exist():
    torch.manual_seed(2)
    wide = TALSTMCell(4, 6, window=5)
    narrow = TALSTMCell(4, 6, window=1)
    narrow.load_state_dict(wide.state_dict())
    x = torch.randn(2, 5, 4)
    out_wide, out_narrow = run(wide, x), run(narrow, x)
    # Step 0 has nothing to attend over, step 1 has one output: the window size cannot matter yet.
    torch.testing.assert_close(out_wide[:, :2], out_narrow[:, :2], atol=1e-6, rtol=0)
    # From step 2 on, window 5 attends over two outputs and window 1 over one.
    assert (out_wide[:, 2] - out_narrow[:, 2]).abs().max() > 1e-4


def test_window_slides_and_holds_the_last_n_outputs():
    torch.manual_seed(3)
    cell = TALSTMCell(4, 6, window=3)
    x = torch.randn(2, 7, 4)
    state = cell.init_state(2, x)
    outs = []
    for t in range(7):
        out, state = cell(x[:, t], state)
        outs.append(out)
        assert len(state.values) == min(t + 1, 3)
    for kept, out in zip(state.values, outs[-3:]):
        assert torch.equal(kept, out)


def test_bidirectional_backward_direction_sees_reversed_time():
    torch.manual_seed(4)
    layer = TALSTM(4, 6, window=2, bidirectional=True)
    x = torch.randn(2, 5, 4)
    outs, rep = layer(x)
    fwd, bwd = outs[..., :6], outs[..., 6:]
    # the two directions run in lockstep (CellGroup): each as its cell alone would
    torch.testing.assert_close(fwd, run(layer.forward_cell, x))
    torch.testing.assert_close(bwd, run(layer.backward_cell, x.flip(1)).flip(1))
    torch.testing.assert_close(rep, torch.cat([fwd[:, -1], bwd[:, 0]], -1))

    late = x.clone()
    late[:, -1] += 1.0  # a change at the last frame reaches the backward direction first
    outs_late, _ = layer(late)
    torch.testing.assert_close(outs_late[:, :-1, :6], fwd[:, :-1], atol=0, rtol=0)
    assert (outs_late[:, 0, 6:] - bwd[:, 0]).abs().max() > 1e-5
    assert (outs_late[:, -1, 6:] - bwd[:, -1]).abs().max() > 1e-5

    early = x.clone()
    early[:, 0] += 1.0  # ... and a change at the first frame reaches it last
    outs_early, _ = layer(early)
    torch.testing.assert_close(outs_early[:, 1:, 6:], bwd[:, 1:], atol=0, rtol=0)
    assert (outs_early[:, -1, :6] - fwd[:, -1]).abs().max() > 1e-5


def test_unidirectional_representation_is_the_last_output():
    torch.manual_seed(5)
    layer = TALSTM(4, 6, window=2, bidirectional=False)
    x = torch.randn(2, 5, 4)
    outs, rep = layer(x)
    assert outs.shape == (2, 5, 6) and layer.output_size == 6
    torch.testing.assert_close(rep, outs[:, -1])
