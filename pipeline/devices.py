"""Which torch device a run uses: the one home of ``pick_device`` (train, evaluate, predict and the
benchmarks pick their device here)."""
from __future__ import annotations

import os

import torch


def pick_device(name: str, setting: str = "train.device") -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (CUDA when there is a GPU) as a torch device; under torchrun
    the GPU of this process's ``LOCAL_RANK``. RuntimeError for ``cuda`` on a machine without one,
    naming ``setting``: the option the user gave it in (train.device, evaluate.device, --device)."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError(f"{setting} is cuda but no CUDA device is available; use auto or cpu")
        rank = int(os.environ.get("LOCAL_RANK", 0))
        return torch.device("cuda", rank)
    return torch.device("cpu")
