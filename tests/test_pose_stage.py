import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.datasets.base import DatasetAdapter, GroundTruthPoses, Manifest
from pipeline.io import read_parquet_metadata
from pipeline.pose import runner
from pipeline.pose.base import Detections
from pipeline.pose.groundtruth import degrade, person_scores
from pipeline.pose.runner import PoseSettings, merge_parts, run_pose_stage
from pipeline.pose.schema import build_table, rank_and_limit, to_dense
from pipeline.pose.tracking import TRACKING_VERSION

F, W, H = 6, 200, 100


def _gt(video_id: str) -> GroundTruthPoses:
    """Three people; person 2 is small and partly visible, person 1 leaves after frame 2."""
    kps = np.full((F, 3, 14, 3), np.nan, np.float32)
    kps[..., 2] = 0
    rng = np.random.default_rng(len(video_id))
    for p, (cx, size, visible) in enumerate([(50, 40, 14), (120, 60, 14), (170, 10, 5)]):
        kps[:, p, :visible, 0] = cx + rng.uniform(-size / 2, size / 2, (F, visible))
        kps[:, p, :visible, 1] = 50 + rng.uniform(-size / 2, size / 2, (F, visible))
        kps[:, p, :visible, 2] = 1
    kps[3:, 1] = (np.nan, np.nan, 0)
    return GroundTruthPoses(kps, W, H)


def _manifest(tmp_path, ids):
    videos = pd.DataFrame({"video_id": ids, "path": [f"{v}.mp4" for v in ids], "label_id": 0, "label_name": "a",
                           "group": "", "split_1": "train"})
    Manifest("toy", ["a"], ["1"], videos).save(tmp_path / "m.parquet")
    return tmp_path / "m.parquet"


@pytest.fixture
def fake_adapter(monkeypatch):
    adapter = DatasetAdapter("fake", build_manifest=None, load_groundtruth=lambda root, row: _gt(row["video_id"]))
    monkeypatch.setattr(runner, "get_adapter", lambda name: adapter)


def _settings(**kw):
    base = dict(estimator="groundtruth", options={"noise_std": 0.0, "drop_prob": 0.0, "seed": 0}, max_persons=2,
                dtype="float32", adapter="fake", root="")
    return PoseSettings(**{**base, **kw})


def test_groundtruth_pose_stage_ranks_limits_normalises_and_records_stats(tmp_path, fake_adapter):
    out, vids, parts = tmp_path / "p.parquet", tmp_path / "v.parquet", tmp_path / "parts"
    stats = run_pose_stage(_manifest(tmp_path, ["vid_a", "vid_b"]), None, out, vids, parts, settings=_settings(),
                           workers=1, strict=True)
    table = pq.read_table(out)
    meta = read_parquet_metadata(out)
    assert meta["estimator"] == "groundtruth" and meta["layout"] == "aic14" and len(meta["keypoint_names"]) == 14
    df = table.to_pandas()
    # Ground truth keeps each person in one slot per video, best mean score first, N = 2: the large
    # person (slot 0) leaves after frame 2, the other full person stays in slot 1, the partial
    # third person is never kept.
    rows = df[df.video_id == "vid_a"].groupby("frame")["person"].apply(sorted).to_dict()
    assert rows == {0: [0, 1], 1: [0, 1], 2: [0, 1], 3: [1], 4: [1], 5: [1]}
    dense = to_dense(table, {"vid_a": F, "vid_b": F}, 2)
    gt = _gt("vid_a").keypoints
    np.testing.assert_allclose(dense["vid_a"][0, 0, :, 0] * W, gt[0, 1, :, 0], rtol=1e-5)
    np.testing.assert_allclose(dense["vid_a"][4, 1, :, 0] * W, gt[4, 0, :, 0], rtol=1e-5)
    assert (dense["vid_a"][4, 0, :, 2] == 0).all() and np.isnan(dense["vid_a"][4, 0, :, 0]).all()
    s = stats.set_index("video_id").loc["vid_a"]
    assert s.num_frames == F and s.frames_with_person == F and s.mean_persons == 1.5 and s.width == W


def test_pose_stage_resumes_per_video_and_reruns_on_param_change(tmp_path, fake_adapter):
    args = (tmp_path / "p.parquet", tmp_path / "v.parquet", tmp_path / "parts")
    manifest = _manifest(tmp_path, ["vid_a", "vid_b"])
    run_pose_stage(manifest, None, *args, settings=_settings(), workers=1, strict=True)
    stamp = (tmp_path / "parts" / "vid_a.parquet").stat().st_mtime_ns
    run_pose_stage(manifest, None, *args, settings=_settings(), workers=1, strict=True)
    assert (tmp_path / "parts" / "vid_a.parquet").stat().st_mtime_ns == stamp
    run_pose_stage(manifest, None, *args, settings=_settings(max_persons=3), workers=1, strict=True)
    assert (tmp_path / "parts" / "vid_a.parquet").stat().st_mtime_ns != stamp
    assert pq.read_table(tmp_path / "p.parquet").to_pandas()["person"].max() == 2


