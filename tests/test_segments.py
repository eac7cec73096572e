import numpy as np
import pandas as pd
import pytest

from pipeline.datasets.base import Manifest
from pipeline.errors import InputError
from pipeline.io import read_parquet_metadata
from pipeline.segments import Carve, build_indexes, carve, carve_validation, middle_frames, segment_bounds


def test_segments_partition_long_videos():
    lo, hi = segment_bounds(0, 100, 16)
    assert len(lo) == 16 and lo[0] == 0 and hi[-1] == 100
    assert (lo[1:] == hi[:-1]).all()  # contiguous, no overlap, no gap
    assert (hi - lo).min() >= 6 and (hi - lo).max() <= 7
    mid = middle_frames(lo, hi)
    assert ((mid >= lo) & (mid < hi)).all()


def test_short_video_steps_through_every_frame_in_order():
    lo, hi = segment_bounds(0, 5, 16)
    assert (hi - lo == 1).all()
    assert list(lo) == sorted(lo) and set(lo) == set(range(5))


def test_frame_range_offsets():
    lo, hi = segment_bounds(30, 62, 16)
    assert lo[0] == 30 and hi[-1] == 62 and (hi - lo == 2).all()
    with pytest.raises(ValueError):
        segment_bounds(5, 5, 16)


def test_validation_is_seeded_per_class_and_keeps_a_training_video():
    train = pd.DataFrame({"video_id": [f"v{i}" for i in range(30)], "label_id": [i % 3 for i in range(30)]})
    a = carve_validation(train, 0.2, seed=1)
    assert a == carve_validation(train, 0.2, seed=1) and a != carve_validation(train, 0.2, seed=2)
    labels = train.set_index("video_id").loc[sorted(a), "label_id"]
    assert labels.value_counts().to_dict() == {0: 2, 1: 2, 2: 2}
    tiny = pd.DataFrame({"video_id": ["a", "b"], "label_id": [0, 0]})
    assert len(carve_validation(tiny, 0.9, seed=0)) == 1


def test_validation_moves_whole_groups_where_videos_name_their_source():
    # 2 classes x 5 groups x 3 clips: a group is one actor, as in UCF101 and the synthetic dataset
    rows = [(f"c{c}_g{g}_{k}", c, f"g{g}") for c in range(2) for g in range(5) for k in range(3)]
    train = pd.DataFrame(rows, columns=["video_id", "label_id", "group"])
    val = carve_validation(train, 0.2, seed=0)
    for _, videos in train.groupby("label_id"):
        split_groups = videos.groupby("group")["video_id"].apply(lambda v: set(v.isin(val)))
        assert all(len(s) == 1 for s in split_groups)            # no group on both sides
        assert videos["video_id"].isin(val).sum() == 3           # one of the class's 5 groups
    assert carve_validation(train, 0.2, seed=0) == val and carve_validation(train, 0.2, seed=3) != val
    # a class whose only group is one actor keeps it in training: single videos move instead
    one = pd.DataFrame({"video_id": ["a", "b", "c", "d"], "label_id": 0, "group": "g1"})
    assert len(carve_validation(one, 0.5, seed=0)) == 2
    # no sources named (Penn Action, HMDB51): single videos, as before
    singles = carve_validation(train.assign(group=""), 0.2, seed=0)
    assert len(singles) == 6 and any(train[train["video_id"].isin(singles)].groupby("group").size() < 3)


