"""The generic adapter's folds (issue 29, item 1): one manifest, one split per fold, each fold testing
whole groups; and the one-line errors of a folds option that cannot work."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.datasets import DatasetError, get_adapter

PEOPLE = ("ann", "bob", "cat", "dan", "eve")


def _csv(root: Path, rows: list[str], header: str = "path,label,group") -> Path:
    path = root / "labels.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _people(root: Path, people=PEOPLE, classes=("wave", "clap", "kick"), trials=3) -> None:
    _csv(root, [f"v/{p}_{c}_{t}.mp4,{c},{p}" for p in people for c in classes for t in range(trials)])


def _build(root: Path, **options):
    return get_adapter("generic").build_manifest(root, {"check_files": False, **options})


def _tested(m) -> dict[str, set[str]]:
    """split -> the groups its test subset holds (and every other video is in train)."""
    out = {}
    for split in m.splits:
        col = m.videos[m.split_column(split)]
        assert set(col) == {"train", "test"}
        out[split] = set(m.videos.loc[col == "test", "group"])
        assert out[split].isdisjoint(m.videos.loc[col == "train", "group"])   # whole groups
    return out


def test_by_group_leaves_each_group_out_once(tmp_path):
    _people(tmp_path)
    m = _build(tmp_path, folds="by_group")
    assert m.splits == ["1", "2", "3", "4", "5"]
    assert _tested(m) == {str(i + 1): {p} for i, p in enumerate(sorted(PEOPLE))}


def test_k_folds_test_whole_groups_each_video_once_seeded(tmp_path):
    _people(tmp_path)
    m = _build(tmp_path, folds=2)
    tested = _tested(m)
    assert m.splits == ["1", "2"] and set().union(*tested.values()) == set(PEOPLE)
    assert sorted(len(g) for g in tested.values()) == [2, 3]
    test_counts = sum((m.videos[m.split_column(s)] == "test").astype(int) for s in m.splits)
    assert (test_counts == 1).all()                                   # every video tested exactly once
    assert _build(tmp_path, folds=2).videos.equals(m.videos)          # deterministic
    assert {frozenset(g) for g in _tested(_build(tmp_path, folds=3, seed=0)).values()} != \
        {frozenset(g) for g in _tested(_build(tmp_path, folds=3, seed=1)).values()}


def test_k_folds_are_stratified_by_class_as_far_as_the_groups_allow(tmp_path):
    # 6 people who each act one class only: a fold of two must take a waver and a clapper
    rows = [f"v/{p}_{t}.mp4,{c},{p}" for c, people in (("wave", "abc"), ("clap", "def")) for p in people
            for t in range(4)]
    _csv(tmp_path, rows)
    for seed in range(4):
        m = _build(tmp_path, folds=3, seed=seed)
        for split in m.splits:
            test = m.videos[m.videos[m.split_column(split)] == "test"]
            assert Counter(test["label_name"]) == {"wave": 4, "clap": 4}


def test_without_folds_the_manifest_is_as_before(tmp_path):
    _people(tmp_path)
    plain = _build(tmp_path)
    assert plain.splits == ["default"]
    assert plain.videos.equals(_build(tmp_path, folds=None).videos)
    assert set(plain.videos["split_default"]) == {"train", "test"}


def _raises(match: str, where: str):
    return pytest.raises(DatasetError, match=rf"^{re.escape(where)}.*{match}.*\. Fix: ")


def test_folds_that_cannot_work_are_one_line_errors(tmp_path):
    _people(tmp_path)
    csv = str(tmp_path / "labels.csv")
    with _raises("needs at least 6 groups, the CSV names 5", csv):
        _build(tmp_path, folds=6)
    for k in (1, 0, -3):
        with _raises("k folds need k >= 2", "params.yaml"):
            _build(tmp_path, folds=k)
    for bad in (True, "by_person", 2.5):
        with _raises("must be by_group or an integer k >= 2", "params.yaml"):
            _build(tmp_path, folds=bad)
    _csv(tmp_path, ["a.mp4,wave", "b.mp4,wave"], header="path,label")
    with _raises("needs a 'group' column", csv + ":1"):
        _build(tmp_path, folds="by_group")
    _csv(tmp_path, ["a.mp4,wave,train,p1", "b.mp4,wave,test,p2"], header="path,label,split,group")
    with _raises("has a 'split' column and the folds option", csv + ":1"):
        _build(tmp_path, folds=2, min_class_videos=1)
    _csv(tmp_path, ["a.mp4,wave,p1", "b.mp4,wave,"])
    with _raises("empty group for b.mp4", csv + ":3"):
        _build(tmp_path, folds="by_group")
    _csv(tmp_path, ["a.mp4,wave,p1", "b.mp4,wave,p1"])
    with _raises("by_group needs two or more groups", csv):
        _build(tmp_path, folds="by_group")


def test_one_manifest_indexes_every_fold(tmp_path, capsys):
    import pandas as pd

    from pipeline.datasets.base import Manifest
    from pipeline.segments import build_indexes

    (tmp_path / "root").mkdir()
    _people(tmp_path / "root", people=PEOPLE[:3])                      # 3 people x 3 classes x 3 trials
    m = _build(tmp_path / "root", folds="by_group")
    m.save(tmp_path / "m.parquet")
    pd.DataFrame({"video_id": m.videos["video_id"], "status": "ok", "error": "",
                  "num_frames": 30}).to_parquet(tmp_path / "frames.parquet")
    summary = build_indexes(tmp_path / "m.parquet", tmp_path / "frames.parquet", None, tmp_path / "idx",
                            num_segments=4, val_fraction=0.15, seed=0)
    assert sorted(summary) == ["1", "2", "3"]
    out = capsys.readouterr().out
    for split in ("1", "2", "3"):
        assert summary[split]["test"] == 9 and summary[split]["train"] + summary[split]["val"] == 18
        assert f"index generic split {split}: 15 train / 3 val / 9 test clips" in out
