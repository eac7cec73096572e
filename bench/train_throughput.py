"""Clips per second of training (forward + backward + step), inference, and the data loader alone,
side by side, on a run's real data (run `dvc repro` first).

    python -m bench.train_throughput [--run synth_1] [--batches 10] [--workers 0 1 2]
    python -m bench.train_throughput --params profiles/ucf101.yaml --run ucf101_1 --workers 4 8   # a paper profile
    python -m bench.train_throughput --run synth_1 --model-from profiles/ucf101.yaml --workers 0 4 8
        # the profile's model and training settings (224 px, batch 8, AMP, graphs) on the default run's frames
    python -m bench.train_throughput --paper [--batch 8] [--variants sa tmp parnet] [--cudnn-benchmark]
    python -m bench.train_throughput --backbone-formats contiguous channels_last [--threads 2]
        # the backbone's weights in NCHW (the model's on the CPU) against NHWC (its on CUDA); run it
        # with ONEDNN_MAX_CPU_ISA=AVX2 too for the kernels of a CPU without AVX-512 (NHWC training
        # corrupted the heap there: pipeline/model/parnet.py, backbone_memory_format)

--paper measures the paper configuration (BN-Inception, 224x224, T=16, hidden 512) on random
inputs instead, fp32 and AMP side by side with peak GPU memory; it needs a GPU to be meaningful.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from pipeline.params import load_params
from pipeline.runs import run_spec
from pipeline.model_io import to_model_inputs
from pipeline.devices import pick_device
from pipeline.clip_spec import ClipSpec
from pipeline.data import make_dataset, make_loader
from pipeline.model import VARIANTS, build_model, parnet_loss
from pipeline.model.parnet import backbone_memory_format
from bench.model_report import PAPER, make_inputs

MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


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


def _model_rates(model, inputs, labels, device, batches, amp=False):
    """(train clips/s, inference clips/s) of ``model`` on one fixed batch, after one warm-up step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    model.train()
    for step in range(batches + 1):
        if step == 1:
            sync(device)
            t0 = time.perf_counter()
        with torch.autocast(device.type, enabled=amp, cache_enabled=False):
            loss = parnet_loss(model(*inputs), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    sync(device)
    train = batches * len(labels) / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad(), torch.autocast(device.type, enabled=amp, cache_enabled=False):
        model(*inputs)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(batches):
            model(*inputs)
        sync(device)
    return train, batches * len(labels) / (time.perf_counter() - t0)


def paper_rates(device, batch: int, batches: int, variants: list[str], cudnn_benchmark: bool,
                compile_mode: str | None = None, cuda_graphs: bool = False) -> None:
    """The paper configuration on random inputs: each variant in fp32 and AMP, side by side."""
    torch.backends.cudnn.benchmark = cudnn_benchmark
    setup = PAPER
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"paper configuration (BN-Inception, {setup['size']}px, T={setup['steps']}, hidden 512), "
          f"batch {batch}, {name}, torch {torch.__version__}, cudnn.benchmark {cudnn_benchmark}, "
          f"torch.compile {compile_mode or 'off'}, pose stream as CUDA graphs {cuda_graphs}")
    print(f"{'variant':<8} {'precision':<9} {'train clips/s':>14} {'infer clips/s':>14} {'peak GiB':>9} "
          f"{'train vs parnet fp32':>21}")
    rows = []
    for variant in variants:
        for amp in (False, True) if device.type == "cuda" else (False,):
            torch.manual_seed(0)
            config = dataclasses.replace(setup["config"], variant=variant)
            model = build_model(config, load_pretrained=False).to_device(device)
            if compile_mode:
                model = torch.compile(model, mode=None if compile_mode == "default" else compile_mode)
            frames, poses, mask = make_inputs(batch, setup["steps"], setup["persons"], setup["size"], device=device)
            uses_frames, uses_poses = config.variant != "tmp", config.variant != "sa"
            inputs = (frames if uses_frames else None, poses if uses_poses else None,
                      mask if uses_poses else None)
            labels = torch.arange(batch, device=device) % config.num_classes
            if cuda_graphs:
                model.train()
                with torch.autocast(device.type, enabled=amp, cache_enabled=False):
                    model.capture_pose_stream(poses, mask)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            train, infer = _model_rates(model, inputs, labels, device, batches, amp=amp)
            peak = torch.cuda.max_memory_allocated() / 2 ** 30 if device.type == "cuda" else float("nan")
            rows.append((variant, "amp fp16" if amp else "fp32", train, infer, peak))
            del model, frames, poses, mask, inputs
    ref = next((r[2] for r in rows if r[0] == "parnet" and r[1] == "fp32"), rows[0][2])
    for variant, precision, train, infer, peak in rows:
        print(f"{variant:<8} {precision:<9} {train:14.1f} {infer:14.1f} {peak:9.2f} {train / ref:21.2f}")


