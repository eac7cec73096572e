"""The assembled PARNet: variants, heads and loss, masking, person permutation, gradients,
determinism, configuration and input checks."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from pipeline.model import VARIANTS, ModelConfig, ParnetOutput, build_model, fused_probabilities, parnet_loss
from pipeline.model.pa import PoseAwareAttention, joint_heatmaps

B, T, N, C = 2, 4, 3, 5


def tiny(**kw) -> ModelConfig:
    base = dict(num_classes=C, backbone="resnet_tiny", backbone_width=4, hidden_size=16, pose_dim=16,
                appearance_dim=16, part_hidden=8, part_dim=10, num_persons=N, window=2,
                pretrained=None, joint_visibility=False, pa_joint_map=False)
    return ModelConfig(**{**base, **kw})


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(B, T, 3, 32, 32, generator=g)
    poses = torch.rand(B, T, N, 14, 2, generator=g)
    mask = torch.ones(B, T, N, dtype=torch.bool)
    mask[:, :, 2] = False          # person slot 2 is padding everywhere
    mask[1, 1:3, 1] = False        # clip 1 loses person 1 for two frames
    poses[~mask] = 0.0
    return frames, poses, mask


EXPECTED_HEADS = {
    "tmp": {"concat", "pose", "motion"},
    "sa": {"concat"},
    "tmp_sa": {"concat", "pose", "motion", "appearance"},
    "tmp_pa": {"concat", "pose", "motion", "relation"},
    "parnet": {"concat", "pose", "motion", "relation", "appearance"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_shapes_heads_and_inputs(variant):
    torch.manual_seed(0)
    model = build_model(tiny(variant=variant)).eval()
    frames, poses, mask = inputs()
    assert model.uses_frames == (variant != "tmp")
    assert model.uses_poses == (variant != "sa")
    with torch.no_grad():
        out = model(frames if model.uses_frames else None, poses if model.uses_poses else None,
                    mask if model.uses_poses else None)
    assert isinstance(out, ParnetOutput)
    assert set(out.logits) == EXPECTED_HEADS[variant]
    assert all(v.shape == (B, C) for v in out.logits.values())
    assert (out.person_weights is not None) == model.uses_poses
    if out.person_weights is not None:
        assert out.person_weights.shape == (B, T, N)
    if variant in ("tmp_pa", "parnet"):
        assert out.spatial_attention.shape == (B, T, 2, 2)  # stride 16 of 32x32
    else:
        assert out.spatial_attention is None
    probs = fused_probabilities(out)
    torch.testing.assert_close(probs.sum(1), torch.ones(B))


def test_concat_head_input_is_the_paper_order():
    model = build_model(tiny(variant="parnet", bidirectional=True))
    # H = [h_p; h_v; h_r; F] (eq. 20): 2*16 + 2*16 + 16 + 16
    assert model.heads.streams == ("pose", "motion", "relation", "appearance")
    assert model.heads.heads["concat"].in_features == 96
    assert build_model(tiny(variant="tmp_sa")).heads.heads["concat"].in_features == 80


def test_loss_is_the_sum_of_head_cross_entropies_and_fusion_the_stream_mean():
    torch.manual_seed(0)
    logits = {k: torch.randn(B, C) for k in ("concat", "pose", "motion")}
    out = ParnetOutput(logits)
    labels = torch.tensor([1, 4])
    expected = sum(F.cross_entropy(v, labels) for v in logits.values())
    torch.testing.assert_close(parnet_loss(out, labels), expected)
    torch.testing.assert_close(fused_probabilities(out),
                               (logits["pose"].softmax(1) + logits["motion"].softmax(1)) / 2)
    single = ParnetOutput({"concat": logits["concat"]})
    torch.testing.assert_close(fused_probabilities(single), logits["concat"].softmax(1))


@pytest.mark.parametrize("fusion", ["attention", "sum"])
def test_padded_persons_get_zero_weight_and_cannot_change_outputs(fusion):
    torch.manual_seed(0)
    model = build_model(tiny(person_fusion=fusion)).eval()
    frames, poses, mask = inputs()
    with torch.no_grad():
        out = model(frames, poses, mask)
        noisy = poses.clone()
        noisy[~mask] = torch.rand(int((~mask).sum()), 14, 2) * 5
        out_noisy = model(frames, noisy, mask)
        moved = poses.clone()
        moved[0, :, 0] += 0.1  # a present person: must matter
        out_moved = model(frames, moved, mask)
    assert (out.person_weights[~mask] == 0).all()
    for key in out.logits:
        torch.testing.assert_close(out_noisy.logits[key], out.logits[key], atol=1e-6, rtol=0)
    torch.testing.assert_close(out_noisy.person_weights, out.person_weights, atol=0, rtol=0)
    assert (out_moved.logits["pose"] - out.logits["pose"]).abs().max() > 1e-6


def test_frame_with_nobody_gives_finite_outputs_and_gradients():
    torch.manual_seed(0)
    model = build_model(tiny())
    frames, poses, mask = inputs()
    mask[0, 2] = False
    poses[0, 2] = 0.0
    out = model(frames, poses, mask)
    assert all(torch.isfinite(v).all() for v in out.logits.values())
    assert torch.equal(out.person_weights[0, 2], torch.zeros(N))
    assert torch.isfinite(out.spatial_attention).all()
    parnet_loss(out, torch.tensor([0, 1])).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


MODULES = {"tmp": {"tmp", "heads"}, "sa": {"backbone", "sa", "heads"},
           "tmp_sa": {"tmp", "backbone", "sa", "heads"}, "tmp_pa": {"tmp", "backbone", "pa", "heads"},
           "parnet": {"tmp", "backbone", "sa", "pa", "heads"}}


@pytest.mark.parametrize("variant, fusion, joint_map", [(v, "attention", False) for v in VARIANTS]
                         + [("parnet", "sum", False), ("parnet", "attention", True)])
def test_gradients_reach_every_parameter_of_every_stream(variant, fusion, joint_map):
    # Also what DistributedDataParallel (without find_unused_parameters) needs from every variant.
    torch.manual_seed(0)
    model = build_model(tiny(variant=variant, person_fusion=fusion, pa_joint_map=joint_map))
    frames, poses, mask = inputs()
    parnet_loss(model(frames, poses, mask), torch.tensor([0, 3])).backward()
    dead = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient: {dead}"
    assert {name.split(".")[0] for name, _ in model.named_parameters()} == MODULES[variant]


def test_permuting_persons_permutes_weights_and_keeps_logits():
    torch.manual_seed(0)
    model = build_model(tiny()).eval()
    frames, poses, mask = inputs()
    perm = torch.tensor([2, 0, 1])
    with torch.no_grad():
        out = model(frames, poses, mask)
        out_perm = model(frames, poses[:, :, perm], mask[:, :, perm])
    torch.testing.assert_close(out_perm.person_weights, out.person_weights[:, :, perm], atol=1e-6, rtol=1e-5)
    for key in out.logits:
        torch.testing.assert_close(out_perm.logits[key], out.logits[key], atol=1e-5, rtol=1e-5)
    # The weights are not trivially uniform: the permutation test is not vacuous.
    present = out.person_weights[0, :, :2]
    assert (present[:, 0] - present[:, 1]).abs().max() > 1e-6


def test_same_seed_same_model_and_outputs():
    frames, poses, mask = inputs()
    results = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        model = build_model(tiny())
        torch.manual_seed(10)  # dropout draws
        results.append(model(frames, poses, mask).logits["concat"].detach())
    assert torch.equal(results[0], results[1])
    assert not torch.allclose(results[0], results[2])


def test_plain_lstm_unidirectional_variant_runs():
    torch.manual_seed(0)
    model = build_model(tiny(window=0, bidirectional=False))
    out = model(*inputs())
    assert out.logits["concat"].shape == (B, C)
    assert model.heads.heads["concat"].in_features == 16 * 4


@pytest.mark.parametrize("field, value, words", [
    ("num_classes", 0, "num_classes"), ("variant", "two_stream", "variant"),
    ("backbone", "vgg", "backbone"), ("window", -1, "window"), ("dropout", 1.0, "dropout"),
    ("person_fusion", "max", "person_fusion"), ("hidden_size", 2.5, "hidden_size"),
    ("bidirectional", "yes", "bidirectional"), ("pretrained", "", "pretrained"),
    ("pa_joint_map", 1, "pa_joint_map"), ("pose_centred", "true", "pose_centred"),
])
def test_config_rejects_bad_values(field, value, words):
    with pytest.raises(ValueError, match=words):
        tiny(**{field: value})


def test_config_is_frozen_and_round_trips():
    cfg = tiny()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.window = 3
    assert ModelConfig(**dataclasses.asdict(cfg)) == cfg


def test_bad_inputs_are_clear_errors():
    model = build_model(tiny())
    frames, poses, mask = inputs()
    with pytest.raises(ValueError, match="needs frames"):
        model(None, poses, mask)
    with pytest.raises(ValueError, match="person_mask"):
        model(frames, poses, None)
    with pytest.raises(ValueError, match="disagree"):
        model(frames[:, :3], poses, mask)
    with pytest.raises(ValueError, match="T >= 2"):
        model(frames[:, :1], poses[:, :1], mask[:, :1])


@pytest.mark.parametrize("centred", [True, False])
def test_joint_heatmaps_peak_at_each_present_persons_joint(centred):
    # a 4 x 8 grid; person 0 has every joint at x = 0.8, y = 0.1 of the view except joint 3 at the
    # bottom-left corner; person 1 is absent (its joints would light cell (2, 2))
    view = torch.zeros(1, 1, 2, 14, 2)
    view[0, 0, 0, :] = torch.tensor([0.8, 0.1])
    view[0, 0, 0, 3] = torch.tensor([0.0, 1.0])
    view[0, 0, 1, :] = torch.tensor([0.3, 0.6])
    poses = 2 * view - 1 if centred else view
    mask = torch.tensor([[[True, False]]])
    maps = joint_heatmaps(poses, mask, (4, 8), centred=centred)
    assert maps.shape == (1, 14, 4, 8)
    assert divmod(int(maps[0, 0].argmax()), 8) == (0, 6) and divmod(int(maps[0, 3].argmax()), 8) == (3, 0)
    assert maps[0, 0, 2, 2] < 1e-3                      # the absent person lights nothing
    mask[0, 0, 1] = True
    both = joint_heatmaps(poses, mask, (4, 8), centred=centred)
    assert both[0, 0, 2, 2] > 0.5 and torch.equal(both[0, 0, 0, 6], maps[0, 0, 0, 6])   # max over persons


@pytest.mark.parametrize("joint_map", [False, True])
def test_only_the_joint_map_lets_pa_attention_follow_where_the_joints_are(joint_map):
    # A mid-level map that is the same at every position: whatever P_t says, eq. 18's additive
    # attention has nothing to tell positions apart (P_t is one vector per frame, broadcast); with
    # the joint map the attention goes where the joints are.
    torch.manual_seed(0)
    attention = PoseAwareAttention(map_channels=6, query_dim=5, attn_dim=4, joint_map=joint_map)
    if joint_map:
        with torch.no_grad():
            attention.joints.weight.fill_(1.0)       # "look where the joints are"
            attention.score.weight.fill_(1.0)
    mid = torch.ones(2, 6, 4, 8)                     # B*T = 2 frames
    fused = torch.randn(1, 2, 5)
    poses = torch.zeros(1, 2, 1, 14, 2)
    poses[0, 0, ..., 0], poses[0, 1, ..., 0] = 0.1, 0.9    # frame 0: person on the left; 1: right
    poses[..., 1] = 0.5
    joints = joint_heatmaps(poses, torch.ones(1, 2, 1, dtype=torch.bool), (4, 8), centred=False)
    _, weights = attention(mid, fused, joints if joint_map else None)
    left, right = weights[0, 0], weights[0, 1]
    if joint_map:
        assert left[:, :4].sum() > 0.6 and right[:, 4:].sum() > 0.6
    else:
        assert torch.allclose(weights, torch.full_like(weights, 1 / 32))


def test_on_the_cpu_the_backbone_stays_nchw_and_trains_with_frozen_bn():
    # issue 24: channels_last weights with oneDNN's AVX2 kernels corrupted the heap (a training
    # step with partial BN); on the CPU the model is placed in NCHW (CUDA alone gets NHWC).
    from pipeline.finetune import partial_bn
    model = build_model(tiny(variant="parnet")).to_device("cpu").train()
    convs = [m.weight for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous() for w in convs)   # an NHWC 3x3 weight is not
    partial_bn(model.backbone)
    frames, poses, mask = inputs()
    out = model(frames, poses, mask)
    parnet_loss(out.logits, torch.arange(frames.shape[0]) % 3).backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
