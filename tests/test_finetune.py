"""TSN fine-tuning practice (pipeline.finetune) and the step schedule, applied by training only
when model.pretrained is set."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from pipeline.finetune import param_groups, partial_bn
from pipeline.model import ModelConfig, build_model
from pipeline.params import TrainParams
from pipeline.train import lr_factor, train_run
from tiny_clips import frames_split

CONFIG = ModelConfig(num_classes=2, variant="sa", backbone="resnet_tiny", backbone_width=4, hidden_size=8,
                     pose_dim=8, appearance_dim=8, part_hidden=4, part_dim=4, window=1, num_persons=1,
                     pretrained=None, joint_visibility=False, pa_joint_map=False)
SETTINGS = TrainParams(input_size=32, resize_short=32, crop_scales=(1.0, 0.875), flip_prob=0.5, batch_size=2,
                       epochs=1, lr=0.05, warmup_steps=1, momentum=0.9, weight_decay=4e-5, schedule="constant",
                       optimizer="sgd", workers=0, threads=1, device="cpu", amp=False,
                       pose_warmup_epochs=0, pose_warmup_lr=0.0, backbone_lr_mult=0.2, min_steps=0)
SEED = 0


def test_step_schedule_warms_up_then_decays_at_the_milestones():
    kw = dict(warmup_steps=200, total_steps=140_000, schedule="step", milestones=(78 / 140, 128 / 140, 138 / 140))
    f = {s: lr_factor(s, **kw) for s in (0, 199, 200, 77_999, 78_000, 127_999, 128_000, 138_000, 139_999)}
    assert f[0] == pytest.approx(1 / 200) and f[199] == f[200] == f[77_999] == 1.0
    assert f[78_000] == pytest.approx(0.1) and f[127_999] == pytest.approx(0.1)
    assert f[128_000] == pytest.approx(0.01) and f[138_000] == f[139_999] == pytest.approx(0.001)


def test_partial_bn_freezes_statistics_and_affine_of_all_but_the_first_bn():
    torch.manual_seed(0)
    model = build_model(CONFIG).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert partial_bn(model.backbone) == len(norms) - 1 > 3
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    groups = param_groups(model, model.backbone, lr=1e-3, backbone_lr_mult=0.2)
    optimizer = torch.optim.SGD(groups, lr=1e-3, momentum=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, pytest.approx(2e-4)]
    frozen = {id(p) for m in norms[1:] for p in m.parameters()}
    assert not frozen & {id(p) for g in groups for p in g["params"]}      # frozen ones left out
    assert len({id(p) for g in groups for p in g["params"]}) == len(
        [p for p in model.parameters() if id(p) not in frozen])            # everything else trains
    frames = torch.randn(2, 2, 3, 32, 32) * 3 + 1
    model(frames).logits["concat"].sum().backward()
    optimizer.step()
    after = model.backbone.state_dict()
    names = [n for n, m in model.backbone.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert names[0] == "stem.1"
    assert not torch.equal(after["stem.1.running_mean"], before["stem.1.running_mean"])   # the first adapts
    assert not torch.equal(after["stem.1.weight"], before["stem.1.weight"])
    for name in names[1:]:
        for part in ("running_mean", "running_var", "weight", "bias"):
            assert torch.equal(after[f"{name}.{part}"], before[f"{name}.{part}"]), f"{name}.{part}"
    assert not torch.equal(after["stages.2.conv1.weight"], before["stages.2.conv1.weight"])  # convs learn


def _weights_file(path, seed=1):
    torch.manual_seed(seed)
    state = build_model(CONFIG).backbone.state_dict()
    torch.save(state, path)
    return state


def _bn_keys(state):
    return [k for k in state if k.endswith("running_mean")]


def test_training_applies_partial_bn_and_the_backbone_lr_only_with_pretrained_weights(tmp_path):
    data, frames_dir = frames_split(tmp_path)
    pretrained = _weights_file(tmp_path / "w.pt")
    runs = {}
    for name, config in (("pretrained", dataclasses.replace(CONFIG, pretrained=str(tmp_path / "w.pt"))),
                         ("scratch", CONFIG)):
        train_run(data, frames_dir=frames_dir, model_config=config, s=SETTINGS, seed=SEED, run_dir=tmp_path / name,
                  plots_dir=tmp_path / name / "plots", run_info={"name": name})
        runs[name] = torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)
    tuned = {k[len("backbone."):]: v for k, v in runs["pretrained"]["model"].items() if k.startswith("backbone.")}
    keys = _bn_keys(pretrained)
    assert keys[0] == "stem.1.running_mean"
    assert not torch.equal(tuned[keys[0]], pretrained[keys[0]])                  # the first BN adapts
    for key in keys[1:]:                                                          # the others keep ImageNet's
        bn = key[: -len("running_mean")]
        for part in ("running_mean", "running_var", "weight", "bias"):
            assert torch.equal(tuned[bn + part], pretrained[bn + part]), bn + part
    assert not torch.equal(tuned["stages.3.conv2.weight"], pretrained["stages.3.conv2.weight"])  # convs learn
    groups = runs["pretrained"]["optimizer"]["param_groups"]
    assert [g["initial_lr"] for g in groups] == [0.05, pytest.approx(0.01)]
    # Without pretrained weights: one group at train.lr, every BN trains as before.
    assert [g["initial_lr"] for g in runs["scratch"]["optimizer"]["param_groups"]] == [0.05]
    scratch = runs["scratch"]["model"]
    torch.manual_seed(SEED)
    init = build_model(CONFIG).state_dict()
    assert all(not torch.equal(scratch["backbone." + k], init["backbone." + k]) for k in _bn_keys(pretrained))


def test_partial_bn_off_and_backbone_lr_mult_are_params(tmp_path):
    data, frames_dir = frames_split(tmp_path)
    pretrained = _weights_file(tmp_path / "w.pt")
    s = dataclasses.replace(SETTINGS, partial_bn=False, backbone_lr_mult=0.5)
    train_run(data, frames_dir=frames_dir, model_config=dataclasses.replace(CONFIG, pretrained=str(tmp_path / "w.pt")),
              s=s, seed=SEED, run_dir=tmp_path / "r", plots_dir=tmp_path / "r" / "plots", run_info={"name": "r"})
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / "last.pt", weights_only=True)
    assert [g["initial_lr"] for g in ckpt["optimizer"]["param_groups"]] == [0.05, pytest.approx(0.025)]
    last_bn = _bn_keys(pretrained)[-1]
    assert not torch.equal(ckpt["model"]["backbone." + last_bn], pretrained[last_bn])


def test_backbone_lr_mult_zero_freezes_the_whole_backbone_and_skips_its_backward(tmp_path, monkeypatch):
    data, frames_dir = frames_split(tmp_path)
    pretrained = _weights_file(tmp_path / "w.pt")
    s = dataclasses.replace(SETTINGS, backbone_lr_mult=0.0)
    seen_grad = []
    real_forward = type(build_model(CONFIG).backbone).forward

    def recording(self, x):
        mid, last = real_forward(self, x)
        seen_grad.append((self.training, mid.requires_grad))
        return mid, last
    monkeypatch.setattr(type(build_model(CONFIG).backbone), "forward", recording)
    train_run(data, frames_dir=frames_dir, model_config=dataclasses.replace(CONFIG, pretrained=str(tmp_path / "w.pt")),
              s=s, seed=SEED, run_dir=tmp_path / "r", plots_dir=tmp_path / "r" / "plots", run_info={"name": "r"})
    ckpt = torch.load(tmp_path / "r" / "checkpoints" / "last.pt", weights_only=True)
    tuned = {k[len("backbone."):]: v for k, v in ckpt["model"].items() if k.startswith("backbone.")}
    assert all(torch.equal(tuned[k], v) for k, v in pretrained.items() if k in tuned)   # first BN included
    assert [g["initial_lr"] for g in ckpt["optimizer"]["param_groups"]] == [0.05]       # new layers only
    assert seen_grad and not any(training or grad for training, grad in seen_grad)      # eval mode, no graph
    torch.manual_seed(SEED)
    init = build_model(CONFIG).state_dict()
    assert all(not torch.equal(v, init[k]) for k, v in ckpt["model"].items()
               if k.startswith("heads.") and k.endswith("weight"))                       # the rest learns
