"""Milliseconds per training step of the default profile's model on cached-map-shaped random inputs
(no data loading): the pose warm-up's step (pose stream alone) and the joint step (every stream,
frozen backbone's maps as the features stage caches them). The CPU time of `dvc repro`'s training
is these steps; run it on two commits, alternating, to compare them.

    python -m bench.step_time [--params params.yaml] [--run synth_1] [--steps 30] [--threads 1] [--classes 10]
"""
from __future__ import annotations

import argparse
import time

import torch

from pipeline.keypoints import NUM_KEYPOINTS
from pipeline.model import build_model, parnet_loss
from pipeline.model.parnet import BackboneMaps
from pipeline.params import load_params
from pipeline.runs import run_spec


def _inputs(model, batch: int, steps: int, persons: int, size: int, g: torch.Generator):
    poses = torch.rand(batch, steps, persons, NUM_KEYPOINTS, 2, generator=g) * 2 - 1
    mask = torch.rand(batch, steps, persons, generator=g) > 0.3
    visibility = (torch.rand(batch, steps, persons, NUM_KEYPOINTS, generator=g) > 0.1).float()
    frames = None
    if model.uses_frames:
        with torch.no_grad():
            mid, last = model.backbone(torch.rand(batch * steps, 3, size, size, generator=g))
        frames = BackboneMaps(mid.unflatten(0, (batch, steps)).half(),
                              last.mean(dim=(2, 3)).unflatten(0, (batch, steps)).half())
    return frames, poses, mask, visibility


def _time(step, n: int) -> float:
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--run", default="synth_1")
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each kind")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classes", type=int, default=10, help="the model's classes (the default dataset's 10)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.params)
    spec = run_spec(params, args.run, num_classes=args.classes)
    config = spec.model_config
    torch.manual_seed(0)
    model = build_model(config, load_pretrained=False)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    s = spec.train
    g = torch.Generator().manual_seed(0)
    frames, poses, mask, visibility = _inputs(model, s.batch_size, params.index.num_segments, config.num_persons,
                                              s.input_size, g)
    labels = torch.randint(0, config.num_classes, (s.batch_size,), generator=g)

    def pose_step():
        optimizer.zero_grad()
        parnet_loss(model.pose_stream_logits(poses, mask, visibility), labels).backward()
        optimizer.step()

    def joint_step():
        optimizer.zero_grad()
        parnet_loss(model(frames, poses, mask, visibility).logits, labels).backward()
        optimizer.step()

    print(f"{config.variant}, batch {s.batch_size}, T {params.index.num_segments}, N {config.num_persons}, "
          f"hidden {config.hidden_size}, window {config.window}, threads {args.threads}")
    pose_ms = _time(pose_step, args.steps)
    print(f"pose warm-up step: {pose_ms:.1f} ms")
    if model.uses_frames:
        joint_ms = _time(joint_step, args.steps)
        print(f"joint step:        {joint_ms:.1f} ms")


if __name__ == "__main__":
    main()
