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


_ORPHAN_SCRIPT = """
import os, sys, time
from pathlib import Path
from pipeline.parallel import map_videos

out = Path(sys.argv[1])

def work(item):
    (out / f"started_{item}_{os.getpid()}").touch()
    time.sleep(1.5)
    (out / f"finished_{item}").touch()
    return item

if __name__ == "__main__":
    for _ in map_videos(work, range(2), workers=2, desc="t"):
        pass
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"   # a zombie is dead, only not reaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc (Linux)")
def test_local_workers_die_with_their_parent(tmp_path):
    # issue 28, point 16: after kill -9 of the pose stage, its workers lived on and finished their videos
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    script = tmp_path / "stage.py"
    script.write_text(_ORPHAN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    deadline = time.monotonic() + 20
    while len(list(tmp_path.glob("started_*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [int(p.name.rsplit("_", 1)[1]) for p in tmp_path.glob("started_*")]
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    time.sleep(2.0)
    assert not list(tmp_path.glob("finished_*"))
    assert not [pid for pid in workers if _alive(pid)]
