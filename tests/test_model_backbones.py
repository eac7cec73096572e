"""Backbones (BN-Inception, resnet_tiny) and loading pretrained weights from a file."""
from __future__ import annotations

import pytest
import torch

from pipeline.model import ModelConfig, build_model
from pipeline.model.backbones import BNInception, ResNetTiny


def tiny(**kw) -> ModelConfig:
    base = dict(num_classes=3, backbone="resnet_tiny", backbone_width=4, hidden_size=8, pose_dim=8,
                appearance_dim=8, part_hidden=4, part_dim=4, window=1)
    return ModelConfig(**{**base, **kw})


def test_bninception_224_maps():
    torch.manual_seed(0)
    model = build_model(tiny(backbone="bninception")).eval()
    frames = torch.randn(1, 2, 3, 224, 224)
    with torch.no_grad():
        mid, last = model.backbone(frames.flatten(0, 1))
        out = model(frames, torch.rand(1, 2, 4, 14, 2), torch.ones(1, 2, 4, dtype=torch.bool))
    assert mid.shape == (2, 256, 14, 14)      # inception_4e/double_3x3_1 (the paper's 14x14x256)
    assert last.shape == (2, 1024, 7, 7)      # inception_5b
    assert out.spatial_attention.shape == (1, 2, 14, 14)
    torch.testing.assert_close(out.spatial_attention.sum((2, 3)), torch.ones(1, 2))
    keys = model.backbone.state_dict()       # the Caffe-converted weights' flat names
    assert {"conv1_7x7_s2.weight", "conv1_7x7_s2_bn.running_var", "inception_3c_double_3x3_2.bias",
            "inception_5b_pool_proj_bn.weight"} <= set(keys)
    assert not any(k.startswith("inception_5") for k in BNInception(with_last=False).state_dict())


def test_resnet_tiny_strides_and_channels():
    net = ResNetTiny(width=4).eval()
    with torch.no_grad():
        mid, last = net(torch.randn(1, 3, 64, 96))
    assert mid.shape == (1, 16, 4, 6) and last.shape == (1, 32, 2, 3)
    assert net.mid_channels == 16 and net.out_channels == 32
    # Odd sizes work too.
    with torch.no_grad():
        mid, last = net(torch.randn(1, 3, 50, 50))
    assert mid.shape[-2:] == (4, 4) and last.shape[-2:] == (2, 2)


def test_tmp_pa_backbone_stops_at_the_mid_map():
    model = build_model(tiny(variant="tmp_pa"))
    assert len(model.backbone.stages) == 3 and model.sa is None


def save_backbone(path, seed: int, width: int = 4, extra: dict | None = None):
    torch.manual_seed(seed)
    net = ResNetTiny(width)
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)
    state = {**net.state_dict(), **(extra or {})}
    torch.save(state, path)
    return state


def test_pretrained_weights_are_loaded_from_a_file(tmp_path):
    path = tmp_path / "resnet_tiny_w4.pt"
    state = save_backbone(path, seed=7, extra={"fc.weight": torch.zeros(10, 32), "fc.bias": torch.zeros(10)})
    torch.manual_seed(0)
    before = build_model(tiny()).backbone.state_dict()
    torch.manual_seed(0)
    model = build_model(tiny(pretrained=str(path)))
    after = model.backbone.state_dict()
    assert not torch.equal(before["stem.0.weight"], after["stem.0.weight"])
    for key, value in after.items():
        torch.testing.assert_close(value, state[key], atol=0, rtol=0)
    # A truncated backbone (tmp_pa) takes the part of the full file it has.
    truncated = build_model(tiny(variant="tmp_pa", pretrained=str(path)))
    torch.testing.assert_close(truncated.backbone.stages[2].conv1.weight, state["stages.2.conv1.weight"])
    # load_pretrained=False leaves the random initialisation (a checkpoint will replace it).
    torch.manual_seed(0)
    skipped = build_model(tiny(pretrained=str(path)), load_pretrained=False)
    assert torch.equal(skipped.backbone.state_dict()["stem.0.weight"], before["stem.0.weight"])


def test_pretrained_missing_file_is_a_clear_error(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        build_model(tiny(pretrained=str(path)))


def test_pretrained_mismatched_keys_are_named(tmp_path):
    path = tmp_path / "bad.pt"
    state = save_backbone(path, seed=1)
    del state["stages.0.bn1.weight"]
    state["head.extra"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ValueError, match="bad.pt") as err:
        build_model(tiny(pretrained=str(path)))
    assert "stages.0.bn1.weight" in str(err.value) and "head.extra" in str(err.value)


def test_pretrained_wrong_width_and_non_state_dict_files(tmp_path):
    path = tmp_path / "w8.pt"
    save_backbone(path, seed=1, width=8)
    shape = r"stem\.0\.weight \(file \(8, 3, 3, 3\), model \(4, 3, 3, 3\)\)"
    with pytest.raises(ValueError, match=r"w8\.pt.*" + shape):
        build_model(tiny(pretrained=str(path)))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pt"):
        build_model(tiny(pretrained=str(junk)))
    listed = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(ValueError, match="list.pt.*state_dict"):
        build_model(tiny(pretrained=str(listed)))
