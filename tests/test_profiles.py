"""The paper profiles (profiles/*.yaml): they hold the paper's configuration, and each trains and
evaluates for a few CPU steps on tiny clips with a BN-Inception file of the right keys."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from pipeline.evaluate import evaluate_run
from pipeline.io import read_json
from pipeline.model.backbones import BNInception
from pipeline.params import ParamsError, load_params, parse_params
from pipeline.pixels import CAFFE_BGR
from pipeline.runs import run_spec
from pipeline.train import train_run
from tiny_clips import frames_split

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


def test_there_is_a_profile_per_pose_incomplete_dataset_of_table_iv():
    assert [p.stem for p in PROFILES] == ["hmdb51", "jhmdb", "ucf101"]


@pytest.fixture(scope="module")
def bninception_file(tmp_path_factory) -> Path:
    """Random weights under the Caffe-converted file's names, with its ImageNet classifier."""
    torch.manual_seed(0)
    state = BNInception().state_dict()
    state["last_linear.weight"], state["last_linear.bias"] = torch.randn(1000, 1024) * 0.01, torch.zeros(1000)
    path = tmp_path_factory.mktemp("weights") / "bn_inception-52deb4733.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_is_the_papers_configuration(profile):
    p = load_params(profile)
    (dataset,) = p.datasets
    assert sorted(p.runs) == [f"{dataset}_{k}" for k in (1, 2, 3)]
    assert (p.index.num_segments, p.pose.max_persons) == (16, 4)                       # T, N
    m = p.model
    assert (m.variant, m.backbone, m.hidden_size, m.window) == ("parnet", "bninception", 512, 5)
    assert Path(m.pretrained).name == "bn_inception-52deb4733.pth"
    t = p.train
    assert (t.input_size, t.resize_short, t.flip_prob, t.batch_size) == (224, 256, 0.3, 8)
    assert (t.optimizer, t.momentum, t.weight_decay, t.lr, t.warmup_steps) == ("sgd", 0.9, 4e-5, 1e-3, 200)
    assert t.schedule == "step" and t.amp and t.cuda_graphs and t.device == "cuda" and p.evaluate.device == "cuda"
    assert [round(m * 140) for m in t.lr_milestones] == [78, 128, 138]                 # official code, in k steps


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_trains_and_evaluates_a_few_cpu_steps(tmp_path, profile, bninception_file):
    params = load_params(profile)
    run = sorted(params.runs)[0]
    spec = run_spec(params, run, num_classes=2)
    config = dataclasses.replace(spec.model_config, pretrained=str(bninception_file))
    # Tiny inputs on the CPU; everything else (model, optimizer, schedule, fine-tuning) as profiled.
    s = dataclasses.replace(spec.train, input_size=48, resize_short=48, batch_size=2, epochs=1, device="cpu",
                            workers=0, threads=1)
    data, frames_dir = frames_split(tmp_path, num_videos=8, persons=spec.model_config.num_persons)
    run_dir = tmp_path / "models" / run
    summary = train_run(data, frames_dir=frames_dir, model_config=config, s=s, seed=spec.seed, run_dir=run_dir,
                        plots_dir=tmp_path / "plots", run_info=spec.info())
    assert summary["epochs"] == 1
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    assert ckpt["input_convention"] == CAFFE_BGR.to_dict()
    assert ckpt["model_config"]["backbone"] == "bninception" and ckpt["model_config"]["hidden_size"] == 512
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert [g["initial_lr"] for g in last["optimizer"]["param_groups"]] == [1e-3, pytest.approx(2e-4)]
    metrics = evaluate_run(data, run_dir / "model.pt", frames_dir=frames_dir, s=s, seed=spec.seed, batch_size=2,
                           metrics_path=tmp_path / "metrics.json", plots_dir=tmp_path / "plots")
    assert metrics["num_videos"] == 2 and read_json(tmp_path / "metrics.json")["num_videos"] == 2


def test_new_train_and_evaluate_params_are_validated():
    base = {"datasets": {}, "runs": {}}
    with pytest.raises(ParamsError, match="evaluate.device must be auto, cpu or cuda"):
        parse_params({**base, "evaluate": {"device": "gpu"}})
    assert parse_params(base).evaluate.device == "cpu"          # the default run evaluates on the CPU
    with pytest.raises(ParamsError, match="train.backbone_lr_mult must be >= 0"):
        parse_params({**base, "train": {"backbone_lr_mult": -1}})
    with pytest.raises(ParamsError, match="train.schedule step needs train.lr_milestones"):
        parse_params({**base, "train": {"schedule": "step"}})
    with pytest.raises(ParamsError, match="lr_milestones must be increasing fractions"):
        parse_params({**base, "train": {"schedule": "step", "lr_milestones": [0.9, 0.5]}})
    assert parse_params({**base, "train": {"schedule": "step", "lr_milestones": [0.5, 0.9]}}).train.lr_milestones \
        == (0.5, 0.9)
