"""Typed settings of one run (dataset x split) built from params, and the files it reads."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline import paths
from pipeline.clip_spec import ClipSpec
from pipeline.data import SplitData, load_split_data
from pipeline.model import ModelConfig
from pipeline.errors import MissingInput
from pipeline.params import Params, TrainParams
from pipeline.pose import video_pose
from pipeline.pose_augment import PoseAugmentParams
from pipeline.pose_inputs import PoseInputParams


@dataclass(frozen=True)
class RunSpec:
    name: str
    dataset: str
    split: str
    index_path: Path
    frames_dir: Path
    features_dir: Path  # a frozen pretrained backbone's cached maps (pipeline/features.py)
    model_config: ModelConfig
    train: TrainParams  # params.yaml's `train:`, as training takes it
    seed: int           # params.yaml's `seed`
    num_segments: int
    pose: dict          # the pose settings the model was trained with (pipeline.pose.video_pose.record; predict reuses them)
    decode: dict
    pose_augment: PoseAugmentParams = PoseAugmentParams()  # training-time keypoint augmentation
    pose_inputs: PoseInputParams = PoseInputParams()       # missing-joint filling (pipeline.pose_inputs)

    def clip_spec(self) -> ClipSpec:
        """How this run's clips are made (training writes it into model.pt; pipeline.clip_spec)."""
        return ClipSpec.from_settings(self.train, num_segments=self.num_segments, pose_augment=self.pose_augment,
                                      pose_inputs=self.pose_inputs)

    def info(self) -> dict:
        """Saved in the checkpoint's ``run`` entry: the run's name, data, pose and decode settings
        (what predict needs to pose and decode a new video the same way), and its clip settings
        (also in the checkpoint's ClipSpec; evaluate checks them against the evaluating run's)."""
        clip = self.clip_spec().to_dict()
        return {"name": self.name, "dataset": self.dataset, "split": self.split, "pose": self.pose,
                "decode": self.decode, "input_size": clip["input_size"],
                "resize_short": clip["resize_short"], "num_segments": clip["num_segments"],
                "view": clip["view"], "frame_size": clip["frame_size"],
                "classes_from": str(self.index_path), "pose_augment": clip["pose_augment"],
                "pose_inputs": clip["pose_inputs"]}

    def input_files(self) -> list[Path]:
        return [self.index_path, paths.frames_table(self.dataset), paths.poses(self.dataset)]

    def data_fingerprint(self) -> str:
        """Digest of the run's input files (frames are covered by the decode table's per-video
        settings and counts)."""
        digest = hashlib.sha256()
        for path in self.input_files():
            if path.exists():
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def load_data(self) -> SplitData:
        return load_split_data(self.index_path, paths.frames_table(self.dataset), paths.poses(self.dataset),
                               paths.pose_videos(self.dataset), self.model_config.num_persons)


def run_spec(params: Params, name: str, num_classes: int | None = None) -> RunSpec:
    run = params.run(name)
    index_path = paths.split_index(run.dataset, run.split)
    if num_classes is None:
        from pipeline.io import read_parquet_metadata
        if not index_path.exists():
            raise MissingInput(f"{index_path}: no index for run {name}. Fix: run the index stage first "
                               f"(dvc repro index@{params.run(name).dataset})")
        num_classes = len(read_parquet_metadata(index_path)["classes"])
    model_config = params.model.config(num_classes=num_classes, num_persons=params.pose.max_persons,
                                       pose_centred=params.pose_inputs.centre)
    pose = video_pose.record(params.pose)   # predict poses a new video as these were posed
    return RunSpec(name=name, dataset=run.dataset, split=run.split, index_path=index_path,
                   frames_dir=paths.frames_dir(run.dataset), features_dir=paths.features_dir(run.dataset),
                   model_config=model_config, train=params.train, seed=params.seed,
                   num_segments=params.index.num_segments, pose=pose, decode=asdict(params.decode),
                   pose_augment=params.pose_augment, pose_inputs=params.pose_inputs)
