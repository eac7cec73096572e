"""Backbones (BN-Inception, resnet_tiny) and loading pretrained weights from a file."""
from __future__ import annotations

import pytest
import torch

from pipeline.model import ModelConfig, build_model
from pipeline.model.backbones import BNInception, ResNetTiny


def tiny(**kw) -> ModelConfig:
    base = dict(num_classes=3, backbone="resnet_tiny", backbone_width=4, hidden_size=8, pose_dim=8,
                appearance_dim=8, part_hidden=4, part_dim=4, window=1,
                pretrained=None, joint_visibility=False, pa_joint_map=False)
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


def torchvision_resnet_state(depth: int, seed: int) -> dict[str, torch.Tensor]:
    """A state_dict with torchvision's ResNet key names and shapes (written out here from the
    architecture, not from our module), random values, and the 1000-class ``fc``."""
    g = torch.Generator().manual_seed(seed)
    state = {}

    def conv(name, cout, cin, k):
        state[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=g) * 0.05

    def bn(name, c):
        state[f"{name}.weight"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.bias"] = torch.randn(c, generator=g) * 0.1
        state[f"{name}.running_mean"] = torch.randn(c, generator=g) * 0.1
        state[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    bottleneck = depth == 50
    counts = (3, 4, 6, 3) if bottleneck else (2, 2, 2, 2)
    cin = 64
    for i, (width, count) in enumerate(zip((64, 128, 256, 512), counts), start=1):
        cout = width * (4 if bottleneck else 1)
        for j in range(count):
            p = f"layer{i}.{j}"
            if bottleneck:
                conv(f"{p}.conv1", width, cin, 1), bn(f"{p}.bn1", width)
                conv(f"{p}.conv2", width, width, 3), bn(f"{p}.bn2", width)
                conv(f"{p}.conv3", cout, width, 1), bn(f"{p}.bn3", cout)
            else:
                conv(f"{p}.conv1", width, cin, 3), bn(f"{p}.bn1", width)
                conv(f"{p}.conv2", width, width, 3), bn(f"{p}.bn2", width)
            if j == 0 and (cin != cout or i > 1):
                conv(f"{p}.downsample.0", cout, cin, 1), bn(f"{p}.downsample.1", cout)
            cin = cout
    state["fc.weight"] = torch.randn(1000, cin, generator=g) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    return state


# torchvision's documented sizes (ResNet18_Weights / ResNet50_Weights.IMAGENET1K_V1: num_params;
# len(state_dict())): they pin the state_dicts written above to the real files.
TORCHVISION = {18: (11_689_512, 122), 50: (25_557_032, 320)}


@pytest.mark.parametrize("depth", [18, 50])
def test_torchvision_resnet_state_dicts_load_key_for_key(tmp_path, depth):
    state = torchvision_resnet_state(depth, seed=depth)
    params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var",
                                                                        "num_batches_tracked")))
    assert (params, len(state)) == TORCHVISION[depth]
    path = tmp_path / f"resnet{depth}.pth"
    torch.save(state, path)
    model = build_model(tiny(backbone=f"resnet{depth}", pretrained=str(path)))
    own = model.backbone.state_dict()
    assert set(own) == set(state) - {"fc.weight", "fc.bias"}      # every backbone key of the file used
    for key, value in own.items():
        torch.testing.assert_close(value, state[key], atol=0, rtol=0, msg=key)
    # mid = layer3 at stride 16, last = layer4 at stride 32, with torchvision's channel counts.
    with torch.no_grad():
        mid, last = model.backbone.eval()(torch.randn(1, 3, 64, 96))
    wide = 4 if depth == 50 else 1
    assert mid.shape == (1, 256 * wide, 4, 6) and last.shape == (1, 512 * wide, 2, 3)
    # Without the SA module the backbone stops at layer3 and takes that part of the file.
    truncated = build_model(tiny(backbone=f"resnet{depth}", variant="tmp_pa", pretrained=str(path)))
    assert not hasattr(truncated.backbone, "layer4")
    torch.testing.assert_close(truncated.backbone.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])


def test_torchvision_resnet_file_with_a_missing_or_foreign_key_is_refused(tmp_path):
    state = torchvision_resnet_state(18, seed=0)
    del state["layer2.0.downsample.1.running_var"]
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"r18\.pth does not fit the resnet18 backbone: missing keys 1: "
                                         r"layer2\.0\.downsample\.1\.running_var"):
        build_model(tiny(backbone="resnet18", pretrained=str(path)))
    torch.save(torchvision_resnet_state(50, seed=0), path)   # a ResNet-50 file for a ResNet-18
    with pytest.raises(ValueError, match="unexpected keys .*layer1.0.conv3.weight"):
        build_model(tiny(backbone="resnet18", pretrained=str(path)))


def test_caffe_converted_bninception_with_1xC_bn_vectors_loads(tmp_path):
    """TSN's BN-Inception file (bn_inception-9f5701afb96c8044.pth) stores BN vectors as [1, C] and
    names its classifier ``fc``; the Cadene conversion uses [C] and ``last_linear``."""
    torch.manual_seed(3)
    net = BNInception()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-1, 1)
    state = {k: (v[None] if k.endswith(("_bn.weight", "_bn.bias", "running_mean", "running_var")) else v)
             for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 1024), torch.zeros(1000)
    path = tmp_path / "bn_inception-9f5701afb96c8044.pth"
    torch.save(state, path)
    model = build_model(tiny(backbone="bninception", pretrained=str(path)))
    torch.testing.assert_close(model.backbone.inception_5b_pool_proj_bn.running_var,
                               net.inception_5b_pool_proj_bn.running_var, atol=0, rtol=0)
