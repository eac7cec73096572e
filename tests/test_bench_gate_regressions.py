"""The regressions bench/gate_regressions.py injects really change what the pipeline computes (in a
child process: the monkeypatches must not leak into other tests). If a refactor moved the patched
names, the injection would silently do nothing and the bench would report a gate that "passes"."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECKS = r"""
import types
import numpy as np
import torch
import pipeline.data as data
import pipeline.train as train
from pipeline.keypoints import FLIP_PERM, KEYPOINT_NAMES
from pipeline.model.pa import PoseAwareAttention
from bench.gate_regressions import inject

points = np.zeros((1, len(KEYPOINT_NAMES), 3), np.float32)
points[0, :, 0] = np.linspace(0.1, 0.9, len(KEYPOINT_NAMES))
points[..., 2] = 1
flip = data.View((0.0, 0.0, 10.0, 10.0), 10, True)
swapped = data.apply_view_points(points, 10, 10, flip)
assert not np.allclose(swapped[0, :, 0], 1 - points[0, :, 0])           # the pipeline swaps left/right
inject("no_flip_swap", "r", "r")
assert np.allclose(data.apply_view_points(points, 10, 10, flip)[0, :, 0], 1 - points[0, :, 0])

model = types.SimpleNamespace(uses_frames=False, uses_poses=True)
batch = {"frames": torch.zeros(0), "poses": torch.ones(2, 4, 1, 14, 2), "person_mask": torch.ones(2, 4, 1, dtype=torch.bool),
         "visibility": torch.ones(2, 4, 1, 14)}
before = train.to_model_inputs(batch, model, torch.device("cpu"))
assert before[1].abs().sum() > 0
inject("zero_pose", "r", "r")
after = train.to_model_inputs(batch, model, torch.device("cpu"))
assert after[1].abs().sum() == 0 and after[2].all() and len(after) == len(before)
from pipeline.model_io import LEGACY_CONVENTION
model = types.SimpleNamespace(uses_frames=True, uses_poses=True,
                              backbone=types.SimpleNamespace(input_convention=LEGACY_CONVENTION))
batch["frames"] = torch.full((2, 4, 3, 8, 8), 200, dtype=torch.uint8)
assert train.to_model_inputs(batch, model, torch.device("cpu"))[0].abs().sum() > 0
inject("zero_frames", "r", "r")
assert train.to_model_inputs(batch, model, torch.device("cpu"))[0].abs().sum() == 0

torch.manual_seed(0)
attention = PoseAwareAttention(8, 4, 6)
mid, fused = torch.randn(2 * 3, 8, 4, 5), torch.randn(2, 3, 4)
_, weights = attention(mid, fused)
assert weights.std() > 0
inject("uniform_attention", "r", "r")
feature, weights = attention(mid, fused, None)   # as PAModule calls it (joints: model.pa_joint_map)
assert torch.allclose(weights, torch.full_like(weights, 1 / 20))
assert torch.allclose(feature, mid.mean((2, 3)).unflatten(0, (2, 3)), atol=1e-6)
print("ok")
"""


def test_injections_change_the_pipeline():
    proc = subprocess.run([sys.executable, "-c", CHECKS], cwd=ROOT, capture_output=True, text=True,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
