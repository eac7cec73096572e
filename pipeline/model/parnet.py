"""PARNet (paper Fig. 2): the TMP, SA and PA modules and the heads, per variant."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from pipeline.keypoints import NUM_KEYPOINTS
from pipeline.model.backbones import build_backbone, load_backbone_weights
from pipeline.model_config import ModelConfig
from pipeline.model.heads import Heads
from pipeline.model.pa import PAModule, joint_heatmaps
from pipeline.model.sa import SAModule
from pipeline.model.tmp import TMPModule, TMPOutput


@dataclass
class ParnetOutput:
    logits: dict[str, torch.Tensor]               # [B, C] per head
    person_weights: torch.Tensor | None = None    # [B, T, N]
    spatial_attention: torch.Tensor | None = None  # [B, T, h, w]


class BackboneMaps(NamedTuple):
    """A frozen backbone's outputs for a clip's frames, read from a cache (pipeline/features.py)
    instead of frames: mid [B, T, C, h, w] and the last map pooled over positions [B, T, C']."""
    mid: torch.Tensor
    pooled: torch.Tensor


class PARNet(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        streams = set(config.streams)
        self.uses_poses = bool(streams & {"pose", "motion"})
        self.uses_frames = bool(streams & {"appearance", "relation"})
        sizes = {}
        self.tmp = self.backbone = self.sa = self.pa = None
        if self.uses_poses:
            self.tmp = TMPModule(part_hidden=config.part_hidden, part_dim=config.part_dim,
                                 pose_dim=config.pose_dim, hidden_size=config.hidden_size,
                                 window=config.window, bidirectional=config.bidirectional,
                                 person_fusion=config.person_fusion,
                                 joint_visibility=config.joint_visibility)
            sizes["pose"] = sizes["motion"] = self.tmp.output_size
        if self.uses_frames:
            # Without the SA module nothing reads the stride-32 map: the backbone stops at the tap.
            self.backbone = build_backbone(config.backbone, config.backbone_width,
                                           with_last="appearance" in streams)
        if "appearance" in streams:
            self.sa = SAModule(self.backbone.out_channels, config.appearance_dim, config.dropout)
            sizes["appearance"] = config.appearance_dim
        if "relation" in streams:
            self.pa = PAModule(self.backbone.mid_channels, self.tmp.fused_dim, config.hidden_size,
                               config.window, joint_map=config.pa_joint_map)
            sizes["relation"] = self.pa.output_size
        self.heads = Heads(sizes, config.num_classes)

    def to_device(self, device: torch.device | str) -> "PARNet":
        """The model on ``device``, its backbone's weights in that device's memory format
        (backbone_memory_format). Use this, not ``.to(device)``, wherever a model is placed."""
        device = torch.device(device)
        self.to(device)
        if self.backbone is not None:
            self.backbone.to(memory_format=backbone_memory_format(device))
        return self

    def load_pretrained_backbone(self, path) -> None:
        if self.backbone is None:
            warnings.warn(f"model.pretrained ({path}) ignored: variant {self.config.variant!r} has no CNN")
            return
        load_backbone_weights(self.backbone, path, name=self.config.backbone,
                              width=self.config.backbone_width)

    def capture_pose_stream(self, poses: torch.Tensor, person_mask: torch.Tensor) -> None:
        """Record the pose stream's forward and backward as CUDA graphs for training batches shaped
        like ``poses`` [B, T, N, 14, 2] (on the model's CUDA device); ``forward`` replays them in
        training mode for batches of that shape and runs eagerly otherwise (evaluation, a short
        batch, the CPU). The stream's step-by-step TA-LSTMs launch thousands of small kernels, so
        the GPU mostly waits on Python: replayed as graphs the pose stream trained ~8x and the whole
        PARNet ~1.8x faster on an H100 (bench/train_throughput.py --paper --cuda-graphs). Call it
        in training mode, under the autocast the training loop uses (with cache_enabled=False).
        The pose stream has no dropout, so graphed and eager training compute the same."""
        if self.tmp is None:
            return
        runner = _TMPAsTuple(self.tmp)
        inputs = (poses, person_mask.bool())
        if self.tmp.joint_visibility:
            inputs += (poses.new_ones(poses.shape[:-1]),)
        torch.cuda.make_graphed_callables(runner, inputs)
        # A plain attribute, not a submodule: the graphs add nothing to state_dict().
        self.__dict__["_graphed_pose_stream"] = (runner, tuple(poses.shape))

    def _pose_stream(self, poses: torch.Tensor, mask: torch.Tensor,
                     visibility: torch.Tensor | None) -> TMPOutput:
        if self.tmp.joint_visibility and visibility is None:
            visibility = poses.new_ones(poses.shape[:-1])
        graphed = self.__dict__.get("_graphed_pose_stream")
        if graphed is not None and self.training and tuple(poses.shape) == graphed[1]:
            args = (poses, mask, visibility) if self.tmp.joint_visibility else (poses, mask)
            return TMPOutput(*graphed[0](*args))
        return self.tmp(poses, mask, visibility)

    def pose_stream_logits(self, poses: torch.Tensor, person_mask: torch.Tensor,
                           visibility: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The pose and motion heads on the pose stream alone, without frames (training's pose
        warm-up). Variants with one stream head only (tmp alone has pose and motion heads too)."""
        if self.tmp is None or "pose" not in self.heads.heads:
            raise ValueError(f"variant {self.config.variant!r} has no pose and motion heads")
        tmp = self._pose_stream(poses, person_mask.bool(), visibility)
        return {"pose": self.heads.heads["pose"](tmp.pose), "motion": self.heads.heads["motion"](tmp.motion)}

    def appearance_stream_logits(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """The appearance head on the CNN and SA module alone, without poses (training's appearance
        warm-up, on clips of any number of frames): frames [B, T', 3, H, W]. In the sa variant the
        appearance head is its only ("concat") head."""
        if self.sa is None:
            raise ValueError(f"variant {self.config.variant!r} has no appearance head")
        _, last = self._backbone_maps(frames)
        head = self.heads.heads["appearance" if "appearance" in self.heads.heads else "concat"]
        steps = (frames.mid if isinstance(frames, BackboneMaps) else frames).shape[1]
        return {"appearance": head(self.sa(last, steps))}

    def _backbone_maps(self, frames: "torch.Tensor | BackboneMaps") -> tuple[torch.Tensor, torch.Tensor]:
        """(mid [B*T, C, h, w], last [B*T, C', h', w']) of frames [B, T, 3, H, W]; cached maps give
        the pooled last map as a 1x1 map, which the SA module reads alike (eq. 17 is linear up to
        its spatial mean)."""
        if isinstance(frames, BackboneMaps):
            dtype = self.heads.heads["concat"].weight.dtype
            return (frames.mid.flatten(0, 1).to(dtype),
                    frames.pooled.flatten(0, 1).to(dtype)[..., None, None])
        return self.backbone(frames.flatten(0, 1))

    def forward(self, frames: "torch.Tensor | BackboneMaps | None", poses: torch.Tensor | None = None,
                person_mask: torch.Tensor | None = None,
                visibility: torch.Tensor | None = None) -> ParnetOutput:
        """frames [B, T, 3, H, W] (or their cached BackboneMaps), poses [B, T, N, 14, 2],
        person_mask [B, T, N], visibility [B, T, N, 14] (read with model.joint_visibility)."""
        batch, steps = self._check_inputs(frames, poses, person_mask)
        reps, person_weights, spatial = {}, None, None
        if self.tmp is not None:
            tmp = self._pose_stream(poses, person_mask.bool(), visibility)
            reps["pose"], reps["motion"], person_weights = tmp.pose, tmp.motion, tmp.person_weights
        if self.backbone is not None:
            mid, last = self._backbone_maps(frames)
            if self.sa is not None:
                reps["appearance"] = self.sa(last, steps)
            if self.pa is not None:
                joints = None
                if self.config.pa_joint_map:
                    joints = joint_heatmaps(poses, person_mask, tuple(mid.shape[-2:]),
                                            centred=self.config.pose_centred)
                reps["relation"], spatial = self.pa(mid, tmp.fused, joints)
        return ParnetOutput(self.heads(reps), person_weights, spatial)

    def _check_inputs(self, frames, poses, mask) -> tuple[int, int]:
        dims = []
        if self.uses_frames and isinstance(frames, BackboneMaps):
            if frames.mid.dim() != 5 or frames.pooled.dim() != 3 or frames.mid.shape[:2] != frames.pooled.shape[:2]:
                raise ValueError(f"cached maps must be mid [B, T, C, h, w] and pooled [B, T, C'], got "
                                 f"{tuple(frames.mid.shape)} and {tuple(frames.pooled.shape)}")
            dims.append(("frames", tuple(frames.mid.shape[:2])))
        elif self.uses_frames:
            if frames is None or frames.dim() != 5 or frames.shape[2] != 3:
                raise ValueError(f"variant {self.config.variant!r} needs frames [B, T, 3, H, W], got "
                                 f"{None if frames is None else tuple(frames.shape)}")
            dims.append(("frames", tuple(frames.shape[:2])))
        if self.uses_poses:
            if poses is None or poses.dim() != 5 or poses.shape[-2:] != (NUM_KEYPOINTS, 2):
                raise ValueError(f"variant {self.config.variant!r} needs poses [B, T, N, "
                                 f"{NUM_KEYPOINTS}, 2], got {None if poses is None else tuple(poses.shape)}")
            if mask is None or tuple(mask.shape) != tuple(poses.shape[:3]):
                raise ValueError(f"person_mask must be [B, T, N] = {tuple(poses.shape[:3])}, got "
                                 f"{None if mask is None else tuple(mask.shape)}")
            dims.append(("poses", tuple(poses.shape[:2])))
        if len({d for _, d in dims}) > 1:
            raise ValueError("frames and poses disagree on [B, T]: "
                             + ", ".join(f"{n} {d}" for n, d in dims))
        batch, steps = dims[0][1]
        if steps < 2:
            raise ValueError(f"clips need T >= 2 frames (motion uses P_t - P_t-1), got T = {steps}")
        return batch, steps


class _TMPAsTuple(nn.Module):
    """The pose stream with its outputs as a tuple of tensors, as CUDA graph capture needs."""

    def __init__(self, tmp: TMPModule):
        super().__init__()
        self.tmp = tmp

    def forward(self, poses: torch.Tensor, mask: torch.Tensor, visibility: torch.Tensor | None = None):
        out = self.tmp(poses, mask, visibility)
        return out.pose, out.motion, out.fused, out.person_weights


def backbone_memory_format(device: torch.device) -> torch.memory_format:
    """NHWC (channels_last) backbone weights on CUDA only. On the CPU they stay NCHW: with NHWC
    weights, oneDNN's AVX2 convolution kernels corrupted the heap in training (``free(): invalid
    next size``; tests/test_finetune.py under ONEDNN_MAX_CPU_ISA=AVX2, which is what a CPU without
    AVX-512 runs). NHWC was faster only on AVX-512 kernels (bench/train_throughput.py
    --backbone-formats), and no result may depend on the CPU that happened to run it."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def build_model(config: ModelConfig, *, load_pretrained: bool = True) -> PARNet:
    """The model of ``config``, with ``config.pretrained`` loaded into its backbone unless
    ``load_pretrained`` is False (e.g. when a trained checkpoint's weights replace them anyway)."""
    model = PARNet(config)
    if config.pretrained is not None and load_pretrained:
        model.load_pretrained_backbone(config.pretrained)
    return model
