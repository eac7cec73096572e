"""The user's check of downloaded ImageNet weights (stages.check_pretrained): mechanics only, with
random weights (real ones cannot be downloaded here)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline.data import ClipDataset
from pipeline.imagenet_check import image_pixels, imagenet_probabilities, load_imagenet_model, swap_red_blue
from pipeline.model import ModelConfig, build_model
from pipeline.model.backbones import BNInception
from pipeline.model_io import to_model_inputs
from stages import check_pretrained


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    state = BNInception().state_dict()
    # Large classifier weights: features of a random network barely differ between images, logits must.
    state["last_linear.weight"], state["last_linear.bias"] = torch.randn(1000, 1024) * 100, torch.zeros(1000)
    path = tmp_path_factory.mktemp("w") / "bn_inception-52deb4733.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A 320x240 JPEG with different red, green and blue patterns."""
    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([x * 255 // 319, y * 255 // 239, ((x // 40 + y // 40) % 2) * 200 + 30], -1).astype(np.uint8)
    path = tmp_path_factory.mktemp("img") / "000000.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    return path


def test_the_check_sees_the_image_exactly_as_evaluation_feeds_a_frame(photo):
    """Same view (short side 256, centre 224) and same pixels as ClipDataset + to_model_inputs."""
    model = build_model(ModelConfig(num_classes=2, variant="sa", backbone="bninception", hidden_size=8,
                                    pose_dim=8, appearance_dim=8, part_hidden=4, part_dim=4, window=1,
                                    pretrained=None, joint_visibility=False, pa_joint_map=False))
    index = pd.DataFrame({"video_id": ["v"], "label_id": [0], "seg_start": [[0, 0]], "seg_end": [[1, 1]],
                          "mid": [[0, 0]]})
    clip = ClipDataset(index, frames_dir=photo.parent.parent, poses=None, sizes={"v": (320, 240)}, max_persons=1,
                       train=False, input_size=224, resize_short=256, crop_scales=(1.0,), flip_prob=0.0, seed=0)
    photo.parent.rename(photo.parent.parent / "v")
    try:
        item = clip[0]
        frames, *_ = to_model_inputs({"frames": item["frames"][None]}, model, torch.device("cpu"))
        with Image.open(photo.parent.parent / "v" / "000000.jpg") as img:
            pixels = image_pixels(img, model.backbone.input_convention)
    finally:
        (photo.parent.parent / "v").rename(photo.parent)
    assert pixels.shape == (1, 3, 224, 224)
    assert torch.equal(pixels[0], frames[0, 0])
    red = pixels[0, 2].mean(0)                        # BGR: the red gradient (left to right) is channel 2
    assert red[-1] - red[0] > 100 and abs(float(pixels[0, 0].mean(0)[-1] - pixels[0, 0].mean(0)[0])) < 40


def test_swapping_red_and_blue_changes_the_ranking_input(weights, photo):
    net, weight, bias = load_imagenet_model(weights, "bninception")
    with Image.open(photo) as img:
        probs = imagenet_probabilities(net, weight, bias, image_pixels(img, net.input_convention))
        swapped = imagenet_probabilities(net, weight, bias, image_pixels(swap_red_blue(img), net.input_convention))
    assert probs.shape == (1000,) and float(probs.sum()) == pytest.approx(1.0, abs=1e-4)
    assert (probs - swapped).abs().max() > 1e-3


def test_command_prints_the_top_classes_with_optional_names(weights, photo, tmp_path, capsys):
    names = tmp_path / "names.txt"
    names.write_text("".join(f"class number {i}\n" for i in range(1000)))
    assert check_pretrained.main([str(photo), "--backbone", "bninception", "--weights", str(weights),
                                  "--names", str(names)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    probs = [float(r[2]) for r in rows]
    assert probs == sorted(probs, reverse=True)
    assert all(r[3:] == ["class", "number", r[1]] for r in rows)
    assert "pixels BGR, scale 0-255, mean (104.0, 117.0, 128.0)" in out and "red and blue swapped" in out


def test_command_errors_are_one_line(weights, photo, tmp_path, capsys):
    state = torch.load(weights, weights_only=True)
    del state["last_linear.weight"]
    stripped = tmp_path / "no_classifier.pth"
    torch.save(state, stripped)
    assert check_pretrained.main([str(photo), "--backbone", "bninception", "--weights", str(stripped)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no_classifier.pth: no ImageNet classifier" in err
    short = tmp_path / "short.txt"
    short.write_text("a\nb\n")
    assert check_pretrained.main([str(photo), "--backbone", "bninception", "--weights", str(weights),
                                  "--names", str(short)]) == 1
    assert "2 class names for a 1000-class classifier" in capsys.readouterr().err
