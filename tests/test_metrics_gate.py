import json
import subprocess

import numpy as np
import pytest

from pipeline.evaluate import (classification_metrics, confusion_matrix, mean_class_accuracy, prediction_table,
                               summarize_runs, topk_accuracy)
from pipeline.gate import (GateInputError, check, compare_predictions, one_sided_p, parse_prediction_lines,
                           read_prediction_csv, smallest_detectable_drop, update_baseline)


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
    assert s["ds"]["concat.top1_std"] == pytest.approx(0.2)          # the sample std (ddof 1)
    assert json.loads((tmp_path / "summary.json").read_text()) == s


def test_summary_pools_each_class_over_the_runs_test_videos(tmp_path):
    tables = {"r0": "video_id,label,concat,fused\na,kick,kick,kick\nb,squat,kick,squat\n",
              "r1": "video_id,label,concat,fused\nc,kick,squat,kick\nd,squat,squat,squat\ne,kick,kick,kick\n",
              "other": "video_id,label,concat,fused\nf,kick,squat,squat\n"}
    for run, text in tables.items():
        (tmp_path / f"{run}.csv").write_text(text)
        (tmp_path / f"{run}.json").write_text(json.dumps({"concat": {"top1": 0.5}}))
    s = summarize_runs({r: tmp_path / f"{r}.json" for r in tables}, {"r0": "ds", "r1": "ds", "other": "ds2"},
                       tmp_path / "summary.json", predictions={r: tmp_path / f"{r}.csv" for r in tables})
    assert s["ds"]["class_top1"] == {"kick": pytest.approx(2 / 3), "squat": 0.5}
    assert s["ds"]["class_videos"] == {"kick": 3, "squat": 2}
    assert s["ds2"]["class_top1"] == {"kick": 0.0}



def test_prediction_table_has_concat_and_fused_classes_per_video():
    heads = {"concat": np.array([[0.0, 5.0], [0.0, 5.0]]),
             "pose": np.array([[9.0, 0.0], [0.0, 1.0]]), "motion": np.array([[1.0, 0.0], [0.0, 9.0]])}
    text = prediction_table(["v1", "v2"], heads, np.array([0, 1]), ["walk", "run"])
    assert text.splitlines() == ["video_id,label,concat,fused", "v1,walk,run,walk", "v2,run,run,run"]
    assert parse_prediction_lines(text.splitlines(), "x") == {"v1": ("walk", "run", "walk"), "v2": ("run", "run", "run")}


def _tables(runs=(90, 90, 60), accuracy=0.85, seed=0) -> dict:
    """Prediction tables of a 10-class model with the given accuracy (fused = concat)."""
    rng = np.random.default_rng(seed)
    out = {}
    for r, n in enumerate(runs):
        labels = rng.integers(0, 10, n)
        right = rng.random(n) < accuracy
        pred = np.where(right, labels, (labels + 1) % 10)
        out[f"run{r}"] = {f"v{r}_{i}": (str(y), str(p), str(p)) for i, (y, p) in enumerate(zip(labels, pred))}
    return out


def _flip(tables: dict, run: str, *, lose: int, gain: int) -> dict:
    """A copy where ``lose`` right videos of ``run`` turn wrong and ``gain`` wrong ones turn right."""
    out = {r: dict(t) for r, t in tables.items()}
    right = [v for v, (y, p, _) in out[run].items() if y == p]
    wrong = [v for v, (y, p, _) in out[run].items() if y != p]
    assert len(right) >= lose and len(wrong) >= gain
    for v in right[:lose]:
        y = out[run][v][0]
        bad = str((int(y) + 3) % 10)
        out[run][v] = (y, bad, bad)
    for v in wrong[:gain]:
        y = out[run][v][0]
        out[run][v] = (y, y, y)
    return out


def test_exact_paired_test_by_hand():
    assert one_sided_p(3, 0) == 1 / 8                     # all three discordant videos lost
    assert one_sided_p(2, 1) == 4 / 8                     # P(X >= 2 | n=3): (3 + 1) / 8
    assert one_sided_p(0, 5) == 1.0 and one_sided_p(0, 0) == 1.0
    # 10 lost out of 10 discordant: p = 1/1024 < 0.001; 9 of 10: 11/1024 > 0.001
    assert smallest_detectable_drop(10, 100, 0.001) == pytest.approx(0.10)
    assert smallest_detectable_drop(0, 100, 0.001) == pytest.approx(0.10)   # ten lost videos, nothing gained
    assert smallest_detectable_drop(40, 100, 0.001) > 0.10                  # more disagreement, larger least drop


def test_small_noisy_differences_pass():
    base = _tables()
    # rerun noise: a few videos change either way in every run, net losses of 1-3 videos per run
    cur = _flip(_flip(_flip(base, "run0", lose=6, gain=3), "run1", lose=4, gain=3), "run2", lose=4, gain=2)
    result = compare_predictions(base, cur, alpha=0.01)
    pooled = {r.head: r for r in result.rows if r.scope == "all runs"}
    assert result.ok and not result.problems
    assert pooled["concat"].lost == 14 and pooled["concat"].gained == 8 and pooled["concat"].change == pytest.approx(-6 / 240)
    assert result.mean_change("concat") == pytest.approx(np.mean([-3 / 90, -1 / 90, -2 / 60]))
    single = compare_predictions({"run0": base["run0"]}, {"run0": cur["run0"]}, alpha=0.01)
    assert single.ok and single.pooled_scope == "run0" and single.mean_change("concat") == pytest.approx(-3 / 90)


