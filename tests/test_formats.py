"""Import and export of pose formats (pyskl/mmaction2 pickles, OpenPose --write_json, ST-GCN
Kinetics-skeleton JSON) and the pyskl dataset adapter, on the real files in ../shared/datasets."""
import json
import pickle
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.datasets import get_adapter
from pipeline.datasets.base import DatasetError, Manifest
from pipeline.decoding import DecodeSettings, decode_dataset
from pipeline.export_poses import export_poses
from pipeline.formats.common import match_key
from pipeline.formats.pyskl import read_annotations
from pipeline.formats.safe_pickle import UnsafePickleError, load_pickle
from pipeline.io import read_parquet_metadata
from pipeline.keypoints import INDEX, from_aic14, to_aic14
from pipeline.params import ParamsError, parse_params
from pipeline.pose.importer import load_source
from pipeline.pose.runner import PoseSettings, run_pose_stage
from pipeline.pose.schema import to_dense

WEIZMANN = "weizmann/Weizmann_xsub_litehrnet.pkl"
CLIP = "clips/v_ApplyEyeMakeup_g01_c01"
NTU = "openpose_json/S004C003P003R001A007_rgb"


def _import(tmp_path, manifest_path, options, *, frames_table=None, root="", tracking=True, max_persons=4,
            name="imp"):
    settings = PoseSettings(estimator="import", options=options, max_persons=max_persons, dtype="float32",
                            root=str(root), tracking=tracking)
    videos = run_pose_stage(manifest_path, frames_table, tmp_path / f"{name}.parquet", tmp_path / f"{name}.videos.parquet",
                            tmp_path / f"{name}.parts", settings=settings, workers=1, strict=False)
    return videos.set_index("video_id"), pq.read_table(tmp_path / f"{name}.parquet")


def _manifest(tmp_path, ids, paths=None, pose_only=True):
    videos = pd.DataFrame({"video_id": ids, "path": paths or [""] * len(ids), "label_id": 0, "label_name": "a",
                           "group": "", "split_1": "train"})
    path = tmp_path / "manifest.parquet"
    Manifest("toy", ["a"], ["1"], videos, pose_only=pose_only).save(path)
    return path


@pytest.fixture(scope="module")
def weizmann(shared_datasets, tmp_path_factory):
    """The real Weizmann pickle as a pose-only dataset (pyskl adapter) and its import."""
    tmp = tmp_path_factory.mktemp("weizmann")
    m = get_adapter("pyskl").build_manifest(shared_datasets / "weizmann", {"pickle": WEIZMANN.split("/")[1]})
    m.save(tmp / "manifest.parquet")
    videos, table = _import(tmp, tmp / "manifest.parquet", {"format": "pyskl", "source": str(shared_datasets / WEIZMANN)})
    return tmp, m, videos, table


# ------------------------------------------------------------------------------ safe pickle loading
class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # what a malicious pickle does: call something on load
        return (open, (self.marker, "w"))


def test_restricted_unpickler_refuses_code_and_loads_the_real_file_as_pickle_does(tmp_path, shared_datasets):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"annotations": [_RunsCode(str(marker))]}))
    from pipeline.errors import InputError
    with pytest.raises(UnsafePickleError, match=r"evil.pkl: refused to load: the pickle asks for (builtins|io)\.open") as err:
        load_pickle(evil)
    assert isinstance(err.value, InputError)   # a stage prints it as one line (issue 28, point 15)
    assert not marker.exists()
    objs = tmp_path / "obj.pkl"
    objs.write_bytes(pickle.dumps({"a": np.array([1, "x"], dtype=object)}))
    with pytest.raises(UnsafePickleError, match="object array"):
        load_pickle(objs)
    safe = load_pickle(shared_datasets / WEIZMANN)
    with open(shared_datasets / WEIZMANN, "rb") as f:
        plain = pickle.load(f)
    assert safe["split"] == plain["split"] and len(safe["annotations"]) == 93
    for a, b in zip(safe["annotations"], plain["annotations"]):
        assert a["frame_dir"] == b["frame_dir"] and a["img_shape"] == b["img_shape"]
        np.testing.assert_array_equal(a["keypoint"], b["keypoint"])


