"""The frozen backbone's map cache (pipeline/features.py): the cached path computes what the live
path computes, training reads the cache and no frame, and a stale or missing cache is a one-line error."""
import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.data import ClipDataset, make_loader
from pipeline.features import (FeatureCache, MissingInput, StaleFeatures, cache_applies, extract_dataset,
                               feature_spec, write_unused)
from pipeline.io import read_json
from pipeline.model import ModelConfig, build_model
from pipeline.model.backbones import build_backbone
from pipeline.model_io import to_model_inputs
from pipeline.train import train_run
from tests.test_train import SEED, SETTINGS, pose_split

FRAMES = 10
CONFIG = ModelConfig(num_classes=3, variant="parnet", backbone="resnet_tiny", backbone_width=4, hidden_size=8,
                     pose_dim=8, part_hidden=4, part_dim=6, appearance_dim=8, num_persons=2, joint_visibility=True,
                     pretrained=None, pa_joint_map=False)


@pytest.fixture
def world(tmp_path):
    """A split whose frames are textured JPEGs, and a 'pretrained' resnet_tiny file."""
    data = dataclasses.replace(pose_split(frames=FRAMES), pose_only=False)
    rng = np.random.default_rng(0)
    for v in data.index["video_id"]:
        (tmp_path / "frames" / v).mkdir(parents=True)
        for f in range(FRAMES):
            pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "frames" / v / f"{f:06d}.jpg", quality=95)
    torch.manual_seed(3)
    weights = tmp_path / "tiny.pt"
    torch.save(build_backbone("resnet_tiny", 4).state_dict(), weights)
    config = dataclasses.replace(CONFIG, pretrained=str(weights))
    s = dataclasses.replace(SETTINGS, backbone_lr_mult=0.0, flip_prob=0.5)
    spec = feature_spec(backbone="resnet_tiny", backbone_width=4, pretrained=weights, view=s.view, input_size=s.input_size,
                        resize_short=s.resize_short, frame_size=s.frame_size)
    return data, config, s, spec, tmp_path


def _extract(data, spec, tmp_path):
    videos = [(v, FRAMES, data.sizes[v]) for v in data.index["video_id"]]
    return extract_dataset(tmp_path / "frames", videos, tmp_path / "features", spec, tmp_path / "tiny.pt")


def _dataset(data, s, tmp_path, features=None, train=False):
    return ClipDataset(data.subset("train" if train else "test"), frames_dir=tmp_path / "frames", poses=data.poses,
                       sizes=data.sizes, max_persons=2, train=train, input_size=s.input_size,
                       resize_short=s.resize_short, crop_scales=s.crop_scales, flip_prob=s.flip_prob, seed=SEED,
                       features=features)


def test_cached_maps_give_the_live_backbones_logits(world):
    data, config, s, spec, tmp_path = world
    assert _extract(data, spec, tmp_path) == len(data.index)
    torch.manual_seed(0)
    model = build_model(config).eval()
    cache = FeatureCache(tmp_path / "features", spec, "toy")
    live = next(iter(make_loader(_dataset(data, s, tmp_path), batch_size=8, epoch=0, seed=0, shuffle=False, workers=0)))
    cached = next(iter(make_loader(_dataset(data, s, tmp_path, cache), batch_size=8, epoch=0, seed=0,
                                   shuffle=False, workers=0)))
    assert cached["frames"].numel() == 0 and cached["mid"].dtype == torch.float16
    with torch.no_grad():
        a = model(*to_model_inputs(live, model, "cpu")).logits
        b = model(*to_model_inputs(cached, model, "cpu")).logits
    for head in a:
        assert torch.allclose(a[head], b[head], atol=2e-2, rtol=1e-2), head
    # the SA module reads the pooled map as the whole map: equal up to float16 rounding
    assert not torch.equal(a["appearance"], b["appearance"])


def test_a_flipped_clip_reads_the_mirrored_mid_map_and_flips_with_the_poses(world):
    data, config, s, spec, tmp_path = world
    _extract(data, spec, tmp_path)
    cache = FeatureCache(tmp_path / "features", spec)
    plain, _ = cache.clip("v00", np.array([1, 4]), flip=False)
    mirrored, _ = cache.clip("v00", np.array([1, 4]), flip=True)
    assert torch.equal(mirrored, plain.flip(-1))
    train = _dataset(data, s, tmp_path, cache, train=True)
    flips = []
    for i in range(40):
        item = train[i]
        video = train.rows.iloc[i % len(train)].video_id
        unflipped, _ = cache.clip(video, item["frame_indices"].numpy(), flip=False)
        flipped = not torch.equal(item["mid"], unflipped)
        if flipped:
            assert torch.equal(item["mid"], unflipped.flip(-1))
        flips.append(flipped)
    assert 0 < sum(flips) < len(flips)        # flip_prob 0.5: some of each


