"""Training: SGD with momentum, linear warm-up then a schedule, model selection on the validation
subset (never the test set), a checkpoint every epoch from which an interrupted run resumes with
the same schedule and the same random draws, DVCLive logging, and DDP when launched by torchrun."""
from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from pipeline.code_digest import code_digest
from pipeline.clip_spec import ClipSpec
from pipeline.data import SplitData, make_dataset, make_loader  # called by these names: tests patch them here
from pipeline.devices import pick_device
from pipeline.errors import InputError
from pipeline.features import FeatureCache, cache_applies, feature_spec
from pipeline.finetune import freeze, param_groups, partial_bn
from pipeline.io import atomic_path, write_json
from pipeline.keypoints import NUM_KEYPOINTS
from pipeline.model import ModelConfig, build_model, parnet_loss
from pipeline.params import TrainParams
from pipeline.model_io import (CHECKPOINT_FORMAT, _read_checkpoint, _save_checkpoint, save_model,
                               predict_logits, stream_logits, to_model_inputs)
from pipeline.pose_augment import PoseAugmentParams
from pipeline.pose_inputs import PoseInputParams


# The modules whose code (and whatever project code they import) makes a trained model.
TRAINING_CODE = ("pipeline.train",)


class TrainingDiverged(InputError, FloatingPointError):
    pass


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, schedule: str,
              milestones: tuple = (), decay: float = 0.1) -> float:
    """Multiplier of the base lr at optimiser step ``step`` (0-based): linear warm-up over
    ``warmup_steps`` (paper section IV), then constant, cosine decay to 0 at ``total_steps``, or
    step decay: times ``decay`` at each of ``milestones`` (fractions of ``total_steps``; the
    official code decays at 78k, 128k and 138k of ~140k steps). The warm-up never takes more than
    a fifth of the run: a small dataset has few steps per epoch (15 clips in batches of 8: 2), and
    30 warm-up steps would last its whole 15-epoch run."""
    warmup_steps = min(warmup_steps, max(total_steps // 5, 1))
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "step":
        return decay ** sum(step >= round(m * total_steps) for m in milestones)
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def phase_epochs(epochs: int, steps_per_epoch: int, min_steps: int) -> int:
    """Epochs of a training phase: ``epochs``, or more where they would take fewer than
    ``min_steps`` optimiser steps: 9 clips in batches of 8 are 2 steps an epoch, so a floor of 300
    steps makes 15 warm-up epochs 150. A phase that is off (0 epochs) stays off."""
    if epochs <= 0:
        return 0
    return max(epochs, math.ceil(min_steps / max(steps_per_epoch, 1)))


def phased_lr_factor(step: int, *, phase_steps: tuple[int, ...], warmup_steps: int, schedule: str,
                     phase_scales: tuple[float, ...] | None = None, milestones: tuple = (),
                     decay: float = 0.1) -> float:
    """lr_factor within each phase (pose warm-up, joint training): each has its own warm-up and
    decay, and its own multiple of the base lr (``phase_scales``, default 1)."""
    scales = phase_scales or (1.0,) * len(phase_steps)
    for steps, scale in zip(phase_steps[:-1], scales):
        if step < steps:
            return scale * lr_factor(step, warmup_steps=warmup_steps, total_steps=steps, schedule=schedule,
                                     milestones=milestones, decay=decay)
        step -= steps
    return scales[-1] * lr_factor(step, warmup_steps=warmup_steps, total_steps=phase_steps[-1], schedule=schedule,
                                  milestones=milestones, decay=decay)


def make_optimizer(model: torch.nn.Module, s: TrainParams, finetune: bool = False) -> torch.optim.Optimizer:
    """The paper's SGD (momentum, L2 weight decay as in eq. 21), or AdamW for short CPU schedules:
    the paper trains ~140k SGD steps; a few hundred SGD steps barely move the TA-LSTMs.
    ``finetune`` (a pretrained backbone): the backbone learns at ``s.backbone_lr_mult`` x ``s.lr``."""
    params = (param_groups(model, model.backbone, s.lr, s.backbone_lr_mult) if finetune
              else model.parameters())
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    return torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)


def _init_distributed(device: torch.device) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def train_run(data: SplitData, *, frames_dir: Path | None, model_config: ModelConfig, s: TrainParams,
              seed: int, run_dir: Path, plots_dir: Path, run_info: dict, data_fingerprint: str = "",
              pose_augment: PoseAugmentParams | None = None, pose_inputs: PoseInputParams | None = None,
              features_dir: Path | None = None) -> dict:
    """Train one run with the settings ``s`` (params.yaml's `train:`) and ``seed`` (its top-level
    `seed`); write ``run_dir/model.pt`` (the best epoch on validation) and return a summary.

    ``run_dir/checkpoints/last.pt`` is written every epoch, ``checkpoints/best.pt`` (model.pt's
    content) whenever validation improves. A run resumes from them when the settings,
    ``data_fingerprint`` (a digest of the input files) and the training code (code_digest of
    TRAINING_CODE) are unchanged: an unfinished one trains its remaining epochs, a finished one only
    rewrites model.pt and the logs. Any change starts afresh.

    A frozen pretrained backbone (features.cache_applies) reads its maps from ``features_dir``
    (the features stage's cache) instead of running on frames, when that is given."""
    torch.set_num_threads(max(1, s.threads))
    pose_inputs = pose_inputs if pose_inputs is not None else PoseInputParams()
    run_info = {**run_info, "pose_inputs": asdict(pose_inputs)}  # evaluate and predict prepare poses alike
    t = _build(data, frames_dir=frames_dir, model_config=model_config, s=s, seed=seed, run_dir=run_dir,
               run_info=run_info,
               data_fingerprint=data_fingerprint, pose_augment=pose_augment, pose_inputs=pose_inputs,
               features_dir=features_dir)
    start_epoch, history, best = _resume(t, data, run_info)
    live = _open_live(run_dir) if t.rank == 0 else None
    for record in history:  # a resumed run's logs hold every epoch, as an uninterrupted run's do
        _log_live(live, record)
    for epoch in range(start_epoch, len(t.epoch_phases)):
        record = train_one_epoch(t, epoch)
        if t.rank == 0:
            record.update(validate(t, epoch))
            best, improved = _select(record, best)
            history.append(record)
            _log_live(live, record)
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            _save_epoch(t, data, run_info, epoch, history, best, improved)
        if t.world > 1:
            dist.barrier()
    _finish(t, live, history, plots_dir, title=run_info.get("name", ""))
    return {"best": best, "epochs": len(history)}


@dataclass
class _Training:
    """What ``_build`` sets up for one run and its epochs use."""
    s: TrainParams
    seed: int                            # every random draw of the run follows from it
    model: torch.nn.Module
    ddp_model: torch.nn.Module           # the model, wrapped for DDP when there are several processes
    model_config: ModelConfig
    clip: ClipSpec                       # written into model.pt: how evaluate and predict make clips
    phase_sets: dict                     # phase -> (training set, validation set)
    epoch_phases: list[str]              # the phase of every epoch
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    freeze_backbone: object              # re-applied every epoch (model.train() unfreezes BN)
    device: torch.device
    rank: int
    world: int
    local_batch: int
    drop_last: bool
    use_amp: bool
    run_dir: Path
    fingerprint: dict                    # what a checkpoint must match to be resumed
    features_spec: object = None         # the cached maps' FeatureSpec (a frozen backbone), in model.pt

    @property
    def ckpt_path(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.run_dir / "checkpoints" / "best.pt"


def _build(data: SplitData, *, frames_dir: Path | None, model_config: ModelConfig, s: TrainParams, seed: int,
           run_dir: Path, run_info: dict, data_fingerprint: str, pose_augment: PoseAugmentParams | None,
           pose_inputs: PoseInputParams, features_dir: Path | None) -> _Training:
    """The model, the datasets of each phase, the optimizer and its schedule, on this process's
    device (and DDP rank)."""
    device = pick_device(s.device)
    rank, world = _init_distributed(device)
    torch.manual_seed(seed)
    model = _build_model(data, model_config, pose_augment, run_info, device)
    frames_dir = frames_dir if model.uses_frames else None
    segments = len(data.index["seg_start"].iloc[0]) if len(data.index) else 0
    clip = ClipSpec.from_settings(s, num_segments=int(run_info.get("num_segments", segments)),
                                  pose_augment=pose_augment, pose_inputs=pose_inputs,
                                  input_convention=model.backbone.input_convention if model.backbone is not None else None)
    features = _feature_cache(features_dir, model, model_config, s, run_info)
    phase_sets, warmup_epochs, app_epochs = _phase_datasets(data, model, model_config, s, seed, clip,
                                                            frames_dir, features, run_info)
    local_batch = max(1, s.batch_size // world)
    # One process keeps the last short batch (a small split would lose up to batch-1 clips an
    # epoch); DDP drops it so that every rank takes the same number of steps.
    drop_last = world > 1
    train_set = phase_sets["joint"][0]
    steps_per_epoch = (len(train_set) // (local_batch * world) if drop_last
                       else math.ceil(len(train_set) / local_batch)) or 1
    phases = _phases(s, warmup_epochs, app_epochs, steps_per_epoch, len(train_set), rank)
    finetune, freeze_backbone = _finetuning(model, model_config, s)
    optimizer = make_optimizer(model, s, finetune=finetune)
    scheduler = _scheduler(optimizer, s, phases, steps_per_epoch)
    use_amp = s.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    if s.cuda_graphs and device.type == "cuda" and world == 1 and model.uses_poses:
        _capture_pose_stream(model, data, local_batch, model_config.num_persons, device, use_amp)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    fingerprint = _fingerprint(model_config, s, seed, world, data_fingerprint, train_set, pose_augment, pose_inputs,
                               features)
    return _Training(s=s, seed=seed, model=model, ddp_model=ddp_model, model_config=model_config, clip=clip,
                     phase_sets=phase_sets, epoch_phases=[name for name, epochs, _ in phases for _ in range(epochs)],
                     optimizer=optimizer, scheduler=scheduler, scaler=scaler, freeze_backbone=freeze_backbone,
                     device=device, rank=rank, world=world, local_batch=local_batch, drop_last=drop_last,
                     use_amp=use_amp, run_dir=run_dir, fingerprint=fingerprint,
                     features_spec=features.spec if features is not None else None)


def _build_model(data: SplitData, model_config: ModelConfig, pose_augment: PoseAugmentParams | None,
                 run_info: dict, device: torch.device):
    model = build_model(model_config).to_device(device)
    if data.pose_only and model.uses_frames:
        raise ValueError(f"{run_info.get('dataset')}: the dataset is pose-only (no frames), so only "
                         f"variants without appearance can train on it (model.variant: tmp); got "
                         f"{model_config.variant!r}")
    if model.uses_frames and pose_augment is not None and pose_augment.view == "person":
        raise ValueError(f"pose_augment.view: person is for variants without appearance (model.variant: "
                         f"tmp); got {model_config.variant!r}: use view: crop")
    return model


def _feature_cache(features_dir: Path | None, model, model_config: ModelConfig, s: TrainParams,
                   run_info: dict) -> FeatureCache | None:
    """The features stage's cached maps, for a frozen pretrained backbone (features.cache_applies)."""
    if features_dir is None or not cache_applies(model_config.pretrained, s.backbone_lr_mult, model.uses_frames):
        return None
    spec = feature_spec(backbone=model_config.backbone, backbone_width=model_config.backbone_width,
                        pretrained=model_config.pretrained, view=s.view,
                        input_size=s.input_size, resize_short=s.resize_short, frame_size=s.frame_size)
    return FeatureCache(features_dir, spec, run_info.get("dataset", ""))


def _phase_datasets(data: SplitData, model, model_config: ModelConfig, s: TrainParams, seed: int, clip: ClipSpec,
                    frames_dir: Path | None, features, run_info: dict) -> tuple[dict, int, int]:
    """(phase -> (training set, validation set), pose warm-up epochs, appearance warm-up epochs)."""
    sets = dict(clip=clip, max_persons=model_config.num_persons, seed=seed, features=features)
    train_set = make_dataset(data, "train", frames_dir=frames_dir, train=True, **sets)
    val_set = make_dataset(data, "val", frames_dir=frames_dir, train=False, **sets)
    if len(train_set) == 0:
        raise ValueError(f"{run_info.get('dataset')} split {run_info.get('split')}: no training videos")
    # The pose stream's warm-up: the cheap stream alone (no frames read, no CNN; its pose and motion
    # heads) for some epochs, so that it learns within a CPU budget before the joint epochs (the
    # paper trains jointly for ~140k steps; a few hundred joint steps leave the pose stream at chance).
    # Variants without frames (tmp) get the same pose-stream budget as inside PARNet.
    warmup_epochs = s.pose_warmup_epochs if (model.uses_poses and "pose" in model.heads.heads) else 0
    # Then the appearance stream's warm-up: the CNN, the SA module and the appearance head alone on
    # clips of a few frames (each spread over the whole video), at a fraction of a joint epoch's
    # cost. A joint epoch spends most of its time in the CNN, and a from-scratch CNN needs many
    # steps to find small objects (the ball, the chair) that the relation stream needs.
    app_epochs = s.appearance_warmup_epochs if model.sa is not None else 0
    short = dict(sets, frames_dir=frames_dir, with_poses=False, num_segments=s.appearance_warmup_frames)
    phase_sets = {"pose": (make_dataset(data, "train", frames_dir=None, train=True, **sets),
                           make_dataset(data, "val", frames_dir=None, train=False, **sets)) if warmup_epochs else None,
                  "appearance": (make_dataset(data, "train", train=True, **short),
                                 make_dataset(data, "val", train=False, **short)) if app_epochs else None,
                  "joint": (train_set, val_set)}
    return phase_sets, warmup_epochs, app_epochs


def _phases(s: TrainParams, warmup_epochs: int, app_epochs: int, steps_per_epoch: int, clips: int,
            rank: int) -> list[tuple[str, int, float]]:
    """(phase, epochs, base lr) of the phases that run: the warm-ups, then the joint epochs."""
    phases = [("pose", warmup_epochs, s.pose_warmup_lr), ("appearance", app_epochs, s.appearance_warmup_lr),
              ("joint", s.epochs, s.lr)]
    # train.min_steps: a phase of a small dataset gets the epochs that make that many steps
    phases = [(name, phase_epochs(epochs, steps_per_epoch, s.min_steps), lr) for name, epochs, lr in phases if epochs]
    if rank == 0 and s.min_steps:
        print(f"schedule ({clips} training clips, {steps_per_epoch} steps per epoch, train.min_steps "
              f"{s.min_steps}): " + ", ".join(f"{name} {epochs} epochs" for name, epochs, _ in phases))
    return phases


def _finetuning(model, model_config: ModelConfig, s: TrainParams):
    """(whether the backbone is fine-tuned, what freezes its BN or all of it: None, freeze or partial_bn),
    the freezing applied before the optimizer and DDP see which parameters train."""
    # TSN's fine-tuning practice, only for an ImageNet-pretrained backbone (docs/pretrained.md, "Fine-tuning a pretrained backbone")
    finetune = model_config.pretrained is not None and model.backbone is not None
    # backbone_lr_mult 0: a frozen feature extractor (every BN included), with no backward through it
    freeze_backbone = (freeze if finetune and s.backbone_lr_mult == 0 else
                       partial_bn if finetune and s.partial_bn else None)
    if freeze_backbone:
        freeze_backbone(model.backbone)
    return finetune, freeze_backbone


def _scheduler(optimizer, s: TrainParams, phases: list, steps_per_epoch: int):
    phase_steps = tuple(steps_per_epoch * epochs for _, epochs, _ in phases)
    phase_scales = tuple(lr / s.lr if lr > 0 else 1.0 for _, _, lr in phases)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: phased_lr_factor(
        step, phase_steps=phase_steps, warmup_steps=s.warmup_steps, schedule=s.schedule, phase_scales=phase_scales,
        milestones=s.lr_milestones, decay=s.lr_decay))


def _fingerprint(model_config: ModelConfig, s: TrainParams, seed: int, world: int, data_fingerprint: str, train_set,
                 pose_augment: PoseAugmentParams | None, pose_inputs: PoseInputParams, features) -> dict:
    """What a checkpoint must have been trained with to be resumed."""
    # The code too: after an edit of the model or of training, DVC re-runs this stage, and the
    # finished run in checkpoints/ (persisted) must not be handed back as the new model.
    fingerprint = {"model": asdict(model_config), "train": {**asdict(s), "seed": seed}, "world": world,
                   "data": data_fingerprint, "videos": sorted(train_set.rows["video_id"]),
                   "code": code_digest(TRAINING_CODE)}
    if pose_augment is not None and not pose_augment.default:  # absent when off: older checkpoints resume
        fingerprint["pose_augment"] = asdict(pose_augment)
    fingerprint["pose_inputs"] = asdict(pose_inputs)
    if features is not None:   # the backbone's weights are in it (their sha256)
        fingerprint["features"] = features.spec.digest()
    return fingerprint


def _resume(t: _Training, data: SplitData, run_info: dict) -> tuple[int, list, dict]:
    """(first epoch to train, history, best epoch) of this run: from its last checkpoint when that
    was written with the same fingerprint and its best model is kept; else a fresh start."""
    # checkpoints/ is kept by DVC across runs (persist), model.pt is not: the best epoch's model
    # lives in checkpoints/best.pt and model.pt is copied from it at the end, so no kill loses it.
    fresh = 0, [], {"top1": -1.0, "epoch": -1}
    if not t.ckpt_path.exists():
        return fresh
    ckpt = _read_checkpoint(t.ckpt_path, t.device)
    best_in_last = ckpt["best"]["epoch"] == ckpt["epoch"] + 1
    best_kept = ckpt["best"]["epoch"] < 0 or _best_model_kept(t.best_path, ckpt["best"], data.classes, run_info)
    if ckpt.get("fingerprint") != t.fingerprint or not (best_kept or best_in_last):
        if t.rank == 0:
            print(f"{t.ckpt_path}: from other settings/data (or its best model is gone); starting afresh")
        return fresh
    t.model.load_state_dict(ckpt["model"])
    t.optimizer.load_state_dict(ckpt["optimizer"])
    t.scheduler.load_state_dict(ckpt["scheduler"])
    t.scaler.load_state_dict(ckpt["scaler"])
    start_epoch, history, best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"]
    if not best_kept and t.rank == 0:  # killed between last.pt and best.pt: last.pt is the best
        save_model(t.best_path, t.model, t.model_config, data, run_info, best, clip=t.clip,
                   features=t.features_spec)
    if t.rank == 0:
        print(f"resuming {t.run_dir} from epoch {start_epoch}" if start_epoch < len(t.epoch_phases) else
              f"{t.run_dir}: training had finished; writing model.pt from its best epoch {best['epoch']}")
    return start_epoch, history, best


def _stream(phase: str) -> str | None:
    return None if phase == "joint" else phase   # the warm-ups train one stream's heads alone


def train_one_epoch(t: _Training, epoch: int) -> dict:
    """One epoch of its phase's training set; its record (loss, top-1, lr, speed). TrainingDiverged
    when the weights are no longer finite."""
    s, model = t.s, t.model
    torch.manual_seed(t.seed * 1000 + epoch)  # dropout draws depend on the epoch alone: exact resume
    phase = t.epoch_phases[epoch]
    stream = _stream(phase)
    t.ddp_model.train()
    if t.freeze_backbone:
        t.freeze_backbone(model.backbone)
    loader = make_loader(t.phase_sets[phase][0], batch_size=t.local_batch, epoch=epoch, seed=t.seed, shuffle=True,
                         workers=s.workers, rank=t.rank, world=t.world, drop_last=t.drop_last)
    t0, seen, loss_sum, correct = time.time(), 0, 0.0, 0
    desc = f"{phase + ' warm-up' if stream else 'epoch'} {epoch + 1}/{len(t.epoch_phases)}"
    bar = tqdm(loader, desc=desc, disable=None if t.rank == 0 else True, leave=False, dynamic_ncols=True)
    for batch in bar:
        labels = batch["label"].to(t.device)
        loss, logits = _step(t, batch, labels, stream)
        n = len(labels)
        seen += n
        loss_sum += loss.item() * n
        correct += int((logits[stream or "concat"].argmax(1) == labels).sum())
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", lr=f"{t.scheduler.get_last_lr()[0]:.2e}")
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise TrainingDiverged(
            f"{t.run_dir}: training diverged in epoch {epoch + 1} (non-finite weights, mean loss "
            f"{loss_sum / max(seen, 1):.4g}); lower train.lr, lengthen train.warmup_steps or set "
            f"train.grad_clip (e.g. 1.0). The last good epoch's checkpoint is kept.")
    return {"epoch": epoch + 1, "phase": phase,
            "train_loss": loss_sum / max(seen, 1), "train_top1": correct / max(seen, 1),
            "lr": t.scheduler.get_last_lr()[0], "seconds": time.time() - t0,
            "clips_per_second": seen / max(time.time() - t0, 1e-9)}


def _step(t: _Training, batch: dict, labels: torch.Tensor, stream: str | None):
    """One optimiser step on ``batch``: (loss, logits)."""
    s, model = t.s, t.model
    # CUDA graphs need autocast's weight cache off (it is a per-forward saving only)
    with torch.autocast(t.device.type, enabled=t.use_amp, cache_enabled=not s.cuda_graphs):
        inputs = to_model_inputs(batch, model, t.device)
        logits = stream_logits(model if stream else t.ddp_model, inputs, stream)
        loss = parnet_loss(logits, labels)
    t.optimizer.zero_grad(set_to_none=True)
    t.scaler.scale(loss).backward()
    if stream and t.world > 1:
        _average_gradients(model, t.world)
    if s.grad_clip > 0:
        t.scaler.unscale_(t.optimizer)  # clip the true gradients, not the loss-scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
    t.scaler.step(t.optimizer)
    t.scaler.update()
    t.scheduler.step()
    return loss, logits


def validate(t: _Training, epoch: int) -> dict:
    """Every head's top-1 on the phase's validation set (``val_top1``: the concat head's, joint
    epochs only); nothing when the split has no validation videos."""
    phase = t.epoch_phases[epoch]
    stream, val_set = _stream(phase), t.phase_sets[phase][1]
    if not len(val_set):
        return {}
    val_loader = make_loader(val_set, batch_size=t.s.batch_size, epoch=0, seed=t.seed, shuffle=False,
                             workers=t.s.workers)
    logits, labels = predict_logits(t.model, val_loader, t.device, stream=stream)
    scores = {f"val_top1_{head}": float((values.argmax(1) == labels).mean()) for head, values in logits.items()}
    if not stream:
        scores["val_top1"] = scores["val_top1_concat"]
    return scores


def _select(record: dict, best: dict) -> tuple[dict, bool]:
    """(best epoch so far, whether this epoch is it): model selection on validation, joint epochs only."""
    if record["phase"] != "joint":
        return best, False
    score = record.get("val_top1", float(record["epoch"] - 1))  # no validation subset: keep the last epoch
    if score >= best["top1"]:
        return {"top1": score, "epoch": record["epoch"]}, True
    return best, False


def _save_epoch(t: _Training, data: SplitData, run_info: dict, epoch: int, history: list, best: dict,
                improved: bool) -> None:
    # last.pt first: a kill before best.pt is written leaves the best weights in last.pt
    _save_checkpoint(t.ckpt_path, {"format": CHECKPOINT_FORMAT, "fingerprint": t.fingerprint,
                                   "model": t.model.state_dict(), "optimizer": t.optimizer.state_dict(),
                                   "scheduler": t.scheduler.state_dict(), "scaler": t.scaler.state_dict(),
                                   "epoch": epoch, "history": history, "best": best})
    if improved:
        save_model(t.best_path, t.model, t.model_config, data, run_info, best, clip=t.clip,
                   features=t.features_spec)


def _finish(t: _Training, live, history: list, plots_dir: Path, title: str) -> None:
    """model.pt from the best epoch, the logs and the training curves; the process group closed."""
    if t.rank == 0:
        with atomic_path(t.run_dir / "model.pt") as tmp:
            shutil.copyfile(t.best_path, tmp)
        if live is not None:
            live.end()
        write_json(t.run_dir / "history.json", history)
        plot_training_curves(history, plots_dir / "training.png", title=title)
    if t.world > 1:
        dist.destroy_process_group()


def _average_gradients(model: torch.nn.Module, world: int) -> None:
    """What DDP does for the joint epochs, for the warm-ups: their forward is one stream's method,
    not the DDP wrapper's forward, so DDP would not synchronise their gradients."""
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def _capture_pose_stream(model, data: SplitData, batch: int, persons: int, device, amp: bool) -> None:
    """Graph the pose stream for full training batches (the loader drops the last short one)."""
    steps = len(data.index["seg_start"].iloc[0])
    poses = torch.zeros(batch, steps, persons, NUM_KEYPOINTS, 2, device=device)
    mask = torch.ones(batch, steps, persons, dtype=torch.bool, device=device)
    model.train()
    with torch.autocast(device.type, enabled=amp, cache_enabled=False):
        model.capture_pose_stream(poses, mask)


def _best_model_kept(best_path: Path, best: dict, classes: list, run_info: dict) -> bool:
    """Whether ``best_path`` holds the model of the best epoch ``best`` of this run."""
    if not best_path.exists():
        return False
    kept = _read_checkpoint(best_path)
    return kept.get("best") == best and kept.get("classes") == classes and kept.get("run") == run_info


def _open_live(run_dir: Path):
    """A fresh DVCLive log; a resumed run replays its checkpointed history into it. Not DVCLive's
    resume=True: that appends to the files on disk, which DVC deletes before re-running the stage
    (they are not persist outputs) and which may hold an epoch logged after the last checkpoint."""
    try:
        from dvclive import Live
    except ImportError:
        return None
    return Live(dir=str(run_dir / "live"), resume=False, save_dvc_exp=False, dvcyaml=None)


def _log_live(live, record: dict) -> None:
    if live is None:
        return
    for key, value in record.items():
        if key != "epoch" and isinstance(value, (int, float)):
            live.log_metric(key, value)
    live.next_step()


HEAD_ORDER = ("pose", "motion", "relation", "appearance", "concat")


def plot_training_curves(history: list[dict], path: Path, title: str = "") -> None:
    """Training loss, and every head's validation top-1 per epoch (the concat head alone would hide
    a stream that never learns); the warm-up epochs are shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o", markersize=3)
    ax_loss.set(xlabel="epoch", ylabel="training loss (sum of heads)")
    for phase, shade in (("pose", "0.9"), ("appearance", "0.8")):
        warm = [h["epoch"] for h in history if h.get("phase") == phase]
        for ax in (ax_loss, ax_acc):
            if warm:
                ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color=shade,
                           label=f"{phase} warm-up" if ax is ax_acc else None)
    ax_acc.plot(epochs, [h["train_top1"] for h in history], color="0.5", linestyle="--",
                label="train (concat; the warm-ups: their stream's head)")
    for head in HEAD_ORDER:
        key = f"val_top1_{head}"
        if any(key in h for h in history):
            ax_acc.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", markersize=3,
                        linewidth=2 if head == "concat" else 1, label=f"val {head}")
    ax_acc.set(xlabel="epoch", ylabel="validation top-1 per head", ylim=(0, 1))
    ax_acc.legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