def test_shards_then_merge_equal_one_run(tmp_path, fake_adapter):
    ids = [f"v{i}" for i in range(5)]
    manifest = _manifest(tmp_path, ids)
    one = (tmp_path / "one.parquet", tmp_path / "one_v.parquet", tmp_path / "one_parts")
    run_pose_stage(manifest, None, *one, settings=_settings(), workers=1, strict=True)
    sharded = (tmp_path / "s.parquet", tmp_path / "s_v.parquet", tmp_path / "s_parts")
    for i in range(2):
        assert run_pose_stage(manifest, None, *sharded, settings=_settings(), workers=1, strict=True,
                              shard=(i, 2), merge=False) is None
    assert len(list((tmp_path / "s_parts").glob("*.parquet"))) == 5
    merge_parts(Manifest.load(manifest), *sharded, settings=_settings())
    merged, single = pq.read_table(tmp_path / "s.parquet"), pq.read_table(tmp_path / "one.parquet")
    for column in single.column_names:  # NaN-aware: missing joints are NaN in both
        np.testing.assert_array_equal(np.array(merged[column].to_pylist(), dtype=object if column == "video_id"
                                               else float), np.array(single[column].to_pylist(),
                                               dtype=object if column == "video_id" else float))


def test_image_estimator_path_and_missing_frames(tmp_path, monkeypatch, capsys):
    frames = tmp_path / "frames" / "v0"
    frames.mkdir(parents=True)
    for f in range(3):
        Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(frames / f"{f:06d}.jpg")

    class Fake:
        name, version = "fake", "0"

        def __call__(self, frame):
            kp = np.zeros((5, 14, 3), np.float32)
            kp[..., 0], kp[..., 1], kp[..., 2] = 40, 25, 1
            return Detections(kp, np.arange(5, dtype=np.float32))

    monkeypatch.setattr(runner, "cached_estimator", lambda *a: Fake())
    manifest = _manifest(tmp_path, ["v0", "v1"])
    table = pd.DataFrame({"video_id": ["v0", "v1"], "status": ["ok", "failed"], "error": ["", "v1.mp4: broken"],
                          "num_frames": [3, 0], "width": [80, 0], "height": [50, 0], "fps": [25.0, 0.0],
                          "path": ["", ""]})
    table.to_parquet(tmp_path / "frames.parquet")
    settings = _settings(estimator="fake", options={}, max_persons=4, frames_dir=str(tmp_path / "frames"))
    stats = run_pose_stage(manifest, tmp_path / "frames.parquet", tmp_path / "p.parquet", tmp_path / "v.parquet",
                           tmp_path / "parts", settings=settings, workers=1, strict=False)
    df = pq.read_table(tmp_path / "p.parquet").to_pandas()
    assert len(df) == 3 * 4 and df["score"].max() == 4  # best 4 of 5 by score
    assert np.allclose(np.stack(df["x"]), 0.5) and np.allclose(np.stack(df["y"]), 0.5)
    s = stats.set_index("video_id")
    assert s.loc["v1", "status"] == "failed" and "v1.mp4: broken" in s.loc["v1", "error"]
    out = capsys.readouterr().out   # issue 14, defect 6: the failed videos are named, not only counted
    assert "pose toy FAILED: 1 video\n  v1: " in out and "v1.mp4: broken" in out
    assert f"all of them: {tmp_path / 'v.parquet'}" in out
    with pytest.raises(runner.PoseStageError, match="v1"):
        run_pose_stage(manifest, tmp_path / "frames.parquet", tmp_path / "p.parquet", tmp_path / "v.parquet",
                       tmp_path / "parts", settings=settings, workers=1, strict=True)


def test_degrade_is_seeded_and_drops_at_the_asked_rate():
    gt = _gt("v")
    a = degrade(gt, noise_std=0.01, drop_prob=0.3, seed=1, video_id="v")
    b = degrade(gt, noise_std=0.01, drop_prob=0.3, seed=1, video_id="v")
    np.testing.assert_array_equal(a, b)
    present = gt.keypoints[..., 2] > 0
    kept = a[..., 2] > 0
    assert not (kept & ~present).any()
    assert 0.15 < 1 - kept[present].mean() < 0.45
    jitter = np.abs(a[..., :2] - gt.keypoints[..., :2])[kept]
    assert 0 < np.median(jitter) < 0.05 * W
    assert not np.array_equal(a, degrade(gt, noise_std=0.01, drop_prob=0.3, seed=1, video_id="w"))