def profile_step(device, batch: int, amp: bool) -> None:
    """Where one training step of the paper configuration spends its time (top operators)."""
    from torch.profiler import ProfilerActivity, profile
    setup = PAPER
    torch.manual_seed(0)
    model = build_model(setup["config"], load_pretrained=False).to_device(device).train()
    inputs = make_inputs(batch, setup["steps"], setup["persons"], setup["size"], device=device)
    labels = torch.arange(batch, device=device) % setup["config"].num_classes
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    _model_rates(model, inputs, labels, device, 2, amp=amp)   # warm-up
    with profile(activities=activities) as prof:
        _model_rates(model, inputs, labels, device, 2, amp=amp)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=20))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="synth_1")
    parser.add_argument("--params", default="params.yaml", help="params or profile file of --run (default params.yaml)")
    parser.add_argument("--model-from", metavar="PROFILE",
                        help="take the model: and train: sections from this params/profile file, the data from --params")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override train.device")
    parser.add_argument("--loader-only", action="store_true", help="time the data loader alone (no model)")
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1], help="loader workers to time (none: no loader rows)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--paper", action="store_true", help="the paper configuration on random inputs")
    parser.add_argument("--batch", type=int, default=8, help="batch size of --paper (default 8)")
    parser.add_argument("--variants", nargs="+", default=["parnet"], choices=VARIANTS,
                        help="model variants of --paper (default parnet)")
    parser.add_argument("--compile", choices=("default", "reduce-overhead", "max-autotune"),
                        help="--paper: wrap the model in torch.compile with this mode")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="--paper: replay the pose stream as CUDA graphs in training (inference stays eager)")
    parser.add_argument("--profile", action="store_true", help="--paper: also print the top operators of a step")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick convolution algorithms")
    parser.add_argument("--backbone-formats", nargs="+", default=None, choices=tuple(MEMORY_FORMATS),
                        help="memory formats of the backbone's weights to time (default: the model's on "
                             "the device, backbone_memory_format: contiguous on the CPU, channels_last on CUDA)")
    args = parser.parse_args()
    if args.paper:
        torch.set_num_threads(args.threads or 1)
        paper_rates(pick_device("auto"), args.batch, args.batches, args.variants, args.cudnn_benchmark,
                    args.compile, args.cuda_graphs)
        if args.profile:
            profile_step(pick_device("auto"), args.batch, amp=torch.cuda.is_available())
        return
    params = load_params(args.params)
    if args.model_from:
        profile = load_params(args.model_from)
        params = dataclasses.replace(params, model=profile.model, train=profile.train)
    spec = run_spec(params, args.run)
    s = spec.train if args.device is None else dataclasses.replace(spec.train, device=args.device)
    torch.set_num_threads(args.threads or s.threads)
    device = pick_device(s.device)
    data = spec.load_data()
    model = build_model(spec.model_config, load_pretrained=False).to_device(device)  # speed does not need the weights
    dataset = make_dataset(data, "train", clip=ClipSpec.from_settings(s), seed=spec.seed, train=True,
                           frames_dir=spec.frames_dir if model.uses_frames else None,
                           max_persons=spec.model_config.num_persons)
    amp = s.amp and device.type == "cuda"
    graphs = s.cuda_graphs and device.type == "cuda" and model.uses_poses
    print(f"run {args.run} ({args.params}{f', model and training from {args.model_from}' if args.model_from else ''}): "
          f"variant {spec.model_config.variant}, backbone {spec.model_config.backbone}, "
          f"{'x'.join(map(str, s.frame_size)) + ' whole frames' if s.view == 'frame' else f'{s.input_size}px crops'}, "
          f"T={len(data.index['seg_start'].iloc[0])}, batch {s.batch_size}, device {device}, AMP {amp}, "
          f"pose stream as CUDA graphs {graphs}, {torch.get_num_threads()} torch threads")
    print(f"{'what':<34} {'clips/s':>9} {'vs training':>12}")
    train_rate = float("nan")
    if not args.loader_only:
        batch = next(iter(make_loader(dataset, batch_size=s.batch_size, epoch=0, seed=0, shuffle=True, workers=0)))
        if graphs:  # as training does on one GPU
            model.train()
            with torch.autocast(device.type, enabled=amp, cache_enabled=False):
                model.capture_pose_stream(batch["poses"].to(device), batch["person_mask"].to(device))
        default_format = "channels_last" if backbone_memory_format(device) == torch.channels_last else "contiguous"
        for i, fmt in enumerate(args.backbone_formats or [default_format]):
            if model.backbone is not None:
                model.backbone.to(memory_format=MEMORY_FORMATS[fmt])
            train, infer = _model_rates(model, to_model_inputs(batch, model, device),
                                        batch["label"].to(device), device, args.batches, amp=amp)
            train_rate = train if i == 0 else train_rate
            what = f"model ({fmt})" if len(args.backbone_formats or ()) > 1 else "model"
            print(f"{what + ': train step':<34} {train:9.1f} {train / train_rate:12.2f}")
            print(f"{what + ': inference':<34} {infer:9.1f} {infer / train_rate:12.2f}")
    for workers in args.workers:
        rate = _loader_rate(dataset, s.batch_size, workers, args.batches)
        print(f"{f'loader: {workers} worker(s)':<34} {rate:9.1f} {rate / train_rate:12.2f}")


if __name__ == "__main__":
    main()
