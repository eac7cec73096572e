"""Test-only stand-ins for tests/test_ray_executor.py, installed in every Ray worker process through
ray.init's ``worker_process_setup_hook`` (the test's own monkeypatching does not reach those
processes):

* ``PixelPeople``: a pose estimator whose people follow from the frame's pixels (so every video
  gives other poses, the same in any process); a frame whose top-left pixel is white raises a
  ValueError, as a backend does on a frame it cannot take.
* while ``CRASH_DIR`` (an environment variable) names a folder, the worker writing the Parquet part
  of a video whose id starts with ``crash`` writes half of it and dies (``os._exit``) on the first try
  (a marker file in that folder remembers the try); a video whose id starts with ``doomed`` dies on
  every try.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipeline.pose.base import Detections

CRASH_DIR = "PARNET_TEST_CRASH_DIR"


class PixelPeople:
    name, version = "pixels", "1"

    def __call__(self, frame: np.ndarray) -> Detections:
        if (frame[0, 0] > 250).all():
            raise ValueError("a white corner: this fake estimator refuses the frame")
        h, w = frame.shape[:2]
        level = frame.reshape(-1, 3).mean(0) / 255.0
        kps = np.zeros((3, 14, 3), np.float32)
        for p in range(3):
            kps[p, :, 0] = w * (0.2 + 0.3 * p + 0.1 * level[p] * np.linspace(0, 1, 14))
            kps[p, :, 1] = h * (0.1 + 0.8 * level[(p + 1) % 3] * np.linspace(0, 1, 14))
            kps[p, :, 2] = 0.5 + 0.5 * level[p]
        return Detections(kps, (0.3 + level).astype(np.float32))


def fake_estimator(*args) -> PixelPeople:
    return PixelPeople()


def install() -> None:
    from pipeline.pose import runner
    import pyarrow.parquet as pq
    runner.cached_estimator = fake_estimator
    real_write = pq.write_table

    def write_table(table, where, *args, **kwargs):
        crash_dir, name = os.environ.get(CRASH_DIR), Path(str(where)).name
        if crash_dir and name.startswith((".crash", ".doomed")):
            marker = Path(crash_dir) / (name.split(".parquet")[0].lstrip(".") + ".crashed")
            if name.startswith(".doomed") or not marker.exists():
                marker.touch()
                real_write(table, where, *args, **kwargs)
                size = os.path.getsize(where)
                with open(where, "r+b") as f:
                    f.truncate(size // 2)              # half-written, then the process is gone
                os._exit(1)
        return real_write(table, where, *args, **kwargs)
    pq.write_table = write_table