# ---------------------------------------------------------------------------------- pyskl adapter
def test_pyskl_adapter_reads_classes_and_xsub_split_pose_only_or_with_the_videos(shared_datasets):
    root = shared_datasets / "weizmann"
    names = ["wave2", "bend", "jack", "jump", "pjump", "run", "side", "skip", "walk", "wave1"]
    m = get_adapter("pyskl").build_manifest(root, {"pickle": WEIZMANN.split("/")[1], "classes": names})
    assert m.pose_only and m.splits == ["xsub"] and m.classes == names and len(m.videos) == 93
    v = m.videos.set_index("video_id")
    test = sorted(v.index[v["split_xsub"] == "test"])
    assert len(test) == 20 and {t.split("_")[0] for t in test} == {"moshe", "shahar"}
    assert (v["split_xsub"] == "train").sum() == 73
    assert v.loc["daria_1", "label_name"] == "bend" and v.loc["daria_1", "num_frames"] == 84
    assert (v.loc["daria_1", "width"], v.loc["daria_1", "height"]) == (180, 144)
    with_videos = get_adapter("pyskl").build_manifest(root, {"pickle": WEIZMANN.split("/")[1], "video_dir": "videos",
                                                             "strict": False})
    assert not with_videos.pose_only and len(with_videos.videos) == 31 and len(with_videos.excluded) == 62
    assert with_videos.videos.set_index("video_id").loc["moshe_3", "path"] == "videos/moshe_3.mp4"
    with pytest.raises(DatasetError, match="has no video"):
        get_adapter("pyskl").build_manifest(root, {"pickle": WEIZMANN.split("/")[1], "video_dir": "videos"})


def test_pyskl_split_names_pair_into_manifest_splits():
    from pipeline.datasets.pyskl import pair_splits
    pairs = pair_splits({"train1": [], "test1": [], "xsub_train": [], "xsub_val": [], "train": [], "val": []}, "f")
    assert pairs == {"1": ("train1", "test1"), "xsub": ("xsub_train", "xsub_val"), "default": ("train", "val")}
    with pytest.raises(DatasetError, match="only a train side"):
        pair_splits({"xset_train": []}, "f")


# --------------------------------------------------------------------------------- import: pyskl
def test_import_real_weizmann_pickle_maps_coco17_to_the_14_keypoints(weizmann, shared_datasets):
    tmp, m, videos, table = weizmann
    assert (videos["status"] == "ok").all() and len(videos) == 93
    _, records = read_annotations(shared_datasets / WEIZMANN)
    rec = {r["frame_dir"]: r for r in records}
    assert videos.loc["daria_0", "num_frames"] == rec["daria_0"]["total_frames"] == 81
    assert tuple(videos.loc["daria_0", ["width", "height"]]) == (180, 144)
    # the three clips where LiteHRNet found nobody (M = 0) import as videos without people
    assert set(videos.index[videos["frames_with_person"] == 0]) == {"daria_3", "denis_4", "lena_4"}
    meta = read_parquet_metadata(tmp / "imp.parquet")
    assert meta["estimator"] == "import:pyskl" and "Weizmann_xsub_litehrnet.pkl:sha256=" in meta["estimator_version"]
    dense = to_dense(table, {"daria_0": 81}, 4)["daria_0"]
    kp, sc = rec["daria_0"]["keypoint"][0].astype(np.float32), rec["daria_0"]["keypoint_score"][0].astype(np.float32)
    f = 10
    # COCO-17 right shoulder is joint 6, left wrist 9; normalised by img_shape (144, 180)
    np.testing.assert_allclose(dense[f, 0, INDEX["right_shoulder"], :2], kp[f, 6] / [180, 144], rtol=1e-6)
    np.testing.assert_allclose(dense[f, 0, INDEX["left_wrist"]], [*(kp[f, 9] / [180, 144]), sc[f, 9]], rtol=1e-6)
    np.testing.assert_allclose(dense[f, 0, INDEX["neck"], :2], (kp[f, 5] + kp[f, 6]) / 2 / [180, 144], rtol=1e-5)
    assert np.isnan(dense[f, 1:, :, 0]).all()  # one person in the file: the other slots stay empty