def test_build_indexes_uses_decoded_counts_skips_failures_and_never_validates_on_test(tmp_path):
    n = 20
    videos = pd.DataFrame({
        "video_id": [f"v{i:02d}" for i in range(n)], "path": [f"v{i}.mp4" for i in range(n)],
        "label_id": [i % 2 for i in range(n)], "label_name": [["a", "b"][i % 2] for i in range(n)],
        "group": [""] * n,
        "split_1": ["test" if i < 6 else "train" for i in range(n)],
        "split_2": ["train" if i < 14 else ("unused" if i == 19 else "test") for i in range(n)]})
    Manifest("toy", ["a", "b"], ["1", "2"], videos).save(tmp_path / "m.parquet")
    frames = pd.DataFrame({"video_id": videos["video_id"], "status": ["failed"] + ["ok"] * (n - 1),
                           "num_frames": [0] + [40 + i for i in range(1, n)]})
    frames.to_parquet(tmp_path / "frames.parquet")
    summary = build_indexes(tmp_path / "m.parquet", tmp_path / "frames.parquet", None, tmp_path / "idx",
                            num_segments=8, val_fraction=0.25, seed=0)
    idx1 = pd.read_parquet(tmp_path / "idx" / "split_1.parquet")
    assert "v00" not in set(idx1["video_id"]) and summary["1"]["skipped"] == 1
    assert set(idx1.loc[idx1.subset == "test", "video_id"]) == {f"v{i:02d}" for i in range(1, 6)}
    assert set(idx1.loc[idx1.subset == "val", "video_id"]).isdisjoint(idx1.loc[idx1.subset == "test", "video_id"])
    assert (idx1.subset == "val").sum() == 4  # a quarter of each class's 7 training videos
    row = idx1.set_index("video_id").loc["v07"]
    assert row.num_frames == 47 and row.seg_end[-1] == 47 and len(row.mid) == 8
    idx2 = pd.read_parquet(tmp_path / "idx" / "split_2.parquet")
    assert "v19" not in set(idx2["video_id"]) and (idx2.subset == "test").sum() == 5


def test_skipped_videos_are_named_with_the_reason_they_failed(tmp_path, capsys):
    # issue 14, defect 6: index printed "skipped 5" and nothing else
    videos = pd.DataFrame({"video_id": [f"v{i}" for i in range(8)], "path": [f"v{i}.mp4" for i in range(8)],
                           "label_id": [i % 2 for i in range(8)], "label_name": [["a", "b"][i % 2] for i in range(8)],
                           "group": "", "split_1": ["test"] * 3 + ["train"] * 5})
    Manifest("toy", ["a", "b"], ["1"], videos).save(tmp_path / "m.parquet")
    pd.DataFrame({"video_id": videos["video_id"], "status": ["failed"] + ["ok"] * 7,
                  "error": ["v0.mp4: ffmpeg failed: moov atom not found"] + [""] * 7,
                  "num_frames": [0] + [30] * 7}).to_parquet(tmp_path / "frames.parquet")
    build_indexes(tmp_path / "m.parquet", tmp_path / "frames.parquet", None, tmp_path / "idx",
                  num_segments=4, val_fraction=0.2, seed=0)
    out = capsys.readouterr().out
    assert "index toy split 1 SKIPPED: 1 video\n  v0: test: v0.mp4: ffmpeg failed: moov atom not found" in out
    assert str(tmp_path / "idx" / "split_1.parquet") in out


def _toy(tmp_path, subsets):
    n = len(subsets)
    videos = pd.DataFrame({"video_id": [f"v{i}" for i in range(n)], "path": [f"v{i}.mp4" for i in range(n)],
                           "label_id": [i % 2 for i in range(n)], "label_name": [["a", "b"][i % 2] for i in range(n)],
                           "group": "", "split_1": subsets})
    Manifest("toy", ["a", "b"], ["1"], videos).save(tmp_path / "m.parquet")
    pd.DataFrame({"video_id": videos["video_id"], "status": "ok", "error": "",
                  "num_frames": 30}).to_parquet(tmp_path / "frames.parquet")
    return videos


def test_videos_whose_pose_failed_are_skipped_with_the_reason(tmp_path, capsys):
    # issue 28, point 5: an import with shape errors for 3 of 10 videos gave `index ... skipped 0`
    videos = _toy(tmp_path, ["test"] * 4 + ["train"] * 6)
    failed = {"v1", "v5", "v8"}
    pd.DataFrame({"video_id": videos["video_id"],
                  "status": ["failed" if v in failed else "ok" for v in videos["video_id"]],
                  "error": [f"{v}: keypoint must be [M, T, V, C]" if v in failed else "" for v in videos["video_id"]],
                  "num_frames": [0 if v in failed else 30 for v in videos["video_id"]]}
                 ).to_parquet(tmp_path / "poses.parquet")
    summary = build_indexes(tmp_path / "m.parquet", tmp_path / "frames.parquet", tmp_path / "poses.parquet",
                            tmp_path / "idx", num_segments=4, val_fraction=0.2, seed=0)
    assert summary["1"]["skipped"] == 3
    assert not failed & set(pd.read_parquet(tmp_path / "idx" / "split_1.parquet")["video_id"])
    assert "  v5: train: v5: keypoint must be [M, T, V, C]" in capsys.readouterr().out


