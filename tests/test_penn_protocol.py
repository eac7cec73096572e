"""The Penn Action protocol's pieces: stage params overrides (one run per seed/candidate without a
params file each) and the per-seed summary with mean +- std."""
import json
import sys

import pytest

from bench.penn_action.protocol_summary import mean_std, report, summarise
from stages.common import parse

PARAMS = """
seed: 0
datasets:
  d: {adapter: synthetic, root: data/raw/d, options: {}}
runs:
  r1: {dataset: d, split: "1"}
pose_augment:
  view: person
"""


def test_stage_params_take_overrides(tmp_path, monkeypatch):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    monkeypatch.setattr(sys, "argv", ["stage", "--params", str(path), "--set", "seed=3",
                                      'runs.r2={"dataset":"d","split":"1"}', "pose_augment.joint_drop=0.2",
                                      "--run", "r2"])
    args, params = parse("doc", ("--run", {"required": True}))
    assert args.run == "r2" and params.seed == 3
    assert params.runs["r2"].dataset == "d" and params.runs["r2"].split == "1"
    assert params.pose_augment.joint_drop == 0.2 and params.pose_augment.view == "person"
    monkeypatch.setattr(sys, "argv", ["stage", "--params", str(path), "--run", "r1"])
    assert parse("doc", ("--run", {"required": True}))[1].seed == 0


def test_mean_std_is_the_sample_deviation():
    r = mean_std([0.90, 0.92, 0.94])
    assert r["mean"] == pytest.approx(0.92) and r["std"] == pytest.approx(0.02) and r["n"] == 3
    assert mean_std([0.5])["std"] == 0.0


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_summary_reads_the_choice_and_every_seed(tmp_path):
    for cand, val in (("profile", 0.96), ("alt", 0.97)):
        _write(tmp_path / "models" / f"penn_{cand}_s0" / "history.json",
               [{"epoch": 0, "val_top1": 0.5}, {"epoch": 1, "val_top1": val}, {"epoch": 2, "val_top1": val - 0.1}])
    for seed, top1 in zip((0, 1, 2), (0.95, 0.97, 0.96)):
        run = f"penn_alt_s{seed}"
        head = {"top1": top1, "top5": 0.99, "mean_class_accuracy": top1 - 0.01}
        _write(tmp_path / "metrics" / f"{run}.json", {"num_videos": 1068, "best_epoch": 40 + seed,
                                                      "val_top1": 0.97, "concat": head, "fused": head})
        _write(tmp_path / "metrics" / f"{run}.robustness.json",
               {"conditions": {"joints_30": {"top1": top1 - 0.1}, "flicker_20": {"top1": top1 - 0.05}}})
    result = summarise("alt", [0, 1, 2], ["profile", "alt"], ["joints_30", "flicker_20"],
                       metrics_dir=tmp_path / "metrics", models_dir=tmp_path / "models")
    assert result["candidates_val_top1_seed0"] == {"profile": 0.96, "alt": 0.97}
    assert result["per_seed"][1]["top1"] == 0.97 and result["per_seed"][2]["best_epoch"] == 42
    assert result["mean_std"]["top1"]["mean"] == pytest.approx(0.96)
    assert result["mean_std"]["top1"]["std"] == pytest.approx(0.01)
    assert result["mean_std"]["joints_30_top1"]["mean"] == pytest.approx(0.86)
    text = report(result)
    assert "96.00 +- 1.00" in text and "86.00 +- 1.00" in text and "-> alt" in text