def test_real_drops_fail_pooled_and_in_one_run():
    base = _tables()
    spread = _flip(_flip(_flip(base, "run0", lose=10, gain=2), "run1", lose=9, gain=2), "run2", lose=8, gain=1)
    result = compare_predictions(base, spread, alpha=0.01)       # -8.8 points pooled, no run alone alarming
    verdicts = {(r.scope, r.head): r.verdict for r in result.rows}
    assert not result.ok and verdicts[("all runs", "concat")] == "REGRESSED"
    assert verdicts[("run0", "concat")] == "ok"
    one_split = _flip(base, "run2", lose=30, gain=1)             # e.g. shuffled labels in one split
    result = compare_predictions(base, one_split, alpha=0.01)
    verdicts = {(r.scope, r.head): r.verdict for r in result.rows}
    assert not result.ok and verdicts[("run2", "fused")] == "REGRESSED" and verdicts[("run1", "fused")] == "ok"


def test_changed_test_set_is_a_problem():
    base = _tables()
    cur = {r: dict(t) for r, t in base.items()}
    cur["run1"].pop(next(iter(cur["run1"])))
    del cur["run2"]
    result = compare_predictions(base, cur, alpha=0.01)
    assert not result.ok and any("run2" in p and "not evaluated" in p for p in result.problems)
    assert any("run1" in p and "test videos differ" in p for p in result.problems)


def _write_csv(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("video_id,label,concat,fused\n" + "".join(f"{v},{','.join(t)}\n" for v, t in table.items()))


def _project(tmp_path, monkeypatch, tables):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "params.yaml").write_text("seed: 0\ntrain: {epochs: 3}\ngate: {alpha: 0.01}\n")
    subprocess.run(["git", "add", "params.yaml"], check=True)
    subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=t", "commit", "-qm", "x"], check=True)
    preds, metrics = {}, {}
    for run, table in tables.items():
        preds[run], metrics[run] = tmp_path / f"{run}.csv", tmp_path / f"{run}.json"
        _write_csv(preds[run], table)
        metrics[run].write_text(json.dumps({"concat": {"top1": 0.8}, "fused": {"top1": 0.8}}))
    return preds, metrics


def test_update_baseline_records_provenance_and_the_gate_passes_against_it(tmp_path, monkeypatch):
    tables = _tables()
    preds, metrics = _project(tmp_path, monkeypatch, tables)
    raw = {"seed": 0, "train": {"epochs": 3}, "gate": {"alpha": 0.01}}
    out = tmp_path / "metrics" / "baseline.json"
    update_baseline(list(tables), predictions=preds, metrics=metrics, raw_params=raw, train_threads=1, out=out)
    saved = json.loads(out.read_text())
    prov = saved["provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert prov["git_commit"] == head and prov["git_dirty"] is False and prov["command"].endswith("--update-baseline")
    assert len(prov["params_sha256"]) == 16 and prov["train_threads"] == 1
    from pipeline.gate import code_digest
    assert prov["code_sha256"] == code_digest() != code_digest(tmp_path)   # the project's code, not the cwd's
    import torch
    assert prov["machine"]["torch"] == torch.__version__ and prov["machine"]["cores"] >= 1
    assert prov["machine"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert saved["runs"]["run2"]["num_videos"] == 60 and saved["runs"]["run0"]["predictions"][0].startswith("video_id")

    ok, report = check(list(tables), predictions=preds, baseline_path=out, alpha=0.01, raw_params=raw)
    assert ok and "PASS" in report and "same params" in report and head[:10] in report
    assert "smallest drop the gate detects now" in report
    # with no disagreement at all: 0.01 / 8 tests -> ten lost videos of the 240 pooled ones
    assert "4.2 points of top-1" in report

    ok, report = check(list(tables), predictions=preds, baseline_path=out, alpha=0.01,
                       raw_params={**raw, "train": {"epochs": 4}})
    assert ok and "PARAMS CHANGED" in report

    _write_csv(preds["run0"], _flip(tables, "run0", lose=25, gain=0)["run0"])
    ok, report = check(list(tables), predictions=preds, baseline_path=out, alpha=0.01, raw_params=raw)
    assert not ok and "REGRESSED" in report and "FAIL" in report and "--update-baseline" in report


def test_missing_or_malformed_files_fail(tmp_path, monkeypatch):
    tables = _tables(runs=(20, 20))
    preds, metrics = _project(tmp_path, monkeypatch, tables)
    ok, report = check(list(tables), predictions=preds, baseline_path=tmp_path / "none.json", alpha=0.01, raw_params={})
    assert not ok and "none.json" in report and "--update-baseline" in report
    out = tmp_path / "baseline.json"
    update_baseline(list(tables), predictions=preds, metrics=metrics, raw_params={}, train_threads=1, out=out)
    preds["run1"].unlink()
    ok, report = check(list(tables), predictions=preds, baseline_path=out, alpha=0.01, raw_params={})
    assert not ok and "run1.csv: missing" in report
    with pytest.raises(GateInputError, match="run1.csv: missing"):
        update_baseline(list(tables), predictions=preds, metrics=metrics, raw_params={}, train_threads=1, out=out)
    preds["run1"].write_text("video,label\nv,1\n")
    with pytest.raises(GateInputError, match="expected a header"):
        read_prediction_csv(preds["run1"])
    out.write_text("{}")
    ok, report = check(list(tables), predictions=preds, baseline_path=out, alpha=0.01, raw_params={})
    assert not ok and "not a gate baseline" in report
