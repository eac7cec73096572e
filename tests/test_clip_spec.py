"""ClipSpec (issue 27 item 1): one typed record of how a model's clips are made, written into
model.pt by training and read back by evaluate and predict; older checkpoints rebuild it from their
`run` entry."""
import dataclasses
from pathlib import Path

import pytest
import torch

from pipeline.clip_spec import ClipSpec, ClipSpecError
from pipeline.pixels import RGB_IMAGENET
from pipeline.pose_augment import PoseAugmentParams
from pipeline.pose_inputs import PoseInputParams

ROOT = Path(__file__).resolve().parents[1]


def test_round_trip_through_plain_types():
    spec = ClipSpec(input_size=112, resize_short=128, num_segments=16, view="frame", frame_size=(128, 96),
                    crop_scales=(1.0, 0.875), flip_prob=0.5, pose_inputs=PoseInputParams(fill="zeros"),
                    pose_augment=PoseAugmentParams(scale=0.2, view="crop"), input_convention=RGB_IMAGENET)
    d = spec.to_dict()
    assert d["frame_size"] == [128, 96] and d["input_convention"]["channels"] == "RGB"
    assert ClipSpec.from_dict(d) == spec
    assert spec.view_frame_size == (128, 96) and dataclasses.replace(spec, view="crop").view_frame_size is None
    with pytest.raises(ClipSpecError, match="view"):
        ClipSpec(input_size=112, resize_short=128, view="tiles")
    with pytest.raises(ClipSpecError, match="unknown"):
        ClipSpec.from_dict({**d, "colour": 1})


def test_old_checkpoints_rebuild_their_spec_from_the_run_entry():
    ckpt = torch.load(ROOT / "zoo" / "penn_action_tmp" / "model.pt", map_location="cpu", weights_only=True)
    assert "clip" not in ckpt                                    # written before ClipSpec
    spec = ClipSpec.from_checkpoint(ckpt)
    run = ckpt["run"]
    assert (spec.input_size, spec.resize_short, spec.num_segments, spec.view, list(spec.frame_size)) == (
        run["input_size"], run["resize_short"], run["num_segments"], run["view"], run["frame_size"])
    assert spec.pose_augment.view == "person" and spec.pose_inputs == PoseInputParams(**run["pose_inputs"])
    # before pose_inputs and train.view existed: zeros in [0, 1], square crops
    old = ClipSpec.from_run_info({"input_size": 64, "resize_short": 72, "num_segments": 8})
    assert old.view == "crop" and old.pose_inputs == PoseInputParams(fill="zeros", centre=False)
    with pytest.raises(ClipSpecError, match="does not record resize_short, num_segments"):
        ClipSpec.from_checkpoint({"run": {"input_size": 64}})


def test_a_checkpoint_without_clip_sizes_takes_the_evaluating_runs():
    settings = dataclasses.make_dataclass("S", ["input_size", "resize_short", "crop_scales", "flip_prob", "view",
                                                "frame_size"])(32, 36, (1.0,), 0.0, "crop", (128, 96))
    spec = ClipSpec.from_checkpoint({"run": {"name": "t", "num_segments": 4}}, settings=settings)
    assert (spec.input_size, spec.resize_short, spec.num_segments) == (32, 36, 4)
    assert spec.pose_inputs == PoseInputParams(fill="zeros", centre=False)   # the checkpoint's (none: the old ones)


def test_training_writes_the_spec_and_evaluate_scores_an_old_format_copy_alike(tmp_path):
    from pipeline.evaluate import evaluate_run
    from pipeline.train import train_run
    from tests.test_train import CONFIG, SEED, SETTINGS, pose_split

    augment = PoseAugmentParams(scale=0.1, view="person")
    train_run(pose_split(), frames_dir=None, model_config=CONFIG, s=SETTINGS, seed=SEED, run_dir=tmp_path / "run",
              plots_dir=tmp_path / "plots", run_info={"name": "run"}, pose_augment=augment)
    ckpt = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert ClipSpec.from_checkpoint(ckpt) == ClipSpec.from_settings(SETTINGS, num_segments=4, pose_augment=augment)
    old = {k: v for k, v in ckpt.items() if k != "clip"}       # as written before ClipSpec (the run has no sizes)
    torch.save(old, tmp_path / "old.pt")
    kw = dict(frames_dir=None, s=SETTINGS, seed=SEED, batch_size=4, plots_dir=tmp_path / "plots")
    new_m = evaluate_run(pose_split(), tmp_path / "run" / "model.pt", metrics_path=tmp_path / "a.json",
                         predictions_path=tmp_path / "a.csv", **kw)
    old_m = evaluate_run(pose_split(), tmp_path / "old.pt", metrics_path=tmp_path / "b.json",
                         predictions_path=tmp_path / "b.csv", **kw)
    assert new_m == old_m and (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
