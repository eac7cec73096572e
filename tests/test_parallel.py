"""Local workers: which GPU each one gets (a pure function of the visible GPUs and params), and
that a spawned worker really sees only its own GPU (CUDA_VISIBLE_DEVICES), here without a GPU."""
import os

import pytest

from pipeline.parallel import gpu_devices, map_videos, visible_gpus
from pipeline.pose.runner import pose_devices, uses_gpu


def test_gpu_devices_one_or_more_workers_per_gpu():
    assert gpu_devices(["0", "1", "2", "3"], "auto") == ["0", "1", "2", "3"]
    assert gpu_devices(["0", "1", "2", "3"], 2) == ["0", "1"]
    assert gpu_devices(["4", "6"], "auto", workers_per_gpu=2) == ["4", "4", "6", "6"]
    assert gpu_devices(["GPU-a1", "GPU-b2"], 1) == ["GPU-a1"]          # UUIDs pass through
    assert gpu_devices([], "auto") == []
    with pytest.raises(ValueError, match="3 GPUs asked for, 2 visible"):
        gpu_devices(["0", "1"], 3)
    with pytest.raises(ValueError, match="workers_per_gpu"):
        gpu_devices(["0"], "auto", workers_per_gpu=0)


def test_pose_workers_follow_the_gpus_only_for_an_estimator_on_the_gpu():
    gpus = ["0", "1", "2"]
    kw = dict(gpus="auto", workers_per_gpu=1, visible=gpus)
    assert pose_devices("mmpose", {"device": "auto"}, **kw) == gpus
    assert pose_devices("mmpose", {"device": "cuda"}, **{**kw, "gpus": 2}) == ["0", "1"]
    assert pose_devices("mmpose", {}, **{**kw, "workers_per_gpu": 2}) == ["0", "0", "1", "1", "2", "2"]
    # CPU workers (pose.workers of them): the estimator is on the CPU, pinned to one GPU by the
    # user (cuda:1), GPUs switched off, or no GPU at all.
    assert pose_devices("mmpose", {"device": "cpu"}, **kw) == []
    assert pose_devices("mmpose", {"device": "cuda:1"}, **kw) == []
    assert pose_devices("mmpose", {"device": "auto"}, **{**kw, "gpus": 0}) == []
    assert pose_devices("mmpose", {"device": "auto"}, **{**kw, "visible": []}) == []
    for cpu_only in ("blazepose", "openpose", "groundtruth"):
        assert not uses_gpu(cpu_only, {}) and pose_devices(cpu_only, {}, **kw) == []


def test_visible_gpus_honours_cuda_visible_devices(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_gpus() == ["5", "7"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == ["0", "1"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert visible_gpus() == []


def _where(item):
    return item, os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_each_gpu_worker_process_sees_only_its_own_gpu():
    results = list(map_videos(_where, range(12), workers=1, devices=["3", "5"], desc="test"))
    assert sorted(r[0] for r in results) == list(range(12))
    device_of = {}
    for _, pid, device in results:
        assert device in ("3", "5")
        assert device_of.setdefault(pid, device) == device     # a worker keeps its GPU
    assert pid != os.getpid() and len(set(device_of.values())) == len(device_of)   # one worker per GPU