def test_extraction_resumes_and_other_settings_start_afresh(world):
    data, config, s, spec, tmp_path = world
    assert _extract(data, spec, tmp_path) == 18
    side = np.load(tmp_path / "features" / "v00.mid.npy").shape[-1]
    (tmp_path / "features" / "v03.mid.npy").unlink()          # as if killed before its last file
    assert _extract(data, spec, tmp_path) == 1
    other = dataclasses.replace(spec, input_size=2 * spec.input_size, resize_short=2 * spec.resize_short)
    with pytest.raises(StaleFeatures, match="features@toy"):
        FeatureCache(tmp_path / "features", other, "toy")
    assert _extract(data, other, tmp_path) == 18                # emptied and filled again
    assert read_json(tmp_path / "features" / "meta.json")["spec"]["input_size"] == other.input_size
    assert np.load(tmp_path / "features" / "v00.mid.npy").shape[-1] == 2 * side


def test_a_missing_or_unused_cache_is_a_one_line_error(world):
    data, config, s, spec, tmp_path = world
    with pytest.raises(MissingInput, match=r"no cached backbone maps. Fix: run the features stage \(dvc repro features@toy\)"):
        FeatureCache(tmp_path / "nothing", spec, "toy")
    write_unused(tmp_path / "unused", "the backbone trains")
    with pytest.raises(StaleFeatures, match="none \\(the backbone trains\\)"):
        FeatureCache(tmp_path / "unused", spec, "toy")
    with pytest.raises(MissingInput, match="does not exist"):
        feature_spec(backbone="resnet_tiny", backbone_width=4, pretrained=tmp_path / "gone.pt", view="crop", input_size=32,
                     resize_short=36, frame_size=(32, 24))


def test_the_cache_applies_to_a_frozen_pretrained_backbone_only():
    assert cache_applies("w.pt", 0.0, True)
    assert not cache_applies("w.pt", 0.1, True)        # the backbone fine-tunes
    assert not cache_applies(None, 0.0, True)          # from scratch
    assert not cache_applies("w.pt", 0.0, False)       # tmp: no frames


def test_training_on_the_cache_reads_no_frame_and_records_the_cache(world, monkeypatch):
    data, config, s, spec, tmp_path = world
    _extract(data, spec, tmp_path)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    s = dataclasses.replace(s, epochs=2, pose_warmup_epochs=1)
    train_run(data, frames_dir=tmp_path / "frames", model_config=config, s=s, seed=SEED, run_dir=tmp_path / "run",
              plots_dir=tmp_path / "plots", run_info={"name": "c", "dataset": "toy"},
              features_dir=tmp_path / "features")
    assert not [p for p in opened if str(p).endswith(".jpg")]
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["fingerprint"]["features"] == spec.digest()
    # the frozen backbone's weights are the file's: predict and evaluate run them on frames
    model = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["state_dict"]
    torch.manual_seed(3)
    own = build_backbone("resnet_tiny", 4).state_dict()
    assert all(torch.equal(model[f"backbone.{k}"], v) for k, v in own.items() if f"backbone.{k}" in model)


def test_evaluate_reads_the_cache_the_model_was_trained_on_and_falls_back_to_frames(world, monkeypatch, capsys):
    from pipeline.evaluate import subset_logits

    data, config, s, spec, tmp_path = world
    _extract(data, spec, tmp_path)
    s = dataclasses.replace(s, epochs=1, pose_warmup_epochs=0)
    train_run(data, frames_dir=tmp_path / "frames", model_config=config, s=s, seed=SEED, run_dir=tmp_path / "run",
              plots_dir=tmp_path / "plots", run_info={"name": "c", "dataset": "toy"},
              features_dir=tmp_path / "features")
    model_path = tmp_path / "run" / "model.pt"
    assert torch.load(model_path, weights_only=True)["features"] == spec.to_dict()
    kw = dict(frames_dir=tmp_path / "frames", s=s, seed=SEED, batch_size=4)
    live, live_labels, _, _ = subset_logits(data, "test", model_path, **kw)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    cached, labels, _, _ = subset_logits(data, "test", model_path, features_dir=tmp_path / "features", **kw)
    assert "backbone maps from" in capsys.readouterr().out
    assert not [p for p in opened if str(p).endswith(".jpg")]
    assert np.array_equal(labels, live_labels)
    for head in live:
        assert np.allclose(live[head], cached[head], atol=2e-2, rtol=1e-2), head
    # maps for other settings: the backbone runs on the frames, and says why
    other = dataclasses.replace(spec, input_size=2 * spec.input_size, resize_short=2 * spec.resize_short)
    extract_dataset(tmp_path / "frames", [(v, FRAMES, data.sizes[v]) for v in data.index["video_id"]],
                    tmp_path / "features", other, tmp_path / "tiny.pt")
    again, _, _, _ = subset_logits(data, "test", model_path, features_dir=tmp_path / "features", **kw)
    assert "the backbone runs on the frames" in capsys.readouterr().out
    assert [p for p in opened if str(p).endswith(".jpg")]
    for head in live:
        assert np.array_equal(live[head], again[head]), head
