"""Parameter count, FLOPs and CPU time of the model (run on demand, not a test):

    .venv/bin/python -m bench.model_report [--no-time]

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode on one clip (batch 1), forward only.
It counts a multiply-add as 2 FLOPs (FLOPs = 2 * MACs) and only matrix products and convolutions
(no elementwise, normalisation or pooling work). The paper's 64.9 GFLOPs does not say which
convention it uses, so both are printed next to it. The count runs on the meta device: shapes only.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from pipeline.model import ModelConfig, build_model, parnet_loss

PAPER_GFLOPS = 64.9

PAPER = dict(config=ModelConfig(num_classes=101, variant="parnet", backbone="bninception", hidden_size=512,
                                window=5, pose_dim=512, appearance_dim=512, num_persons=4, pretrained=None,
                                joint_visibility=False, pa_joint_map=False),
             size=224, steps=16, persons=4)
SMALL = dict(config=ModelConfig(num_classes=101, variant="parnet", backbone="resnet_tiny", backbone_width=16,
                                hidden_size=128, window=5, pose_dim=128, appearance_dim=128, num_persons=4,
                                pretrained=None, joint_visibility=False, pa_joint_map=False),
             size=112, steps=16, persons=4)


def make_inputs(batch: int, steps: int, persons: int, size: int, device="cpu"):
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, steps, 3, size, size, generator=g).to(device)
    poses = torch.rand(batch, steps, persons, 14, 2, generator=g).to(device)
    mask = torch.ones(batch, steps, persons, dtype=torch.bool, device=device)
    return frames, poses, mask


def count(setup: dict) -> tuple[int, dict[str, int], int, dict[str, int]]:
    """(parameters, parameters per module, forward FLOPs of one clip, FLOPs per module)."""
    with torch.device("meta"):
        model = build_model(setup["config"], load_pretrained=False).eval()
    params = sum(p.numel() for p in model.parameters())
    per_module = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counter = FlopCounterMode(display=False, depth=2)
    with counter, torch.no_grad():
        model(*make_inputs(1, setup["steps"], setup["persons"], setup["size"], device="meta"))
    by_module = {name.split(".", 1)[1]: sum(ops.values())
                 for name, ops in counter.get_flop_counts().items() if name.count(".") == 1}
    return params, per_module, counter.get_total_flops(), by_module


def describe(title: str, setup: dict, paper: bool = False) -> None:
    cfg = setup["config"]
    params, per_module, flops, by_module = count(setup)
    print(f"== {title}: {cfg.backbone}"
          f"{f' width {cfg.backbone_width}' if cfg.backbone != 'bninception' else ''}, "
          f"{setup['size']}x{setup['size']}, T={setup['steps']}, N={setup['persons']}, "
          f"hidden {cfg.hidden_size}, "
          f"window {cfg.window}, {cfg.num_classes} classes, variant {cfg.variant}")
    print(f"parameters: {params / 1e6:.2f} M  ("
          + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in per_module.items()) + ")")
    print(f"forward FLOPs per clip (2*MACs): {flops / 1e9:.2f} G  = {flops / 2e9:.2f} GMACs  ("
          + ", ".join(f"{k} {v / 1e9:.3f} G" for k, v in by_module.items()) + ")")
    if "backbone" in by_module:
        frame = by_module["backbone"] / setup["steps"]
        print(f"backbone per frame: {frame / 1e9:.3f} GFLOPs = {frame / 2e9:.3f} GMACs")
    if paper:
        print(f"paper: {PAPER_GFLOPS} GFLOPs -> ours / paper: {flops / 1e9 / PAPER_GFLOPS:.2f} if the paper counts "
              f"2*MACs, {flops / 2e9 / PAPER_GFLOPS:.2f} if it counts MACs")


def time_train_step(setup: dict, batch: int, repeats: int) -> None:
    torch.manual_seed(0)
    model = build_model(setup["config"], load_pretrained=False).train()
    frames, poses, mask = make_inputs(batch, setup["steps"], setup["persons"], setup["size"])
    labels = torch.arange(batch) % setup["config"].num_classes
    times = []
    for _ in range(repeats + 1):  # the first run warms up
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        parnet_loss(model(frames, poses, mask), labels).backward()
        times.append(time.perf_counter() - t0)
    best, median = min(times[1:]), sorted(times[1:])[len(times[1:]) // 2]
    print(f"forward+backward, batch {batch}, {torch.get_num_threads()} thread(s): "
          f"best {best:.3f} s, median {median:.3f} s over {repeats} runs ({batch / median:.1f} clips/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-time", action="store_true", help="skip the CPU timing of the small model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; FLOPs by torch.utils.flop_counter.FlopCounterMode "
          f"(matmuls and convolutions only, 1 multiply-add = 2 FLOPs)")
    describe("paper configuration", PAPER, paper=True)
    describe("small CPU configuration", SMALL)
    if not args.no_time:
        time_train_step(SMALL, batch=8, repeats=args.repeats)


if __name__ == "__main__":
    main()