def test_import_reports_ids_missing_on_either_side_and_frame_count_mismatch(tmp_path, shared_datasets):
    frames = tmp_path / "frames.parquet"
    pd.DataFrame({"video_id": ["daria_0", "daria_1"], "path": "", "status": "ok", "error": "",
                  "num_frames": [81, 80], "fps": 25.0, "width": 160, "height": 128}).to_parquet(frames)
    manifest = _manifest(tmp_path, ["daria_0", "daria_1", "nobody_9"], pose_only=False)
    videos, _ = _import(tmp_path, manifest, {"format": "pyskl", "source": str(shared_datasets / WEIZMANN)},
                        frames_table=frames)
    assert videos.loc["daria_0", "status"] == "ok"
    assert videos.loc["daria_1", "status"] == "failed"
    assert "has 84 frames but the decoded video has 80" in videos.loc["daria_1", "error"]
    assert videos.loc["nobody_9", "status"] == "failed" and "not in the import source" in videos.loc["nobody_9", "error"]
    unmatched = read_parquet_metadata(tmp_path / "imp.videos.parquet")["import_unmatched"]
    assert len(unmatched) == 91 and "moshe_0" in unmatched and "daria_0" not in unmatched
    # within frame_tolerance the poses are cut to the decoded count
    videos, table = _import(tmp_path, manifest, {"format": "pyskl", "source": str(shared_datasets / WEIZMANN),
                                                 "frame_tolerance": 4}, frames_table=frames, name="tol")
    assert videos.loc["daria_1", "status"] == "ok" and videos.loc["daria_1", "num_frames"] == 80
    assert table.to_pandas().query("video_id == 'daria_1'")["frame"].max() <= 79


def test_import_single_record_clip_pickle_against_its_decoded_real_video(tmp_path, shared_datasets):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(shared_datasets / f"{CLIP}.avi", root / "clip.avi")
    manifest = _manifest(tmp_path, ["v_ApplyEyeMakeup_g01_c01"], ["clip.avi"], pose_only=False)
    decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "frames.parquet",
                   settings=DecodeSettings(short_side=64, fps=None, jpeg_quality=5), workers=1, strict=True)
    source = {"format": "pyskl", "source": str(shared_datasets / f"{CLIP}.hrnet_coco17.pkl")}
    videos, _ = _import(tmp_path, manifest, source, frames_table=tmp_path / "frames.parquet", root=root)
    # The real pair disagrees: the pickle holds 163 frames, the video decodes to 164 (clips.csv: 164).
    row = videos.loc["v_ApplyEyeMakeup_g01_c01"]
    assert row["status"] == "failed" and "source has 163 frames but the decoded video has 164" in row["error"]
    videos, table = _import(tmp_path, manifest, {**source, "frame_tolerance": 1},
                            frames_table=tmp_path / "frames.parquet", root=root, name="tol")
    row = videos.loc["v_ApplyEyeMakeup_g01_c01"]
    assert row["status"] == "ok" and row["num_frames"] == 164  # padded to the decoded count
    assert (row["width"], row["height"]) == (340, 256)  # the pickle's img_shape, not the decoded size
    rec = load_pickle(shared_datasets / f"{CLIP}.hrnet_coco17.pkl")
    has_second = int((rec["keypoint_score"][1].astype(np.float32) > 0).any(-1).sum())
    df = table.to_pandas()
    assert (df["person"] == 1).sum() == has_second  # slot 1 only where the file's second person is


