"""Generate the embedded synthetic dataset (raw H.264 videos, keypoints, split files)."""
from pathlib import Path

from pipeline.synth import generate_dataset
from stages.common import parse

if __name__ == "__main__":
    args, params = parse(__doc__, ("--out", {"default": "data/raw/synth"}))
    s = params.synth
    generate_dataset(Path(args.out), videos_per_class=s.videos_per_class, groups=s.groups,
                     num_frames=s.num_frames,
                     width=s.width, height=s.height, fps=s.fps, seed=s.seed, workers=s.workers)
