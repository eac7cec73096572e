"""TMP module (paper eqs. 11-16): part encoding, masked person selection, pose and motion RNNs."""
from __future__ import annotations

import pytest
import torch

from pipeline.model.tmp import PartEncoder, PersonAttention, TMPModule, masked_softmax


def make_tmp(fusion: str = "attention", bidirectional: bool = True, window: int = 2) -> TMPModule:
    return TMPModule(part_hidden=8, part_dim=10, pose_dim=12, hidden_size=16, window=window,
                     bidirectional=bidirectional, person_fusion=fusion)


def test_part_encoder_groups_joints_as_the_official_code():
    torch.manual_seed(0)
    enc = PartEncoder(8, 10, 12)
    poses = torch.rand(3, 14, 2)

    def mlp(layers, v):  # eq. 11: tanh(W2 relu(W1 l) + b)
        return torch.tanh(layers[2](torch.relu(v @ layers[0].weight.T)))

    parts = [poses[:, [0, 1, 2]], poses[:, [3, 4, 5]], poses[:, [6, 7, 8]], poses[:, [9, 10, 11]]]
    codes = [mlp(enc.limb, p.flatten(1)) for p in parts]
    codes.append(mlp(enc.body, poses[:, [12, 13, 0, 3]].flatten(1)))
    expected = torch.cat(codes, 1) @ enc.project.weight.T                   # eq. 12, no bias
    torch.testing.assert_close(enc(poses), expected)
    assert enc.project.bias is None and enc.limb[0].bias is None


def test_masked_softmax_zero_for_absent_and_for_empty_frames():
    scores = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, -1e30, 2.0]], requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
    w = masked_softmax(scores, mask)
    assert w[0, 1] == 0 and torch.allclose(w[0].sum(), torch.tensor(1.0))
    torch.testing.assert_close(w[0, [0, 2]], torch.softmax(scores[0, [0, 2]], 0))
    assert torch.equal(w[1], torch.zeros(3))
    w.sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_person_attention_ignores_padded_persons():
    torch.manual_seed(1)
    att = PersonAttention(12, 16, 16)
    persons = torch.randn(2, 3, 12)
    mask = torch.tensor([[True, False, True], [True, True, False]])
    query = torch.randn(2, 16)
    fused, w = att(att.key(persons), persons, query, mask)
    assert (w[~mask] == 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(2))
    torch.testing.assert_close(fused, (w.unsqueeze(-1) * persons).sum(1))
    assert w[0, 0] != w[0, 2]  # really attention, not a uniform average


@pytest.mark.parametrize("fusion", ["attention", "sum"])
def test_frame_with_nobody_gives_zero_pose_vector_and_finite_outputs(fusion):
    torch.manual_seed(2)
    tmp = make_tmp(fusion)
    poses = torch.rand(2, 4, 3, 14, 2)
    mask = torch.ones(2, 4, 3, dtype=torch.bool)
    mask[:, :, 2] = False
    mask[0, 1] = False  # nobody in frame 1 of clip 0
    out = tmp(poses, mask)
    assert torch.equal(out.fused[0, 1], torch.zeros_like(out.fused[0, 1]))
    assert (out.fused[0, 0] != 0).any()
    assert torch.equal(out.person_weights[0, 1], torch.zeros(3))
    assert (out.person_weights[:, :, 2] == 0).all()
    (out.pose.sum() + out.motion.sum()).backward()
    for name, p in tmp.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_sum_fusion_is_the_masked_sum_of_codes():
    torch.manual_seed(3)
    tmp = make_tmp("sum")
    poses = torch.rand(1, 3, 3, 14, 2)
    mask = torch.tensor([[[True, True, False], [True, False, False], [False, True, True]]])
    out = tmp(poses, mask)
    codes = tmp.encoder(poses)
    expected = torch.stack([codes[0, t][mask[0, t]].sum(0) for t in range(3)])
    torch.testing.assert_close(out.fused[0], expected)
    torch.testing.assert_close(out.person_weights, mask.float())


