"""The embedded synthetic action dataset: rendered people acting in scenes, encoded as H.264.

``generate_dataset(out_dir, ...)`` writes a UCF101-style layout (videos, ground-truth keypoints,
class index, three train/test splits); see :mod:`pipeline.synth.generate` for the layout and
:mod:`pipeline.synth.classes` for the classes. Run ``python -m pipeline.synth OUT_DIR`` from the
command line.
"""
from pipeline.synth.classes import CLASS_NAMES
from pipeline.synth.generate import DEFAULTS, generate_dataset

__all__ = ["CLASS_NAMES", "DEFAULTS", "generate_dataset"]
