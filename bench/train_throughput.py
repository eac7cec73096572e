"""Clips per second of training (forward + backward + step), inference, and the data loader alone,
side by side, on a run's real data (run `dvc repro` first).

    python -m bench.train_throughput [--run synth_1] [--batches 10] [--workers 0 1 2] [--paper]

--paper measures the paper configuration (BN-Inception, 224x224, hidden 512) on random inputs
instead, which needs a GPU to be meaningful.
"""
from __future__ import annotations

import argparse
import time

import torch

from pipeline.params import load_params
from pipeline.runs import run_spec
from pipeline.train import make_dataset, make_loader, pick_device, to_model_inputs
from pipeline.model import build_model, parnet_loss


def _loader_rate(dataset, batch_size, workers, batches):
    loader = make_loader(dataset, batch_size=batch_size, epoch=0, seed=0, shuffle=True, workers=workers)
    it = iter(loader)
    next(it)  # start-up (worker spawn) is not throughput
    t0, n = time.perf_counter(), 0
    for _ in range(batches):
        try:
            n += len(next(it)["label"])
        except StopIteration:
            break
    return n / (time.perf_counter() - t0)


def _model_rates(model, batch, device, batches):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    inputs = to_model_inputs(batch, model, device)
    labels = batch["label"].to(device)
    model.train()
    for step in range(batches + 1):
        if step == 1:
            sync(device)
            t0 = time.perf_counter()
        loss = parnet_loss(model(*inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync(device)
    train = batches * len(labels) / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(*inputs)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(batches):
            model(*inputs)
        sync(device)
    return train, batches * len(labels) / (time.perf_counter() - t0)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="synth_1")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    params = load_params()
    spec = run_spec(params, args.run)
    s = spec.train
    torch.set_num_threads(args.threads or s.threads)
    device = pick_device(s.device)
    data = spec.load_data()
    model = build_model(spec.model_config).to(device)
    dataset = make_dataset(data, "train", frames_dir=spec.frames_dir if model.uses_frames else None,
                           max_persons=spec.model_config.num_persons, s=s, train=True)
    batch = next(iter(make_loader(dataset, batch_size=s.batch_size, epoch=0, seed=0, shuffle=True, workers=0)))
    train_rate, infer_rate = _model_rates(model, batch, device, args.batches)
    print(f"run {args.run}: variant {spec.model_config.variant}, backbone {spec.model_config.backbone}, "
          f"{s.input_size}px, T={batch['frame_indices'].shape[1]}, batch {s.batch_size}, device {device}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"{'what':<28} {'clips/s':>9} {'vs training':>12}")
    print(f"{'model: train step':<28} {train_rate:9.1f} {1.0:12.2f}")
    print(f"{'model: inference':<28} {infer_rate:9.1f} {infer_rate / train_rate:12.2f}")
    for workers in args.workers:
        rate = _loader_rate(dataset, s.batch_size, workers, args.batches)
        print(f"{f'loader: {workers} worker(s)':<28} {rate:9.1f} {rate / train_rate:12.2f}")


if __name__ == "__main__":
    main()
