"""The CUDA path: the model on a GPU computes what it computes on the CPU, mixed precision trains
the paper configuration without overflow, and a model trained on the GPU with AMP loads and scores
the same on the CPU. Skipped where no CUDA device is present (CI has none); run on a GPU machine
with ``python -m pytest -q tests/test_cuda.py``."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline.data import SplitData
from pipeline.model import ModelConfig, build_model, parnet_loss
from pipeline.model_io import load_model, predict_logits
from pipeline.clip_spec import ClipSpec
from pipeline.data import make_dataset, make_loader
from pipeline.params import TrainParams
from pipeline.train import train_run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")
TINY = ModelConfig(num_classes=3, backbone="resnet_tiny", backbone_width=8, hidden_size=16, pose_dim=16,
                   appearance_dim=16, part_hidden=8, part_dim=10, num_persons=2, window=2,
                   pretrained=None, joint_visibility=False, pa_joint_map=False)


def _inputs(b=2, t=4, n=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(b, t, 3, size, size, generator=g)
    poses = torch.rand(b, t, n, 14, 2, generator=g)
    mask = torch.ones(b, t, n, dtype=torch.bool)
    mask[1, 1:3, 1] = False
    poses[~mask] = 0.0
    return frames, poses, mask


@pytest.fixture
def exact_fp32():
    """TF32 convolutions and matmuls would differ from the CPU by ~1e-3: compare in true fp32."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def test_parnet_on_cuda_matches_cpu(exact_fp32):
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    inputs = _inputs()
    with torch.no_grad():
        cpu = model(*inputs)
        gpu = model.to(CUDA)(*(x.to(CUDA) for x in inputs))
    for head, logits in cpu.logits.items():
        torch.testing.assert_close(gpu.logits[head].cpu(), logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gpu.person_weights.cpu(), cpu.person_weights, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gpu.spatial_attention.cpu(), cpu.spatial_attention, atol=1e-5, rtol=1e-4)