@pytest.mark.parametrize("subsets,empty", [(["test"] * 6, "training"), (["train"] * 6, "test")])
def test_an_empty_training_or_test_set_stops_the_index_with_one_line(tmp_path, subsets, empty):
    _toy(tmp_path, subsets)
    with pytest.raises(InputError, match=rf"split 1 has no {empty} videos .*\. Fix: "):
        build_indexes(tmp_path / "m.parquet", tmp_path / "frames.parquet", None, tmp_path / "idx",
                      num_segments=4, val_fraction=0.2, seed=0)


def _people(groups: int, trials: int, classes: int = 3) -> pd.DataFrame:
    rows = [(f"c{c}_p{g}_{t}", c, f"class{c}", f"p{g}") for c in range(classes) for g in range(groups)
            for t in range(trials)]
    return pd.DataFrame(rows, columns=["video_id", "label_id", "label_name", "group"])


def test_few_groups_carve_single_videos_spread_over_the_groups():
    # issue 29: 2 training people x 3 trials: whole groups would send one person (half) to validation
    train = _people(groups=2, trials=3)
    c = carve(train, 0.15, seed=0)
    assert c.rule == "videos" and "class class0 has only 2 groups in training" in c.reason
    assert c.describe().startswith("validation by video: class class0 has only 2 groups")
    val = train[train["video_id"].isin(c.val)]
    assert val["label_id"].value_counts().to_dict() == {0: 1, 1: 1, 2: 1}   # 15 % of 6, at least one per class
    assert c == carve(train, 0.15, seed=0) and set(c.val) == carve_validation(train, 0.15, seed=0)
    half = carve(_people(groups=2, trials=4), 0.5, seed=3)                   # spread: 2 of each person's 4
    picked = _people(groups=2, trials=4).set_index("video_id").loc[sorted(half.val)]
    assert picked.groupby(["label_id", "group"]).size().eq(2).all() and len(picked) == 12


def test_whole_groups_only_when_they_take_no_more_than_one_and_a_half_val_fractions():
    # 3 groups per class: one whole group is a third of the training videos (> 1.5 x 0.15)
    three = carve(_people(groups=3, trials=2), 0.15, seed=0)
    assert three.rule == "videos" and "whole groups would take 33% of the training videos" in three.reason
    assert len(three.val) == 3
    # the same 3 groups with val_fraction 0.3: a third is within 1.5 x 0.3, whole groups move
    groups = carve(_people(groups=3, trials=2), 0.3, seed=0)
    assert groups.rule == "groups" and len(groups.val) == 6
    train = _people(groups=3, trials=2)
    val = train[train["video_id"].isin(groups.val)]
    assert (val.groupby("label_id")["group"].nunique() == 1).all()
    assert (val.groupby("label_id").size() == 2).all()
    # 5 groups of the synthetic dataset's shape (one group per class: 20 % <= 22.5 %): whole groups
    assert carve(_people(groups=5, trials=6), 0.15, seed=0).rule == "groups"
    # no groups named, or no validation at all
    assert carve(_people(groups=1, trials=6).assign(group=""), 0.15, seed=0).rule == "videos"
    assert carve(train, 0.0, seed=0) == Carve(frozenset(), "none", "index.val_fraction is 0")


def test_the_index_prints_the_clips_of_each_subset_and_records_the_carve_rule(tmp_path, capsys):
    # the set: 3 people x 3 classes x 3 trials, one person held out for test
    v = _people(groups=3, trials=3)
    v["path"] = v["video_id"] + ".mp4"
    v["split_1"] = np.where(v["group"] == "p2", "test", "train")
    Manifest("toy", ["class0", "class1", "class2"], ["1"], v).save(tmp_path / "m.parquet")
    pd.DataFrame({"video_id": v["video_id"], "status": "ok", "error": "",
                  "num_frames": 30}).to_parquet(tmp_path / "frames.parquet")
    build_indexes(tmp_path / "m.parquet", tmp_path / "frames.parquet", None, tmp_path / "idx",
                  num_segments=4, val_fraction=0.15, seed=0)
    assert ("index toy split 1: 15 train / 3 val / 9 test clips, 0 skipped (validation by video: class class0 "
            "has only 2 groups in training, whole groups need 3)" in capsys.readouterr().out)
    meta = read_parquet_metadata(tmp_path / "idx" / "split_1.parquet")
    assert meta["validation"]["rule"] == "videos" and meta["validation"]["val_fraction"] == 0.15