def test_rank_and_limit_drops_empty_people_and_orders_by_score():
    kps = np.zeros((3, 14, 3), np.float32)
    kps[0, :, 2] = 1
    kps[2, :, 2] = 1
    k, s = rank_and_limit(kps, np.array([0.1, 0.9, 0.5], np.float32), 5)
    assert s.tolist() == pytest.approx([0.5, 0.1])
    scores = person_scores(_gt("v").keypoints)
    assert scores[0, 1] > scores[0, 0] > scores[0, 2]  # same visibility: larger first; partial last


def test_float16_storage_halves_the_coordinate_bytes():
    kps = np.random.default_rng(0).uniform(0, 50, (4, 14, 3)).astype(np.float32)
    kps[..., 2] = 1
    frames = [(f, kps, np.ones(4, np.float32)) for f in range(50)]
    t32 = build_table("v", frames, width=50, height=50, dtype="float32")
    t16 = build_table("v", frames, width=50, height=50, dtype="float16")
    assert t16["x"].nbytes < 0.6 * t32["x"].nbytes
    np.testing.assert_allclose(np.stack(t16["x"].to_pylist()), np.stack(t32["x"].to_pylist()), atol=1e-3)


def test_image_estimator_people_keep_their_slots_when_tracked(tmp_path, monkeypatch):
    """Two people cross the frame and their scores swap halfway: tracked, each keeps one slot for
    the whole video; ranked per frame (tracking off), slot 0 jumps from one to the other."""
    frames = tmp_path / "frames" / "v0"
    frames.mkdir(parents=True)
    for f in range(6):
        Image.fromarray(np.full((50, 80, 3), f, np.uint8)).save(frames / f"{f:06d}.jpg")

    class Crossing:
        name, version = "fake", "0"

        def __call__(self, frame):
            f = int(frame[0, 0, 0])
            kp = np.zeros((2, 14, 3), np.float32)
            kp[0, :, 0], kp[1, :, 0] = 10 + 4 * f + np.arange(14), 60 - 4 * f + np.arange(14) * 0.5
            kp[..., 1], kp[..., 2] = 25, 1
            return Detections(kp, np.array([0.9, 0.5] if f < 3 else [0.4, 0.8], np.float32))

    monkeypatch.setattr(runner, "cached_estimator", lambda *a: Crossing())
    manifest = _manifest(tmp_path, ["v0"])
    pd.DataFrame({"video_id": ["v0"], "status": ["ok"], "error": [""], "num_frames": [6], "width": [80],
                  "height": [50], "fps": [25.0], "path": [""]}).to_parquet(tmp_path / "frames.parquet")
    slot0_x = {}
    for tracking in (True, False):
        settings = _settings(estimator="fake", options={}, max_persons=2, frames_dir=str(tmp_path / "frames"),
                             tracking=tracking)
        out = tmp_path / f"p_{tracking}.parquet"
        run_pose_stage(manifest, tmp_path / "frames.parquet", out, tmp_path / "v.parquet", tmp_path / f"parts_{tracking}",
                       settings=settings, workers=1, strict=True)
        df = pq.read_table(out).to_pandas()
        slot0_x[tracking] = [float(np.stack(df[(df.frame == f) & (df.person == 0)]["x"])[0, 0] * 80) for f in range(6)]
        assert read_parquet_metadata(out)["estimator_version"] == (f"0+track{TRACKING_VERSION}" if tracking else "0")
    assert np.allclose(np.diff(slot0_x[True]), 4) or np.allclose(np.diff(slot0_x[True]), -4)
    assert not (np.allclose(np.diff(slot0_x[False]), 4) or np.allclose(np.diff(slot0_x[False]), -4))