def test_paper_configuration_trains_under_amp():
    """BN-Inception at 224 px, T=16, hidden 512 (section IV): fp16 autocast + GradScaler steps
    give finite losses, settle to finite gradients and change every part of the model."""
    torch.manual_seed(0)
    config = ModelConfig(num_classes=51, backbone="bninception", num_persons=4, hidden_size=512, pose_dim=512,
                         appearance_dim=512, pretrained=None, joint_visibility=False, pa_joint_map=False)
    model = build_model(config, load_pretrained=False).to_device(CUDA).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=4e-5)
    scaler = torch.amp.GradScaler("cuda")
    frames, poses, mask = (x.to(CUDA) for x in _inputs(b=2, t=16, n=4, size=224))
    labels = torch.tensor([3, 17], device=CUDA)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    applied = []
    for _ in range(6):
        with torch.autocast("cuda"):
            out = model(frames, poses, mask)
            loss = parnet_loss(out, labels)
        assert out.logits["concat"].dtype == torch.float16 and torch.isfinite(loss)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        # the scaler skips a step whose fp16 gradients overflowed, then lowers its scale
        applied.append(all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None))
        scaler.step(optimizer)
        scaler.update()
    assert all(applied[-3:]), applied          # a few overflows while the scale settles, then none
    moved = {k.split(".")[0] for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    assert moved == {k.split(".")[0] for k, _ in model.named_parameters()}


def test_pose_stream_replayed_as_cuda_graphs_trains_like_eager(exact_fp32):
    """Same seed, same batches, SGD: the graphed model's losses and weights follow the eager
    model's; evaluation and a batch of another size run eagerly and agree too."""
    models = []
    for graphed in (False, True):
        torch.manual_seed(0)
        model = build_model(TINY).to_device(CUDA).train()
        if graphed:
            model.capture_pose_stream(*(x.to(CUDA) for x in _inputs()[1:]))
        models.append(model)
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in models]
    labels = torch.tensor([0, 2], device=CUDA)
    for step in range(4):
        batch = [x.to(CUDA) for x in _inputs(seed=step)]
        losses = []
        for model, optimizer in zip(models, optimizers):
            torch.manual_seed(step)                          # the same dropout draws in SA
            loss = parnet_loss(model(*batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-5, abs=1e-6)
    for (name, eager), graphed in zip(models[0].named_parameters(), models[1].parameters()):
        torch.testing.assert_close(graphed, eager, atol=1e-5, rtol=1e-4, msg=name)
    short = [x.to(CUDA) for x in _inputs(b=3, seed=9)]        # not the captured batch size
    for mode in ("train", "eval"):
        for m in models:
            getattr(m, mode)()
        with torch.no_grad():
            torch.manual_seed(0)
            a = models[0](*short).logits["pose"]
            torch.manual_seed(0)
            b = models[1](*short).logits["pose"]
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    assert set(models[1].state_dict()) == set(models[0].state_dict())


def _frames_split(tmp_path, num_videos=24, frames=8, classes=3) -> tuple[SplitData, object]:
    """Videos whose frame colour and pose height give the class away (so a few epochs learn it)."""
    rng = np.random.default_rng(0)
    ids = [f"v{i:02d}" for i in range(num_videos)]
    labels = [i % classes for i in range(num_videos)]
    subsets = (["train"] * 16 + ["val"] * 8)[:num_videos]
    poses = {}
    for v, y in zip(ids, labels):
        d = tmp_path / "frames" / v
        d.mkdir(parents=True)
        for f in range(frames):
            pixels = rng.integers(0, 40, (48, 64, 3)).astype(np.uint8)
            pixels[..., y] += 180
            Image.fromarray(pixels).save(d / f"{f:06d}.jpg")
        p = np.full((frames, 2, 14, 3), np.nan, np.float32)
        p[..., 2] = 0
        p[:, 0, :, :2] = rng.uniform(0.3, 0.7, (frames, 14, 2)) * 0.3 + 0.2 * y
        p[:, 0, :, 2] = 1
        poses[v] = p
    index = pd.DataFrame({"video_id": ids, "label_id": labels, "subset": subsets, "num_frames": frames,
                          "seg_start": [[0, 2, 4, 6]] * num_videos, "seg_end": [[2, 4, 6, 8]] * num_videos,
                          "mid": [[1, 3, 5, 7]] * num_videos})
    return SplitData(index=index, classes=["a", "b", "c"], poses=poses,
                     sizes={v: (64, 48) for v in ids}, pose_only=False), tmp_path / "frames"


def test_amp_training_on_cuda_learns_and_the_model_scores_the_same_on_cpu(tmp_path):
    data, frames_dir = _frames_split(tmp_path)
    s = TrainParams(input_size=32, resize_short=36, crop_scales=(1.0, 0.875), flip_prob=0.0, batch_size=4,
                    epochs=6, lr=3e-3, warmup_steps=2, momentum=0.9, weight_decay=4e-5, schedule="cosine",
                    optimizer="adamw", workers=0, threads=1, device="cuda", amp=True, grad_clip=5.0,
                    cuda_graphs=True, pose_warmup_epochs=0, pose_warmup_lr=0.0, backbone_lr_mult=0.2, min_steps=0)
    result = train_run(data, frames_dir=frames_dir, model_config=TINY, s=s, seed=3, run_dir=tmp_path / "run",
                       plots_dir=tmp_path / "run" / "plots", run_info={"name": "cuda"})
    assert result["best"]["top1"] > 0.5                        # chance: 1/3
    model, _ = load_model(tmp_path / "run" / "model.pt", device="cpu")
    val = make_dataset(data, "val", clip=ClipSpec.from_settings(s), frames_dir=frames_dir, max_persons=2,
                       seed=3, train=False)
    logits, labels = predict_logits(model, make_loader(val, batch_size=4, epoch=0, seed=0, shuffle=False,
                                                       workers=0), torch.device("cpu"))
    assert float((logits["concat"].argmax(1) == labels).mean()) == pytest.approx(result["best"]["top1"])
