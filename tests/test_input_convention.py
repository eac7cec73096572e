"""Each backbone's input convention: a frame of known colour reaches the first convolution as the
backbone's pretrained weights expect it, through the real data path (JPEG frame -> ClipDataset ->
loader -> to_model_inputs), and checkpoints record the convention (old ones: what they used)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline.data import ClipDataset, make_loader, normalize_frames
from pipeline.model import ModelConfig, build_model
from pipeline.model_io import load_model, save_model, to_model_inputs
from pipeline.pixels import CAFFE_BGR, RGB_IMAGENET

RGB = (200, 100, 30)  # red, green, blue of the test frame
FIRST_CONV = {"bninception": "conv1_7x7_s2", "resnet_tiny": "stem.0", "resnet18": "conv1", "resnet50": "conv1"}
# What the first conv must see for that colour, channel by channel, written out by hand.
EXPECTED = {
    "bninception": (30 - 104, 100 - 117, 200 - 128),  # B, G, R on 0-255 minus (104, 117, 128)
    "resnet_tiny": ((200 / 255 - 0.485) / 0.229, (100 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225),
    "resnet18": ((200 / 255 - 0.485) / 0.229, (100 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225),
    "resnet50": ((200 / 255 - 0.485) / 0.229, (100 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225),
}
# One JPEG level of error, in each convention's units.
TOLERANCE = {"bninception": 3.0, "resnet_tiny": 3 / 255 / 0.224, "resnet18": 3 / 255 / 0.224,
             "resnet50": 3 / 255 / 0.224}


def tiny_config(backbone: str, **kw) -> ModelConfig:
    return ModelConfig(num_classes=3, variant="sa", backbone=backbone, backbone_width=4, hidden_size=8,
                       pose_dim=8, appearance_dim=8, part_hidden=4, part_dim=4, window=1,
                       **{"pretrained": None, "joint_visibility": False, "pa_joint_map": False, **kw})


def colour_clip(tmp_path, size=64) -> ClipDataset:
    video = tmp_path / "frames" / "v0"
    video.mkdir(parents=True)
    for f in range(4):
        Image.fromarray(np.full((size, size, 3), RGB, np.uint8)).save(video / f"{f:06d}.jpg", quality=100)
    index = pd.DataFrame({"video_id": ["v0"], "label_id": [0], "seg_start": [[0, 2]], "seg_end": [[2, 4]],
                          "mid": [[1, 3]]})
    return ClipDataset(index, frames_dir=tmp_path / "frames", poses=None, sizes={"v0": (size, size)},
                       max_persons=1, train=False, input_size=size, resize_short=size, crop_scales=(1.0,),
                       flip_prob=0.0, seed=0)


def first_conv_input(model, batch) -> torch.Tensor:
    seen = []
    conv = model.backbone.get_submodule(FIRST_CONV[model.config.backbone])
    handle = conv.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        model.eval()(*to_model_inputs(batch, model, torch.device("cpu")))
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("backbone", sorted(FIRST_CONV))
def test_a_known_colour_reaches_the_first_conv_as_the_backbone_expects(tmp_path, backbone):
    torch.manual_seed(0)
    model = build_model(tiny_config(backbone))
    batch = next(iter(make_loader(colour_clip(tmp_path), batch_size=1, epoch=0, seed=0, shuffle=False,
                                  workers=0)))
    x = first_conv_input(model, batch)               # [frames, 3, H, W]
    per_channel = x.mean((0, 2, 3))
    assert per_channel.tolist() == pytest.approx(EXPECTED[backbone], abs=TOLERANCE[backbone])
    assert (x.amax((0, 2, 3)) - x.amin((0, 2, 3))).max() <= 2 * TOLERANCE[backbone]  # uniform frame


def test_resnet_tiny_keeps_exactly_the_pixels_of_before():
    """The default run's backbone: RGB / 255, ImageNet mean/std, bit for bit as before conventions."""
    x = torch.randint(0, 256, (2, 3, 5, 7), dtype=torch.uint8)
    mean = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
    assert torch.equal(normalize_frames(x), (x.float() / 255.0 - mean) / std)
    assert torch.equal(normalize_frames(x, build_model(tiny_config("resnet_tiny")).backbone.input_convention),
                       (x.float() / 255.0 - mean) / std)


def _saved(tmp_path, backbone: str, drop_convention: bool = False):
    torch.manual_seed(0)
    config = tiny_config(backbone)
    model = build_model(config)
    path = tmp_path / f"{backbone}.pt"
    save_model(path, model, config, SimpleNamespace(classes=["a", "b", "c"]), {"name": "t"}, {"top1": 0, "epoch": 1})
    if drop_convention:  # a checkpoint written before conventions were recorded
        ckpt = torch.load(path, weights_only=True)
        del ckpt["input_convention"]
        torch.save(ckpt, path)
    return path


def test_checkpoints_record_the_convention_and_old_ones_keep_what_they_were_trained_with(tmp_path):
    path = _saved(tmp_path, "bninception")
    assert torch.load(path, weights_only=True)["input_convention"] == CAFFE_BGR.to_dict()
    model, _ = load_model(path)
    assert model.backbone.input_convention == CAFFE_BGR
    # Before conventions, every backbone was fed RGB ImageNet pixels: a BN-Inception model trained
    # then keeps getting them, in evaluation and in predict (both go through load_model).
    old, _ = load_model(_saved(tmp_path / "old", "bninception", drop_convention=True))
    assert old.backbone.input_convention == RGB_IMAGENET
    batch = {"frames": torch.full((1, 2, 3, 4, 4), 255, dtype=torch.uint8)}
    frames, *_ = to_model_inputs(batch, old, torch.device("cpu"))
    assert frames[0, 0, :, 0, 0].tolist() == pytest.approx([(1 - 0.485) / 0.229, (1 - 0.456) / 0.224,
                                                           (1 - 0.406) / 0.225])
    frames, *_ = to_model_inputs(batch, model, torch.device("cpu"))
    assert frames[0, 0, :, 0, 0].tolist() == pytest.approx([255 - 104, 255 - 117, 255 - 128])


def test_a_bad_recorded_convention_is_a_one_line_error(tmp_path):
    path = _saved(tmp_path, "resnet_tiny")
    ckpt = torch.load(path, weights_only=True)
    ckpt["input_convention"] = {"channels": "GBR", "scale": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]}
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"resnet_tiny\.pt: unreadable input_convention"):
        load_model(path)
