"""bench.weizmann.real_folds: which real videos are kept, the root of symlinks, the folds, and the
params it composes (the default profile's sections untouched)."""
from collections import Counter

import yaml

from bench.weizmann.common import ROOT
from bench.weizmann.real_folds import PROFILE, SOURCES, build_root, compose, select_videos
from pipeline.datasets import get_adapter
from pipeline.params import parse_params


def test_the_classes_with_one_video_are_left_out(shared_datasets):
    kept, left = select_videos(shared_datasets / "weizmann" / "videos")
    assert len(kept) == 28
    assert Counter(label for _, label, _ in kept) == {"jump": 6, "pjump": 4, "run": 5, "side": 7, "skip": 4, "walk": 2}
    assert len({person for _, _, person in kept}) == 9
    assert left == {"jack": ["eli_2"], "wave1": ["lena_9"], "wave2": ["denis_0"]}


def test_the_root_links_the_videos_and_makes_three_folds_of_whole_persons(shared_datasets, tmp_path):
    videos = shared_datasets / "weizmann" / "videos"
    build_root(tmp_path, videos)
    build_root(tmp_path, videos)   # again: the same links, no error
    links = sorted(tmp_path.glob("videos/*.mp4"))
    assert len(links) == 28 and all(p.is_symlink() and p.resolve().parent == videos.resolve() for p in links)
    m = get_adapter("generic").build_manifest(tmp_path, {"folds": 3, "seed": 0})
    assert m.splits == ["1", "2", "3"]
    group = dict(zip(m.videos["video_id"], m.videos["group"]))
    tested = Counter()
    for split in m.splits:
        col = m.videos[m.split_column(split)]
        test = set(m.videos["video_id"][col == "test"])
        train = set(group) - test
        assert not {group[v] for v in test} & {group[v] for v in train}   # persons never on both sides
        tested.update(test)
    assert set(tested) == set(group) and set(tested.values()) == {1}   # each video tested once


def test_composed_params_keep_the_default_profile_and_set_the_estimator():
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    profile = yaml.safe_load(PROFILE.read_text())
    for _, pose, _ in SOURCES.values():
        out = compose(base, profile, pose)
        for section in ("model", "train", "pose_inputs", "index", "pose_augment", "evaluate", "seed"):
            assert out.get(section) == base.get(section)
        assert out["datasets"] == profile["datasets"] and out["runs"] == profile["runs"]
        assert out["pose"]["estimator"] == pose["estimator"]
        assert out["pose"]["track_filter"] == base["pose"]["track_filter"]   # merged, not replaced
        assert out["decode"]["short_side"] == 144 and out["decode"]["fps"] == base["decode"]["fps"]
        parse_params(out)   # a valid params file