def test_import_kinetics_raw_file_variant_equals_the_plain_record(tmp_path, shared_datasets):
    """Kinetics-400 keeps keypoints in kpfiles ({frame_dir: {'keypoint': [N, V, 3]}}) with frame_inds
    and box_score in the record; built here from the real clip record."""
    rec = load_pickle(shared_datasets / f"{CLIP}.hrnet_coco17.pkl")
    kp, sc = rec["keypoint"].astype(np.float32), rec["keypoint_score"].astype(np.float32)
    present = sc.sum(-1) > 0                                               # [M, T]
    det, inds = [], []
    for t in range(kp.shape[1]):
        for p in range(kp.shape[0]):
            if present[p, t]:
                det.append(np.concatenate([kp[p, t], sc[p, t][:, None]], -1))
                inds.append(t)
    (tmp_path / "kpfiles").mkdir()
    with open(tmp_path / "kpfiles" / "part_0.pkl", "wb") as f:
        pickle.dump({rec["frame_dir"]: {"keypoint": np.stack(det)}}, f)
    anno = {k: rec[k] for k in ("frame_dir", "label", "img_shape", "original_shape", "total_frames")}
    anno.update(raw_file="kpfiles/part_0.pkl", frame_inds=np.array(inds), box_score=np.ones(len(inds), np.float32))
    with open(tmp_path / "k400.pkl", "wb") as f:
        pickle.dump({"split": {"train": [rec["frame_dir"]], "val": []}, "annotations": [anno]}, f)
    manifest = _manifest(tmp_path, [rec["frame_dir"]])
    raw_videos, raw = _import(tmp_path, manifest, {"format": "pyskl", "source": str(tmp_path / "k400.pkl")}, name="raw")
    _, plain = _import(tmp_path, manifest, {"format": "pyskl", "source": str(shared_datasets / f"{CLIP}.hrnet_coco17.pkl")},
                       name="plain")
    assert raw_videos.iloc[0]["status"] == "ok"
    a, b = raw.to_pandas(), plain.to_pandas()
    assert len(a) == len(b) == int(present.sum())
    key = lambda df: {(r.frame, round(float(np.nan_to_num(r.x[12])), 5)) for r in df.itertuples()}  # noqa: E731
    assert key(a) == key(b)  # the same people in the same frames (slots come from the tracker here)


@pytest.mark.parametrize("raw_file,found", [
    ("kpfiles/part_0.pkl", "kpfiles/part_0.pkl"),  # relative to the pickle's folder
    ("/mnt/lustre/kpfiles/part_0.pkl", "part_0.pkl"),  # pyskl's own cluster paths: the name beside the pickle
    ("../outside/part_0.pkl", None),             # past the pickle's folder: not opened
    ("OUTSIDE_ABS", None),                       # an absolute path that exists: not opened either
])
def test_a_kpfile_is_read_only_from_the_pickles_folder(tmp_path, raw_file, found):
    # issue 28, point 9: raw_file was opened wherever it pointed (raw_file: /etc/passwd)
    home, outside = tmp_path / "home", tmp_path / "outside"
    for folder in (home / "kpfiles", outside):
        folder.mkdir(parents=True)
    kp = {"v": {"keypoint": np.full((2, 17, 3), 0.5, np.float32)}}
    for path in (outside / "part_0.pkl", *([home / found] if found else [])):
        path.write_bytes(pickle.dumps(kp))
    raw_file = str(outside / "part_0.pkl") if raw_file == "OUTSIDE_ABS" else raw_file
    anno = {"frame_dir": "v", "label": 0, "img_shape": (100, 200), "total_frames": 2, "raw_file": raw_file,
            "frame_inds": np.array([0, 1]), "box_score": np.ones(2, np.float32)}
    (home / "k400.pkl").write_bytes(pickle.dumps({"split": {"train": ["v"]}, "annotations": [anno]}))
    videos, _ = _import(tmp_path, _manifest(tmp_path, ["v"]), {"format": "pyskl", "source": str(home / "k400.pkl")})
    if found:
        assert videos.loc["v", "status"] == "ok", videos.loc["v", "error"]
    else:
        assert videos.loc["v", "status"] == "failed"
        assert f"kpfile {raw_file} not found in the pickle's folder {home}" in videos.loc["v", "error"]


def test_imported_joints_far_outside_the_frame_are_missing_and_scores_are_clipped(tmp_path):
    # issue 28, point 10: x at -9.7 frame widths, 1e7 px and scores of 5.0 were stored and trained on
    kp = np.tile(np.array([100.0, 50.0], np.float32), (1, 2, 17, 1))     # [M, T, V, 2] in a 200 x 100 frame
    score = np.full((1, 2, 17), 0.9, np.float32)
    kp[0, 0, 6, 0] = -9.7 * 200      # right shoulder
    kp[0, 0, 8, 1] = 1e7             # right elbow
    kp[0, 0, 7, 0] = 210             # left elbow: just outside, within the margin
    score[0, 0, 9] = 5.0             # left wrist
    score[0, 0, 10] = -3.0           # right wrist
    anno = {"frame_dir": "v", "label": 0, "img_shape": (100, 200), "total_frames": 2, "keypoint": kp,
            "keypoint_score": score}
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({"split": {"train": ["v"]}, "annotations": [anno]}))
    videos, table = _import(tmp_path, _manifest(tmp_path, ["v"]), {"format": "pyskl", "source": str(tmp_path / "p.pkl")})
    assert videos.loc["v", "status"] == "ok"
    dense = to_dense(table, {"v": 2}, 4)["v"][0, 0]
    for joint in ("right_shoulder", "right_elbow", "right_wrist"):
        assert dense[INDEX[joint], 2] == 0 and np.isnan(dense[INDEX[joint], 0]), joint
    assert dense[INDEX["left_wrist"], 2] == 1.0 and dense[INDEX["left_elbow"], 2] == pytest.approx(0.9)
    assert np.nanmax(table.to_pandas()["score"].to_numpy()) <= 1.0


