"""The model zoo (issue 26): every registry entry's model is in the checkout, committed, loads
weights-only and is the file its card names (sha256); and the default model predicts on a real
clip without --model: valid probabilities over its 15 classes, the same top-5 twice."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline import zoo
from pipeline.predict import predict_video

ROOT = Path(__file__).resolve().parents[1]
# HMDB51 "wave" (clips.csv): 48 frames of 432x240, one woman waving, in view the whole clip
CLIP = "TrumanShow_wave_f_nm_np1_fr_med_26.avi"
PENN_CLASSES = {"baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing",
                "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar",
                "tennis_forehand", "tennis_serve"}


def test_every_registry_entry_is_there_loads_weights_only_and_matches_its_card():
    entries = zoo.zoo_entries()
    assert [e.name for e in entries if e.default] == ["penn_action_tmp"]
    for entry in entries:
        assert zoo.check_entry(entry) == [], entry.name
        if shutil.which("git") and (ROOT / ".git").exists():   # in a checkout: committed, not ignored
            listed = subprocess.run(["git", "ls-files", "--", str(entry.path.relative_to(ROOT))], cwd=ROOT,
                                    capture_output=True, text=True).stdout.split()
            assert listed == [entry.path.relative_to(ROOT).as_posix()], \
                f"{entry.path}: not in git (git add -f it; check .gitignore)"


def test_the_check_finds_a_missing_an_unloadable_and_a_changed_model(tmp_path):
    entry = zoo.default_model()
    (tmp_path / "zoo").mkdir()
    card = tmp_path / "card.md"
    card.write_text(entry.card.read_text())
    copy = zoo.ModelEntry("copy", tmp_path / "model.pt", "zoo", card=card)
    assert zoo.check_entry(copy) == [f"{copy.path}: the zoo model copy is missing; remake it with bash "
                                     "bench/penn_action/zoo.sh (or restore it from git) and commit it"]
    copy.path.write_bytes(entry.path.read_bytes())
    assert zoo.check_entry(copy) == []
    copy.path.write_bytes(entry.path.read_bytes() + b"\0")        # one byte more: another sha256
    (problem,) = zoo.check_entry(copy)
    assert "is not the" in problem and hashlib.sha256(copy.path.read_bytes()).hexdigest() in problem
    copy.path.write_bytes(b"not a checkpoint")
    problems = zoo.check_entry(copy)
    assert len(problems) == 2 and "does not load weights-only" in problems[0]
    card.write_text("# no digest here\n")
    copy.path.write_bytes(entry.path.read_bytes())
    assert zoo.check_entry(copy) == [f"{card}: names no sha256 `<64 hex digits>` of model.pt; write the "
                                     "card with bench.penn_action.publish_zoo"]


@pytest.fixture(scope="module")
def clip(shared_datasets) -> Path:
    path = shared_datasets / "clips" / CLIP
    assert path.is_file(), f"{path}: the real test clip is missing"
    return path


def test_the_default_model_predicts_a_real_clip_without_model(clip, tmp_path):
    res = predict_video(clip, top=15)
    assert res.model_source == "zoo" and res.default_model and res.model_name == "penn_action_tmp"
    assert res.estimator == "blazepose" and res.num_frames == 48
    # the woman is found in most sampled frames (BlazePose, tracked as in the pose stage)
    assert sum(c > 0 for c in res.persons_per_step) >= 12 and not res.no_person_detected
    probs = np.array([e["probability"] for e in res.top])
    assert {e["label"] for e in res.top} == PENN_CLASSES and len(res.top) == 15
    assert np.isfinite(probs).all() and (probs >= 0).all() and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert (np.diff(probs) <= 0).all()
    # again, from the command line without --model: the same top-5, to the last bit
    proc = subprocess.run([sys.executable, "-m", "stages.predict", str(clip), "--json", str(tmp_path / "r.json")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "model: penn_action_tmp (model zoo" in proc.stdout and "the default model" in proc.stdout
    assert len(re.findall(r"^\s+[1-5]\s+\w+\s+[0-9.]+$", proc.stdout, re.M)) == 5
    assert json.loads((tmp_path / "r.json").read_text())["top"] == res.top[:5]
