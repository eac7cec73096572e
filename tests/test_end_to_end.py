"""One real `dvc repro` of the whole pipeline on a tiny synthetic dataset, in a scratch copy of the
project: metrics for every split, a second repro that does nothing, and a pose param change that
re-runs pose and what follows it but not decode."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


ROOT = Path(__file__).resolve().parents[1]


def _tiny_params() -> dict:
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["synth"].update(videos_per_class=3, num_frames=16, width=96, height=72, workers=2)
    p["runs"] = {"synth_1": {"dataset": "synth", "split": "1"}, "synth_2": {"dataset": "synth", "split": "2"}}
    p["decode"].update(short_side=64)
    p["index"].update(num_segments=4, val_fraction=0.2)
    p["model"].update(backbone_width=4, hidden_size=8, pose_dim=8, appearance_dim=8)
    p["train"].update(input_size=48, resize_short=56, epochs=2, batch_size=4, warmup_steps=2, workers=0,
                      threads=1, min_steps=0)   # 0: the 2 epochs as given (the floor would make 10 clips 100)
    return p


def _dvc(project: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = tmp_path_factory.mktemp("project")
    for name in ("pipeline", "stages"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
    (project / "params.yaml").write_text(yaml.safe_dump(_tiny_params(), sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    _dvc(project, "init", "-q")
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "init"],
                   cwd=project, check=True)
    return project


def test_dvc_repro_end_to_end(project):
    out = _dvc(project, "repro")
    for stage in ("synth", "prepare@synth", "decode@synth", "pose@synth", "features@synth", "index@synth",
                  "train@synth_1", "evaluate@synth_2", "summarize"):
        assert f"Running stage '{stage}'" in out
    # the default profile's frozen ImageNet backbone: its maps are cached once, for both runs
    assert len(list((project / "data" / "features" / "synth").glob("*.mid.npy"))) == 30
    for run in ("synth_1", "synth_2"):
        metrics = json.loads((project / "metrics" / "runs" / f"{run}.json").read_text())
        assert 0.0 <= metrics["concat"]["top1"] <= metrics["concat"]["top5"] <= 1.0
        assert metrics["num_videos"] > 0 and set(metrics["heads_top1"]) == {"concat", "pose", "motion", "appearance",
                                                                             "relation"}
        for png in ("confusion.png", "training.png"):
            assert (project / "metrics" / "plots" / run / png).read_bytes()[:4] == b"\x89PNG"
        assert (project / "models" / run / "model.pt").exists()
    summary = json.loads((project / "metrics" / "summary.json").read_text())
    assert summary["synth"]["runs"] == 2

    # Nothing changed: nothing runs.
    again = _dvc(project, "repro")
    assert "Running stage" not in again

    # A pose param re-runs pose and everything downstream, never decode.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["pose"]["groundtruth"]["drop_prob"] = 0.2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = _dvc(project, "repro")
    assert "Running stage 'pose@synth'" in changed and "Running stage 'train@synth_1'" in changed
    assert "Running stage 'decode@synth'" not in changed and "Running stage 'synth'" not in changed


def test_ci_gate_on_the_pipeline_metrics(project, tmp_path):
    """evaluate writes per-video predictions; `stages.gate --update-baseline` records them with
    provenance; the gate passes against that baseline, fails against a better one, and fails on a
    missing predictions file."""
    preds = {run: project / "metrics" / "predictions" / f"{run}.csv" for run in ("synth_1", "synth_2")}
    for path in preds.values():
        lines = path.read_text().splitlines()
        assert lines[0] == "video_id,label,concat,fused" and len(lines) > 1
    baseline = str(tmp_path / "baseline.json")
    update = subprocess.run([sys.executable, "-m", "stages.gate", "--update-baseline", "--baseline", baseline],
                            cwd=project, capture_output=True, text=True)
    assert update.returncode == 0, update.stderr
    assert json.loads(Path(baseline).read_text())["provenance"]["params_sha256"]
    gate = [sys.executable, "-m", "stages.gate", "--baseline", baseline]
    ok = subprocess.run(gate, cwd=project, capture_output=True, text=True)
    assert ok.returncode == 0 and "PASS" in ok.stdout and "REGRESSED" not in ok.stdout, ok.stdout + ok.stderr

    # A baseline that got every video right: the tiny 2-epoch models lose most of them.
    real = {run: path.read_text() for run, path in preds.items()}
    for path in preds.values():
        rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
        path.write_text("video_id,label,concat,fused\n" + "".join(f"{v},{y},{y},{y}\n" for v, y, _, _ in rows))
    subprocess.run([sys.executable, "-m", "stages.gate", "--update-baseline", "--baseline", baseline],
                   cwd=project, check=True, capture_output=True)
    for run, text in real.items():
        preds[run].write_text(text)
    bad = subprocess.run(gate, cwd=project, capture_output=True, text=True)
    assert bad.returncode == 1 and "REGRESSED" in bad.stdout and "--update-baseline" in bad.stdout, bad.stdout

    preds["synth_2"].unlink()
    missing = subprocess.run(gate, cwd=project, capture_output=True, text=True)
    preds["synth_2"].write_text(real["synth_2"])
    assert missing.returncode == 1 and "synth_2.csv: missing" in missing.stdout
