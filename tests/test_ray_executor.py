"""executor: ray, on a local Ray instance (2 CPUs, no dashboard, started once for this module):
pose and decode give the same files as executor: local; a worker killed while writing a video's
part is run again and leaves nothing half-written; failing videos are recorded, not fatal.

The fake estimator and the crash live in tests/ray_fakes.py, installed in every Ray worker by
ray.init's worker_process_setup_hook."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the ray extra is not installed (requirements-ray.txt)")

from pipeline.datasets.base import Manifest  # noqa: E402
from pipeline.decoding import DecodeSettings, decode_dataset  # noqa: E402
from pipeline.parallel import RayTasks  # noqa: E402
from pipeline.pose import runner  # noqa: E402
from pipeline.pose.runner import PoseSettings, merge_parts, run_pose_stage  # noqa: E402
from tests import ray_fakes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASKS = RayTasks(num_cpus=1, max_retries=2)


@pytest.fixture(scope="module")
def crash_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("crashes")


@pytest.fixture(scope="module", autouse=True)
def local_ray(crash_dir):
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False,
             runtime_env={"worker_process_setup_hook": "tests.ray_fakes.install",
                          "env_vars": {ray_fakes.CRASH_DIR: str(crash_dir), "OMP_NUM_THREADS": "1",
                                       "PYTHONPATH": str(ROOT)}})   # the hook loads before the driver's path
    yield
    ray.shutdown()


def _manifest(path, ids):
    videos = pd.DataFrame({"video_id": ids, "path": [f"{v}.mp4" for v in ids], "label_id": 0,
                           "label_name": "a", "group": "", "split_1": "train"})
    Manifest("toy", ["a"], ["1"], videos).save(path)
    return path


def _pose_dataset(tmp_path, ids, frames=3):
    """Decoded frames (JPEG) and their table for ``ids``; ``bad*`` has a frame the fake refuses,
    ``undecoded*`` failed to decode."""
    rows = []
    for n, vid in enumerate(ids):
        ok = not vid.startswith("undecoded")
        if ok:
            folder = tmp_path / "frames" / vid
            folder.mkdir(parents=True)
            for f in range(frames):
                pixels = np.random.default_rng(100 * n + f).integers(0, 200, (30, 40, 3), dtype=np.uint8)
                if vid.startswith("bad") and f == 1:
                    pixels[:4, :4] = 255
                Image.fromarray(pixels).save(folder / f"{f:06d}.jpg", quality=95)
        rows.append({"video_id": vid, "path": f"{vid}.mp4", "status": "ok" if ok else "failed",
                     "error": "" if ok else f"{vid}.mp4: broken", "num_frames": frames if ok else 0,
                     "fps": 25.0, "width": 40 if ok else 0, "height": 30 if ok else 0})
    pd.DataFrame(rows).to_parquet(tmp_path / "frames.parquet")
    settings = PoseSettings(estimator="pixels", options={}, max_persons=2, dtype="float32",
                            frames_dir=str(tmp_path / "frames"))
    return _manifest(tmp_path / "m.parquet", ids), tmp_path / "frames.parquet", settings


def _outputs(tmp_path, name):
    return tmp_path / f"{name}.parquet", tmp_path / f"{name}.videos.parquet", tmp_path / f"{name}.parts"


def test_ray_pose_equals_local_survives_a_killed_worker_and_records_failures(tmp_path, crash_dir,
                                                                               monkeypatch):
    ids = ["v0", "crash_v1", "bad_v2", "undecoded_v3", "v4"]
    manifest, frames_table, settings = _pose_dataset(tmp_path, ids)
    monkeypatch.setattr(runner, "cached_estimator", ray_fakes.fake_estimator)   # this process
    local = _outputs(tmp_path, "local")
    run_pose_stage(manifest, frames_table, *local, settings=settings, workers=1, strict=False)

    on_ray = _outputs(tmp_path, "ray")
    run_pose_stage(manifest, frames_table, *on_ray, settings=settings, workers=1, strict=False,
                   merge=False, ray=TASKS)
    # The worker died halfway through writing crash_v1's part (the marker says it did); the retry
    # wrote it whole and removed the half-written temporary file.
    assert (crash_dir / "crash_v1.crashed").exists()
    parts = on_ray[2]
    assert sorted(p.name for p in parts.iterdir()) == [
        "bad_v2.failed.json", "crash_v1.parquet", "undecoded_v3.failed.json", "v0.parquet", "v4.parquet"]
    merge_parts(Manifest.load(manifest), *on_ray, settings=settings)

    for mine, theirs in zip(on_ray[:2], local[:2]):
        assert mine.read_bytes() == theirs.read_bytes()                   # byte-identical
    for part in ("v0.parquet", "crash_v1.parquet", "v4.parquet"):
        assert (parts / part).read_bytes() == (local[2] / part).read_bytes()
    videos = pd.read_parquet(on_ray[1]).set_index("video_id")
    assert videos.loc["bad_v2", "status"] == "failed" and "white corner" in videos.loc["bad_v2", "error"]
    assert videos.loc["undecoded_v3", "status"] == "failed" and "broken" in videos.loc["undecoded_v3", "error"]
    assert (videos.loc[["v0", "crash_v1", "v4"], "status"] == "ok").all()
    assert (videos.loc[["v0", "crash_v1", "v4"], "num_frames"] == 3).all()

    # Resumed on Ray: finished parts are kept as they are.
    stamp = (parts / "v0.parquet").stat().st_mtime_ns
    run_pose_stage(manifest, frames_table, *on_ray, settings=settings, workers=1, strict=False, ray=TASKS)
    assert (parts / "v0.parquet").stat().st_mtime_ns == stamp
    assert on_ray[0].read_bytes() == local[0].read_bytes()
    # strict: the first failure stops the stage, as with local workers.
    with pytest.raises(runner.PoseStageError, match="white corner|undecoded_v3"):
        run_pose_stage(manifest, frames_table, *on_ray, settings=settings, workers=1, strict=True, ray=TASKS)


def test_a_video_that_kills_its_worker_on_every_try_is_recorded_as_failed(tmp_path, crash_dir):
    manifest, frames_table, settings = _pose_dataset(tmp_path, ["doomed_v0", "v1"])
    out = _outputs(tmp_path, "ray")
    videos = run_pose_stage(manifest, frames_table, *out, settings=settings, workers=1, strict=False,
                            ray=RayTasks(num_cpus=1, max_retries=1)).set_index("video_id")
    assert videos.loc["doomed_v0", "status"] == "failed"
    assert "worker process died on every try" in videos.loc["doomed_v0", "error"]
    assert videos.loc["v1", "status"] == "ok"
    assert sorted(p.name for p in out[2].iterdir()) == ["doomed_v0.failed.json", "v1.parquet"]


def _video(path, frames, size="64x48"):
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10",
                    "-frames:v", str(frames), "-pix_fmt", "yuv420p", str(path)], check=True)


def test_ray_decode_equals_local(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    _video(root / "a.mp4", 6)
    _video(root / "b.mp4", 4, size="48x64")
    (root / "c.mp4").write_bytes(b"not a video")
    manifest = _manifest(tmp_path / "m.parquet", ["a", "b", "c"])
    settings = DecodeSettings(short_side=32, fps=None, jpeg_quality=3)
    tables = {}
    for name, ray_tasks in (("local", None), ("ray", TASKS)):
        tables[name] = decode_dataset(manifest, root, tmp_path / name, tmp_path / f"{name}.parquet",
                                      settings=settings, workers=1, strict=False, ray=ray_tasks)
    assert (tmp_path / "ray.parquet").read_bytes() == (tmp_path / "local.parquet").read_bytes()
    assert tables["ray"].set_index("video_id").loc["c", "status"] == "failed"
    files = {name: sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*") if p.is_file())
             for name in tables}
    assert files["ray"] == files["local"] and len(files["ray"]) == 6 + 4 + 2   # frames + meta.json each
    for rel in files["ray"]:
        assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes()
