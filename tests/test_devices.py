"""pick_device: the error for a missing GPU names the option the user set."""
import pytest
import torch

from pipeline.devices import pick_device
from pipeline.predict import PredictError, _check_arguments


def test_cuda_without_a_gpu_names_the_option_that_asked_for_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu") and pick_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="^train.device is cuda but no CUDA device"):
        pick_device("cuda")
    with pytest.raises(RuntimeError, match="^evaluate.device is cuda"):
        pick_device("cuda", "evaluate.device")
    with pytest.raises(PredictError, match="^--device is cuda but no CUDA device is available; use auto or cpu"):
        _check_arguments(top=5, mp4_fps=8.0, display_size=320, device="cuda", pose_short_side=None)
