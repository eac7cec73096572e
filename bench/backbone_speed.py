"""CPU time of the 2D backbones alone, side by side: one batch of frames (a training batch of
8 clips x 16 frames by default) forward + backward as fine-tuning trains it (partial BN: BN after the
first in eval mode, frozen), and forward only in eval mode (a frozen backbone, or inference).

    python -m bench.backbone_speed [--backbones resnet_tiny efficientnet_lite0] [--size 112]
                                   [--frames 128] [--threads 1] [--repeats 3]

Random weights: speed does not depend on them. Medians of --repeats timed runs after one untimed.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from pipeline.finetune import partial_bn
from pipeline.model.backbones import build_backbone
from pipeline.model_config import BACKBONES
from pipeline.model.parnet import backbone_memory_format


def _median_seconds(step, repeats: int) -> float:
    step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def macs_per_frame(backbone, size: int) -> float:
    """Multiply-adds of one frame's forward (FlopCounterMode counts a multiply-add as 2 FLOPs)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        backbone.eval()(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 2


def time_backbone(name: str, frames: torch.Tensor, repeats: int):
    backbone = build_backbone(name).to(memory_format=backbone_memory_format(frames.device))
    macs = macs_per_frame(backbone, frames.shape[-1])

    def train_step():
        backbone.train()
        partial_bn(backbone)
        mid, last = backbone(frames)
        (mid.mean() + last.mean()).backward()

    @torch.no_grad()
    def infer():
        backbone.eval()
        backbone(frames)

    return macs, _median_seconds(train_step, repeats), _median_seconds(infer, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["resnet_tiny", "efficientnet_lite0"], choices=BACKBONES)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--frames", type=int, default=128, help="frames per batch (8 clips x T=16)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frames = torch.randn(args.frames, 3, args.size, args.size)
    print(f"{args.frames} frames of {args.size}x{args.size}, {torch.get_num_threads()} thread(s), "
          f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}); seconds per batch")
    print(f"{'backbone':<20} {'MMACs/frame':>12} {'train step':>11} {'forward':>9} {'train vs first':>15}")
    rows = [(name, *time_backbone(name, frames, args.repeats)) for name in args.backbones]
    for name, macs, train, infer in rows:
        print(f"{name:<20} {macs / 1e6:12.1f} {train:11.2f} {infer:9.2f} {train / rows[0][2]:15.2f}")


if __name__ == "__main__":
    main()
