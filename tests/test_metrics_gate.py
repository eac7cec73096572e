import json
import subprocess

import numpy as np
import pytest

from pipeline.evaluate import (classification_metrics, confusion_matrix, mean_class_accuracy, summarize_runs,
                               topk_accuracy)
from pipeline.gate import check_metrics, compare


def test_topk_and_mean_class_accuracy_by_hand():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 2, 0])
    assert topk_accuracy(scores, labels, 1) == 0.75
    assert topk_accuracy(scores, labels, 2) == 1.0
    # class 1: 1/2 right, class 2: 1/1, class 0: 1/1 -> mean 5/6
    assert mean_class_accuracy(scores.argmax(1), labels, 3) == pytest.approx(5 / 6)
    cm = confusion_matrix(scores.argmax(1), labels, 3)
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]


def test_fused_is_mean_of_stream_softmaxes_not_concat():
    labels = np.array([0, 1])
    heads = {"concat": np.array([[0.0, 5.0], [0.0, 5.0]]),       # always says class 1
             "pose": np.array([[9.0, 0.0], [0.0, 1.0]]), "motion": np.array([[1.0, 0.0], [0.0, 9.0]])}
    m = classification_metrics(heads, labels, 2)
    assert m["concat"]["top1"] == 0.5 and m["fused"]["top1"] == 1.0
    assert m["heads_top1"] == {"concat": 0.5, "pose": 1.0, "motion": 1.0}


def test_summary_averages_over_splits(tmp_path):
    for i, top1 in enumerate([0.5, 0.7, 0.9]):
        (tmp_path / f"r{i}.json").write_text(json.dumps({"concat": {"top1": top1}, "num_videos": 10}))
    s = summarize_runs({f"r{i}": tmp_path / f"r{i}.json" for i in range(3)}, {f"r{i}": "ds" for i in range(3)},
                       tmp_path / "summary.json")
    assert s["ds"]["runs"] == 3 and s["ds"]["concat.top1"] == pytest.approx(0.7)
    assert json.loads((tmp_path / "summary.json").read_text()) == s


def test_gate_flags_drops_beyond_tolerance_and_missing_metrics():
    base = {"concat": {"top1": 0.80, "top5": 0.95}, "fused": {"mean_class_accuracy": 0.7}}
    rows, ok = compare(base, {"concat": {"top1": 0.78, "top5": 0.99}, "fused": {"mean_class_accuracy": 0.7}}, 0.03)
    assert ok and {r[0]: r[4] for r in rows} == {"concat.top1": "ok", "concat.top5": "ok",
                                                 "fused.mean_class_accuracy": "ok"}
    rows, ok = compare(base, {"concat": {"top1": 0.70, "top5": 0.95}}, 0.03)
    verdicts = {r[0]: r[4] for r in rows}
    assert not ok and verdicts["concat.top1"] == "REGRESSED" and verdicts["fused.mean_class_accuracy"] == "MISSING"


def test_gate_reads_baseline_from_git_head(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "m.json").write_text(json.dumps({"concat": {"top1": 0.9}}))
    subprocess.run(["git", "add", "m.json"], check=True)
    subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "x"], check=True)
    (tmp_path / "m.json").write_text(json.dumps({"concat": {"top1": 0.5}}))
    ok, report = check_metrics([tmp_path / "m.json"], 0.05)
    assert not ok and "REGRESSED" in report and "0.9000" in report
    (tmp_path / "m.json").write_text(json.dumps({"concat": {"top1": 0.88}}))
    ok, _ = check_metrics([tmp_path / "m.json"], 0.05)
    assert ok
    ok, report = check_metrics([tmp_path / "absent.json"], 0.05)
    assert not ok and "MISSING" in report
