"""A tiny dataset with frames and poses for training tests (JPEG frames on disk, dense poses in
memory), small enough for a few CPU steps of any backbone."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.data import SplitData


def frames_split(root: Path, *, num_videos=10, frames=8, classes=2, width=80, height=64, segments=4,
                 persons=1, seed=0) -> tuple[SplitData, Path]:
    """(SplitData, frames folder): videos coloured by class with noise, ``persons`` people per frame;
    6 train, 2 val and 2 test videos for the default 10."""
    rng = np.random.default_rng(seed)
    frames_dir = Path(root) / "frames"
    ids = [f"v{i:02d}" for i in range(num_videos)]
    labels = [i % classes for i in range(num_videos)]
    subsets = (["train"] * (num_videos - 4) + ["val"] * 2 + ["test"] * 2)
    bounds = np.linspace(0, frames, segments + 1).astype(int)
    poses = {}
    for v, y in zip(ids, labels):
        (frames_dir / v).mkdir(parents=True, exist_ok=True)
        for f in range(frames):
            pixels = rng.integers(0, 60, (height, width, 3)) + np.array([180, 60, 20]) * (y + 1) / classes
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(frames_dir / v / f"{f:06d}.jpg")
        p = np.full((frames, persons, 14, 3), np.nan, np.float32)
        p[..., :2] = rng.uniform(0.2, 0.8, (frames, persons, 14, 2))
        p[..., 2] = 1
        poses[v] = p
    index = pd.DataFrame({"video_id": ids, "label_id": labels, "subset": subsets, "num_frames": frames,
                          "seg_start": [bounds[:-1].tolist()] * num_videos,
                          "seg_end": [bounds[1:].tolist()] * num_videos,
                          "mid": [((bounds[:-1] + bounds[1:]) // 2).tolist()] * num_videos})
    data = SplitData(index=index, classes=[f"c{k}" for k in range(classes)], poses=poses,
                     sizes={v: (width, height) for v in ids}, pose_only=False)
    return data, frames_dir