def test_attention_fusion_bidirectional_shapes_and_weights():
    torch.manual_seed(4)
    tmp = make_tmp("attention", bidirectional=True)
    poses, mask = torch.rand(2, 5, 3, 14, 2), torch.rand(2, 5, 3) > 0.3
    mask[..., 0] = True
    out = tmp(poses, mask)
    assert out.pose.shape == out.motion.shape == (2, 32)
    assert out.fused.shape == (2, 5, 24)  # forward and backward P_t, time-aligned
    torch.testing.assert_close(out.person_weights.sum(-1), torch.ones(2, 5))
    # The backward half of P_t at the last frame is selected with a zero query (its first step),
    # the forward half with the forward cell's output: recompute both from the module's parts.
    codes = tmp.encoder(poses)
    zero = torch.zeros(2, 16)
    att_f, att_b = tmp.person_attention
    first_f, _ = att_f(att_f.key(codes[:, 0]), codes[:, 0], zero, mask[:, 0])
    last_b, _ = att_b(att_b.key(codes[:, -1]), codes[:, -1], zero, mask[:, -1])
    torch.testing.assert_close(out.fused[:, 0, :12], first_f)
    torch.testing.assert_close(out.fused[:, -1, 12:], last_b)


def test_unidirectional_tmp():
    tmp = make_tmp("attention", bidirectional=False, window=0)
    out = tmp(torch.rand(2, 4, 2, 14, 2), torch.ones(2, 4, 2, dtype=torch.bool))
    assert out.pose.shape == (2, 16) and out.fused.shape == (2, 4, 12)


def one_direction_at_a_time(tmp, persons, mask, vis):
    """The pose stream's person selection and TA-LSTM run direction by direction with the
    single-module steps (PersonAttention.forward, TALSTMCell.forward): what the lockstep run must equal."""
    steps = persons.shape[1]
    reps, fused, weights = [], [], []
    for d, (cell, attention) in enumerate(zip(tmp.pose_cells, tmp.person_attention)):
        order = range(steps) if d == 0 else range(steps - 1, -1, -1)
        keys = attention.key(persons)
        state = cell.init_state(persons.shape[0], persons)
        out = state.h
        fused_d, weights_d = [None] * steps, [None] * steps
        for t in order:
            fused_d[t], weights_d[t] = attention(keys[:, t], persons[:, t], out, mask[:, t])
            step_in = torch.cat([fused_d[t], (weights_d[t].unsqueeze(-1) * vis[:, t]).sum(1)], -1)
            out, state = cell(step_in, state)
        reps.append(out)
        fused.append(torch.stack(fused_d, 1))
        weights.append(torch.stack(weights_d, 1))
    return torch.cat(reps, -1), torch.cat(fused, -1), torch.stack(weights).mean(0)


def test_both_directions_in_lockstep_equal_one_direction_at_a_time():
    torch.manual_seed(6)
    tmp = TMPModule(part_hidden=8, part_dim=10, pose_dim=12, hidden_size=16, window=3, bidirectional=True,
                    person_fusion="attention", joint_visibility=True)
    persons = torch.randn(3, 7, 4, 12, requires_grad=True)
    mask = torch.rand(3, 7, 4) > 0.4
    mask[1, 2] = False                                     # a frame with nobody
    vis = (torch.rand(3, 7, 4, 14) > 0.2).float()
    got = tmp._attend_and_run(persons, mask, vis)
    want = one_direction_at_a_time(tmp, persons, mask, vis)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(sum(x.square().sum() for x in got), [persons, *tmp.pose_cells.parameters()])
    want_grads = torch.autograd.grad(sum(x.square().sum() for x in want), [persons, *tmp.pose_cells.parameters()])
    for a, b in zip(grads, want_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