# ------------------------------------------------------------------ import: OpenPose / ST-GCN JSON
def test_import_real_stgcn_kinetics_json_with_the_ntu_video(tmp_path, shared_datasets):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(shared_datasets / "openpose_json/S004C003P003R001A007_rgb_960x540.mp4", root / "v.mp4")
    manifest = _manifest(tmp_path, ["S004C003P003R001A007"], ["v.mp4"], pose_only=False)
    decode_dataset(manifest, root, tmp_path / "frames", tmp_path / "frames.parquet",
                   settings=DecodeSettings(short_side=64, fps=None, jpeg_quality=5), workers=1, strict=True)
    source = shared_datasets / NTU / "S004C003P003R001A007_rgb.json"
    videos, table = _import(tmp_path, manifest, {"format": "kinetics_json", "source": str(source), "strip_suffix": "_rgb"},
                            frames_table=tmp_path / "frames.parquet", root=root, max_persons=2)
    row = videos.iloc[0]
    assert row["status"] == "ok" and row["num_frames"] == 77
    data = json.loads(source.read_text())["data"]
    first = next(d for d in data if d["frame_index"] == 1)["skeleton"][0]["pose"]
    dense = to_dense(table, {"S004C003P003R001A007": 77}, 2)["S004C003P003R001A007"]
    xy = np.asarray(first, np.float32).reshape(18, 2)
    np.testing.assert_allclose(dense[0, 0, INDEX["neck"], :2], xy[1], rtol=1e-6)        # COCO-18 neck = 1
    np.testing.assert_allclose(dense[0, 0, INDEX["right_knee"], :2], xy[9], rtol=1e-6)
    assert dense[0, 0, INDEX["neck"], 2] == 1.0  # the file's scores are all 0: present joints get default_score
    # the false detection on the chair (frames 60-61, 1-based) is a second person there only
    two = sorted(int(f) for f in np.nonzero((dense[:, 1, :, 2] > 0).any(-1))[0])
    assert two and set(two) <= {58, 59, 60, 61} and (dense[:, 0, :, 2] > 0).any(-1).sum() >= 70
    # that repo's own per-frame files are not OpenPose --write_json: a clear error, per video
    with pytest.raises(ValueError, match="no \\*_<frame>_keypoints.json files"):
        load_source({"format": "openpose_json", "source": str(shared_datasets / NTU)})