def test_filtered_false_people_are_counted_in_the_video_table(tmp_path, monkeypatch):
    """A person in every frame plus a one-frame, low-score detection elsewhere (a false person on
    an object): the filter keeps it out of the Parquet and the video table says so."""
    frames = tmp_path / "frames" / "v0"
    frames.mkdir(parents=True)
    for f in range(6):
        Image.fromarray(np.full((50, 80, 3), f, np.uint8)).save(frames / f"{f:06d}.jpg")

    class WithGhost:
        name, version = "fake", "0"

        def __call__(self, frame):
            f = int(frame[0, 0, 0])
            kp = np.zeros((2 if f == 2 else 1, 14, 3), np.float32)
            kp[:, :, 0] = (10 + f + np.arange(14))[None]
            kp[..., 1], kp[..., 2] = 25, 1
            if f == 2:
                kp[1, :, 0] = 70 + np.arange(14) * 0.1
            return Detections(kp, np.array([0.9, 0.05][:len(kp)], np.float32))

    monkeypatch.setattr(runner, "cached_estimator", lambda *a: WithGhost())
    manifest = _manifest(tmp_path, ["v0"])
    pd.DataFrame({"video_id": ["v0"], "status": ["ok"], "error": [""], "num_frames": [6], "width": [80],
                  "height": [50], "fps": [25.0], "path": [""]}).to_parquet(tmp_path / "frames.parquet")
    counts = {}
    for name, track_filter in (("off", {}), ("on", {"filter_max_frames": 3, "filter_max_score": 0.2,
                                                     "filter_max_motion": float("inf")})):
        settings = _settings(estimator="fake", options={}, max_persons=4, frames_dir=str(tmp_path / "frames"),
                             track_filter=track_filter)
        out, videos = tmp_path / f"p_{name}.parquet", tmp_path / f"v_{name}.parquet"
        run_pose_stage(manifest, tmp_path / "frames.parquet", out, videos, tmp_path / f"parts_{name}",
                       settings=settings, workers=1, strict=True)
        counts[name] = pq.read_table(out).num_rows
        row = pd.read_parquet(videos).iloc[0]
        assert row["tracks"] == 2
        assert (row["tracks_filtered"], row["detections_filtered"]) == ((1, 1) if name == "on" else (0, 0))
        assert row["detections_over_limit"] == 0
    assert counts == {"off": 7, "on": 6}


def test_a_video_id_too_long_for_its_part_file_fails_alone(tmp_path, fake_adapter):
    # issue 28, point 14: 250 bytes is a legal video file name, but not with `.failed.json` after it
    long_id = "x" * 250
    videos = run_pose_stage(_manifest(tmp_path, ["vid_a", long_id]), None, tmp_path / "p.parquet",
                            tmp_path / "v.parquet", tmp_path / "parts", settings=_settings(), workers=1,
                            strict=False).set_index("video_id")
    assert videos.loc["vid_a", "status"] == "ok"
    assert videos.loc[long_id, "status"] == "failed" and "too long" in videos.loc[long_id, "error"]


def test_a_corrupt_part_is_redone_not_a_crash(tmp_path, fake_adapter):
    # issue 28, point 3: a truncated part (a full disk, a bad copy) ended every later pose run
    args = (tmp_path / "p.parquet", tmp_path / "v.parquet", tmp_path / "parts")
    manifest = _manifest(tmp_path, ["vid_a", "vid_b"])
    run_pose_stage(manifest, None, *args, settings=_settings(), workers=1, strict=True)
    good = (tmp_path / "parts" / "vid_a.parquet").read_bytes()
    (tmp_path / "parts" / "vid_a.parquet").write_bytes(good[: len(good) // 2])
    videos = run_pose_stage(manifest, None, *args, settings=_settings(), workers=1, strict=True)
    assert (videos["status"] == "ok").all()
    assert (tmp_path / "parts" / "vid_a.parquet").read_bytes() == good
    (tmp_path / "parts" / "vid_b.parquet").write_bytes(b"PAR1 not really")
    videos = merge_parts(Manifest.load(manifest), *args, settings=_settings()).set_index("video_id")
    assert videos.loc["vid_b", "status"] == "failed" and "unreadable" in videos.loc["vid_b", "error"]

    # a damaged data page under an intact footer: the part looks finished but cannot be read back
    damaged = bytearray(good)
    damaged[4:60] = b"\xff" * 56
    (tmp_path / "parts" / "vid_a.parquet").write_bytes(bytes(damaged))
    videos = run_pose_stage(manifest, None, *args, settings=_settings(), workers=1, strict=True)
    assert (videos["status"] == "ok").all()
    assert (tmp_path / "parts" / "vid_a.parquet").read_bytes() == good


def test_the_merge_sweeps_only_parts_it_wrote(tmp_path, fake_adapter):
    # issue 28, point 0 (the pose side): the sweep unlinked whatever it found, and a folder crashed it
    args = (tmp_path / "p.parquet", tmp_path / "v.parquet", tmp_path / "parts")
    run_pose_stage(_manifest(tmp_path, ["vid_a", "vid_b"]), None, *args, settings=_settings(), workers=1, strict=True)
    (tmp_path / "parts" / "notes.txt").write_text("mine")
    (tmp_path / "parts" / "sub").mkdir()
    (tmp_path / "parts" / ".vid_b.parquet.x1y2.tmp").write_bytes(b"half")   # a killed write's leftover
    run_pose_stage(_manifest(tmp_path, ["vid_a"]), None, *args, settings=_settings(), workers=1, strict=True)
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["notes.txt", "sub", "vid_a.parquet"]