def test_openpose_write_json_body25_maps_to_the_14_keypoints(tmp_path):
    """A frame written as OpenPose's doc/02_output.md describes: BODY_25, pixels, 0,0,0 = missing."""
    body = np.zeros((25, 3), np.float32)
    body[0] = (100, 40, 0.9)    # nose
    body[1] = (100, 60, 0.8)    # neck
    body[2] = (85, 62, 0.7)     # right shoulder
    body[4] = (80, 100, 0.6)    # right wrist; right elbow (3) missing
    folder = tmp_path / "op"
    folder.mkdir()
    for f in range(3):
        people = [{"person_id": [-1], "pose_keypoints_2d": body.ravel().tolist()}] if f != 1 else []
        (folder / f"myvideo_{f:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    manifest = _manifest(tmp_path, ["myvideo"])
    videos, table = _import(tmp_path, manifest, {"format": "openpose_json", "source": str(folder), "frame_size": [200, 100]})
    assert videos.loc["myvideo", "status"] == "ok" and videos.loc["myvideo", "num_frames"] == 3
    dense = to_dense(table, {"myvideo": 3}, 4)["myvideo"]
    np.testing.assert_allclose(dense[0, 0, INDEX["neck"]], [0.5, 0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(dense[0, 0, INDEX["right_wrist"]], [0.4, 1.0, 0.6], rtol=1e-6)
    np.testing.assert_allclose(dense[0, 0, INDEX["head_top"], :2], [0.5, (40 + 0.6 * (40 - 60)) / 100], rtol=1e-6)
    assert dense[0, 0, INDEX["right_elbow"], 2] == 0 and np.isnan(dense[0, 0, INDEX["right_elbow"], 0])
    assert not (dense[1, :, :, 2] > 0).any()  # the frame with nobody
    videos, _ = _import(tmp_path, manifest, {"format": "openpose_json", "source": str(folder)}, name="nosize")
    assert "frame size is unknown" in videos.loc["myvideo", "error"]


@pytest.mark.parametrize("frame,problem", [
    ({"people": "abc"}, "'people' is a str, not a list"),
    ({"people": ["abc"]}, "people[0] is a str, not an object"),
    ({"people": [{"pose_keypoints_2d": "abc"}]}, "people[0].pose_keypoints_2d is not a list of numbers"),
    ({"people": [{"pose_keypoints_2d": [1, 2, "x"]}]}, "people[0].pose_keypoints_2d is not a list of numbers"),
    ({"people": [{"pose_keypoints_2d": [1, 2, 3], "person_score": "high"}]}, "people[0].person_score is not a number"),
])
def test_a_malformed_openpose_file_fails_its_video_alone(tmp_path, frame, problem):
    # issue 28, point 13: `"people": "abc"` ended the whole stage with an AttributeError
    for key, data in (("good", {"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 25}]}), ("bad", frame)):
        (tmp_path / "op").mkdir(exist_ok=True)
        (tmp_path / "op" / f"{key}_{0:012d}_keypoints.json").write_text(json.dumps(data))
    videos, _ = _import(tmp_path, _manifest(tmp_path, ["good", "bad"]),
                        {"format": "openpose_json", "source": str(tmp_path / "op"), "frame_size": [200, 100]})
    assert videos.loc["good", "status"] == "ok" and videos.loc["bad", "status"] == "failed"
    assert f"bad_000000000000_keypoints.json: {problem}" in videos.loc["bad", "error"]


@pytest.mark.parametrize("data,problem", [
    ({"data": ["abc"]}, "data[0] is a str, not an object"),
    ({"data": [{"frame_index": "one", "skeleton": []}]}, "data[0].frame_index is not an integer"),
    ({"data": [{"frame_index": 1, "skeleton": "abc"}]}, "data[0].skeleton is a str, not a list"),
    ({"data": [{"frame_index": 1, "skeleton": [{"pose": "ab", "score": [1]}]}]},
     "data[0].skeleton[0].pose is not a list of numbers"),
])
def test_a_malformed_kinetics_file_fails_its_video_alone(tmp_path, data, problem):
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "good.json").write_text(json.dumps({"data": [{"frame_index": 1, "skeleton": [
        {"pose": [0.5, 0.5] * 18, "score": [0.9] * 18}]}]}))
    (tmp_path / "k" / "bad.json").write_text(json.dumps(data))
    videos, _ = _import(tmp_path, _manifest(tmp_path, ["good", "bad"]),
                        {"format": "kinetics_json", "source": str(tmp_path / "k"), "frame_size": [200, 100]})
    assert videos.loc["good", "status"] == "ok" and videos.loc["bad", "status"] == "failed"
    assert f"bad.json: {problem}" in videos.loc["bad", "error"]


# --------------------------------------------------------------------------- export -> import
@pytest.mark.parametrize("fmt,layout", [("pyskl", "aic14"), ("openpose_json", "body25")])
def test_export_then_import_gives_the_same_parquet(weizmann, tmp_path, fmt, layout):
    src_dir, m, videos, table = weizmann
    out = tmp_path / ("w.pkl" if fmt == "pyskl" else "w_op")
    result = export_poses(src_dir / "manifest.parquet", src_dir / "imp.parquet", src_dir / "imp.videos.parquet", out,
                          fmt=fmt, layout=layout)
    assert result["written"] == 93 and not result["skipped"]
    options = {"format": fmt, "source": str(out)}
    if fmt == "openpose_json":
        options["frame_size"] = [180, 144]
    back_videos, back = _import(tmp_path, src_dir / "manifest.parquet", options)
    a, b = table.to_pandas(), back.to_pandas()
    assert (back_videos["status"] == "ok").all() and len(back_videos) == 93
    # every frame is written (OpenPose: a file per frame, "people": [] when nobody), so counts survive
    pd.testing.assert_series_equal(back_videos["num_frames"], videos["num_frames"])
    pd.testing.assert_frame_equal(a[["video_id", "frame", "person"]], b[["video_id", "frame", "person"]])
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)
    for c in ("x", "y", "conf"):
        A, B = np.stack(a[c]), np.stack(b[c])
        assert (np.isnan(A) == np.isnan(B)).all()
        np.testing.assert_allclose(np.nan_to_num(A), np.nan_to_num(B), rtol=1e-5, atol=1e-6)
    if fmt == "pyskl":
        split, _ = read_annotations(out)
        assert len(split["xsub_train"]) == 73 and len(split["xsub_val"]) == 20


def test_export_to_an_existing_folder_or_a_bad_format_is_one_line_before_anything_is_read(tmp_path):
    # issue 28, point 15: --out naming an existing folder ended in IsADirectoryError after the work
    from pipeline.errors import InputError
    missing = tmp_path / "none.parquet"     # never read: the output is checked first
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("")
    for out, fmt, words in ((tmp_path / "a_folder", "pyskl", "is a folder"),
                            (tmp_path / "a_file", "openpose_json", "is a file"),
                            (tmp_path / "x.pkl", "csv", "unknown export format")):
        with pytest.raises(InputError, match=words):
            export_poses(missing, missing, missing, out, fmt=fmt)
    with pytest.raises(InputError, match="none.parquet not found. Fix: run the prepare and pose"):
        export_poses(missing, missing, missing, tmp_path / "x.pkl", fmt="pyskl")


def test_from_aic14_inverts_to_aic14_where_the_layout_allows():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.random((6, 14, 2)) * 100, rng.random((6, 14, 1)) * 0.9 + 0.1], -1).astype(np.float32)
    p[0, 3] = (np.nan, np.nan, 0)
    back = to_aic14(from_aic14(p, "body25"), "body25")
    np.testing.assert_allclose(np.nan_to_num(back[..., :2]), np.nan_to_num(p[..., :2]), atol=1e-4)
    np.testing.assert_array_equal(back[..., :12, 2], p[..., :12, 2])
    coco = from_aic14(p, "coco17")
    assert (coco[..., 1:5, 2] == 0).all()   # eyes and ears: unknown, missing


def test_match_key_rule():
    assert match_key("v_ApplyEyeMakeup_g01_c01") == "v_ApplyEyeMakeup_g01_c01"
    assert match_key("abseiling/--abc_000010_000020.mp4") == "--abc_000010_000020"
    assert match_key("S004C003P003R001A007_rgb", "_rgb") == "S004C003P003R001A007"


def test_params_pose_import_section():
    raw = {"pose": {"estimator": "import", "import": {"format": "pyskl", "source": "x.pkl", "layout": "coco17"}}}
    p = parse_params(raw)
    assert p.pose.backend_options()["layout"] == "coco17"
    with pytest.raises(ParamsError, match="unknown key"):
        parse_params({"pose": {"estimator": "import", "import": {"source": "x.pkl", "fmt": "pyskl"}}})
    with pytest.raises(ParamsError, match="source is empty"):
        parse_params({"pose": {"estimator": "import"}})


def test_predict_falls_back_to_an_image_estimator_for_a_model_trained_on_imported_poses():
    from pipeline.predict import FALLBACK_ESTIMATOR, PredictError, choose_estimator
    choice = choose_estimator({"estimator": "import", "options": {"format": "pyskl", "source": "x.pkl"}})
    assert choice.name == FALLBACK_ESTIMATOR and choice.options == {} and "import" in choice.note
    with pytest.raises(PredictError, match="cannot run on a new video"):
        choose_estimator({"estimator": "blazepose"}, override="import")
