"""Dataset adapters on the real public split and annotation files in ../shared/datasets (read in
place, never copied into the repo): the official counts must come out exactly."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import scipy.io

from pipeline.datasets import ADAPTERS, Manifest, get_adapter, summarize
from pipeline.datasets.base import DatasetError
from pipeline.keypoints import INDEX


def _counts(m: Manifest, split: str) -> tuple[int, int]:
    col = m.videos[m.split_column(split)]
    return int((col == "train").sum()), int((col == "test").sum())


@pytest.fixture(scope="module")
def penn(shared_datasets) -> Manifest:
    return get_adapter("penn_action").build_manifest(shared_datasets / "penn_action", {})


def test_registry_lists_every_adapter():
    assert set(ADAPTERS) == {"ucf101", "hmdb51", "jhmdb", "penn_action", "kth", "ucf11", "ntu", "generic",
                             "synth", "pyskl"}
    with pytest.raises(DatasetError, match=r"unknown dataset adapter 'ucf-101'.*'ucf101'"):
        get_adapter("ucf-101")


def test_ucf101_official_counts(shared_datasets):
    m = get_adapter("ucf101").build_manifest(shared_datasets / "ucf101", {"check_files": False})
    assert len(m.classes) == 101 and m.classes[0] == "ApplyEyeMakeup" and m.classes[-1] == "YoYo"
    assert m.splits == ["1", "2", "3"] and len(m.videos) == 13320
    assert _counts(m, "1") == (9537, 3783)
    assert _counts(m, "2") == (9586, 3734)
    assert _counts(m, "3") == (9624, 3696)
    row = m.videos.set_index("video_id").loc["v_HandStandPushups_g01_c01"]
    assert row["path"] == "HandstandPushups/v_HandStandPushups_g01_c01.avi"
    assert row["label_name"] == "HandstandPushups" and row["group"] == "g01"
    assert (m.videos["group"].str.len() == 3).all() and m.videos["group"].nunique() == 25
    assert m.excluded.empty


def test_ucf101_accepts_crlf_split_files(shared_datasets, tmp_path):
    # The official files use CRLF; the shared copies are LF. Rewrite them as CRLF in tmp.
    src = shared_datasets / "ucf101" / "ucfTrainTestlist"
    dst = tmp_path / "ucfTrainTestlist"
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    m = get_adapter("ucf101").build_manifest(tmp_path, {"check_files": False, "splits": [1]})
    assert m.splits == ["1"] and _counts(m, "1") == (9537, 3783)
    assert not m.videos["path"].str.contains("\r").any()


def test_hmdb51_list_format_counts(shared_datasets):
    m = get_adapter("hmdb51").build_manifest(shared_datasets / "hmdb51", {"check_files": False})
    assert len(m.classes) == 51 and m.splits == ["1", "2", "3"]
    for split in m.splits:
        col = m.split_column(split)
        assert _counts(m, split) == (3570, 1530)
        per_class = m.videos.groupby("label_id")[col].value_counts().unstack(fill_value=0)
        assert (per_class["train"] == 70).all() and (per_class["test"] == 30).all()
    # the class order is the lists' index order, and names like "Smile!_(...)" get safe ids
    assert m.classes[0] == "smile" and m.classes[32] == "handstand" and m.classes[43] == "punch"
    odd = m.videos[m.videos["path"].str.contains("!", regex=False)]
    assert len(odd) and odd["video_id"].str.fullmatch(r"[A-Za-z0-9._+-]+").all()
    same = get_adapter("hmdb51").build_manifest(shared_datasets / "hmdb51",
                                                {"check_files": False, "split_format": "list", "split_dir": "lists"})
    assert same.videos.equals(m.videos)


def test_jhmdb_official_counts(shared_datasets):
    m = get_adapter("jhmdb").build_manifest(shared_datasets / "jhmdb", {"check_files": False})
    assert len(m.classes) == 21 and len(m.videos) == 928
    assert _counts(m, "1") == (660, 268)
    assert _counts(m, "2") == (658, 270)
    assert _counts(m, "3") == (663, 265)
    row = m.videos[m.videos["path"].str.contains("Torwarttraining_2_(_sterreich)", regex=False)].iloc[0]
    assert row["path"] == "Rename_Images/catch/Torwarttraining_2_(_sterreich)_catch_f_cm_np1_ba_goo_0"
    assert row["gt_path"].endswith("catch/Torwarttraining_2_(_sterreich)_catch_f_cm_np1_ba_goo_0/joint_positions.mat")


def test_penn_action_labels_only_is_pose_only(penn):
    m = penn
    assert m.pose_only and len(m.videos) == 2326 and len(m.classes) == 15
    assert m.splits == ["1"] and _counts(m, "1") == (1258, 1068)
    assert (m.videos["path"] == "").all()
    assert int(m.videos["num_frames"].sum()) == 163841
    assert m.videos["video_id"].iloc[0] == "0001" and m.videos["label_name"].iloc[0] == "baseball_pitch"


def test_penn_action_groundtruth(shared_datasets, penn):
    root = shared_datasets / "penn_action"
    row = penn.videos.iloc[0]  # 0001.mat: 151 frames of 480 x 360, 370 invisible joints
    gt = get_adapter("penn_action").load_groundtruth(root, row)
    assert gt.keypoints.shape == (151, 1, 14, 3) and gt.keypoints.dtype == np.float32
    assert (gt.width, gt.height) == (480, 360)
    mat = scipy.io.loadmat(root / "labels" / "0001.mat")
    vis = mat["visibility"] > 0
    # Penn's head (joint 0) is the head top of the 14-keypoint layout: missing exactly where invisible
    head = gt.keypoints[:, 0, INDEX["head_top"]]
    assert np.array_equal(np.isnan(head[:, 0]), ~vis[:, 0])
    assert np.all(head[~vis[:, 0], 2] == 0) and np.all(head[vis[:, 0], 2] == 1)
    np.testing.assert_allclose(head[vis[:, 0], 0], mat["x"][vis[:, 0], 0], rtol=1e-6)
    assert np.isnan(gt.keypoints[..., :2]).any()
    assert np.all(np.isnan(gt.keypoints[..., 0]) == (gt.keypoints[..., 2] == 0))


def test_penn_action_joint_order_matches_the_data(shared_datasets, penn):
    # Penn's `pose` field gives the view. A person facing the camera has the right shoulder and hip
    # on the image-left; seen from the back, on the image-right. Checked on classes whose view stays
    # put through the video (in all 2,326 label files: 100% of such frames; 97% over every class).
    root = shared_datasets / "penn_action"
    hits = {"front": [0, 0], "back": [0, 0]}
    taken = {"front": 0, "back": 0}
    steady = penn.videos[penn.videos["label_name"].isin(["pullup", "squat", "jumping_jacks", "clean_and_jerk"])]
    for _, row in steady.iterrows():
        view = str(scipy.io.loadmat(root / row["gt_path"], variable_names=["pose"])["pose"][0])
        if view not in taken or taken[view] >= 12:
            continue
        taken[view] += 1
        k = get_adapter("penn_action").load_groundtruth(root, row).keypoints[:, 0]
        for r, l in (("right_shoulder", "left_shoulder"), ("right_hip", "left_hip")):
            ok = (k[:, INDEX[r], 2] > 0) & (k[:, INDEX[l], 2] > 0)
            hits[view][0] += int((k[ok, INDEX[r], 0] < k[ok, INDEX[l], 0]).sum())
            hits[view][1] += int(ok.sum())
        if min(taken.values()) >= 12:
            break
    assert taken == {"front": 12, "back": 12}
    assert hits["front"][1] > 500 and hits["front"][0] / hits["front"][1] > 0.95
    assert hits["back"][1] > 500 and hits["back"][0] / hits["back"][1] < 0.05


def test_kth_video_and_segment_units(shared_datasets):
    kth = get_adapter("kth")
    m = kth.build_manifest(shared_datasets / "kth", {"check_files": False})
    assert len(m.videos) == 599 and m.videos["group"].nunique() == 25 and len(m.classes) == 6
    # train + validation persons (16) train, the 9 test persons test; person13_handclapping_d3 is missing
    assert _counts(m, "1") == (16 * 24 - 1, 9 * 24)
    assert m.excluded["item"].tolist() == ["person13_handclapping_d3"]
    test_persons = set(m.videos.loc[m.videos["split_1"] == "test", "group"])
    assert test_persons == {f"person{p:02d}" for p in (22, 2, 3, 5, 6, 7, 8, 9, 10)}
    val_unused = kth.build_manifest(shared_datasets / "kth", {"check_files": False, "validation": "unused"})
    assert (val_unused.videos["split_1"] == "unused").sum() == 8 * 24

    s = kth.build_manifest(shared_datasets / "kth", {"check_files": False, "unit": "segment"})
    assert len(s.videos) == 2391 and s.videos["source_id"].nunique() == 599
    first = s.videos.set_index("video_id").loc["person01_boxing_d2_s4"]  # "305-390" in the file
    assert (first["frame_start"], first["frame_end"]) == (304, 390)
    assert first["path"] == "boxing/person01_boxing_d2_uncomp.avi" and first["source_id"] == "person01_boxing_d2"
    assert (s.videos["frame_end"] > s.videos["frame_start"]).all()


def test_ucf11_three_splits_and_logo(shared_datasets):
    ucf11 = get_adapter("ucf11")
    m = ucf11.build_manifest(shared_datasets / "ucf11", {"check_files": False})
    assert len(m.videos) == 1600 and len(m.classes) == 11 and m.splits == ["1", "2", "3"]
    assert m.videos.groupby("label_id")["group"].nunique().eq(25).all()
    for split, groups in (("1", range(1, 8)), ("2", range(8, 15)), ("3", range(15, 22))):
        test = m.videos[m.videos[m.split_column(split)] == "test"]
        assert set(test["group"]) == {f"g{g:02d}" for g in groups}
    assert _counts(m, "1") == (1140, 460)
    logo = ucf11.build_manifest(shared_datasets / "ucf11", {"check_files": False, "protocol": "logo"})
    assert len(logo.splits) == 25
    assert sum(_counts(logo, s)[1] for s in logo.splits) == 1600


def test_summary_and_manifest_round_trip(shared_datasets, penn, tmp_path):
    s = get_adapter("kth").build_manifest(shared_datasets / "kth", {"check_files": False, "unit": "segment"})
    text = summarize(s)
    assert text.splitlines()[0] == "kth: 2391 videos, 6 classes, 1 split(s), 1 excluded"
    assert "split 1: train 1528, test 863, unused 0" in text
    for m in (s, penn):
        m.save(tmp_path / f"{m.dataset}.parquet")
        back = Manifest.load(tmp_path / f"{m.dataset}.parquet")
        assert (back.dataset, back.classes, back.splits, back.pose_only) == (m.dataset, m.classes, m.splits,
                                                                             m.pose_only)
        assert back.videos.equals(m.videos)
        assert back.excluded.equals(m.excluded.astype(str))
    assert "pose-only" in summarize(penn)


def test_jhmdb_groundtruth_from_the_real_joint_sample(shared_datasets, tmp_path):
    # joint_positions.mat is not among the shared files: write faithful ones (pos_img 2 x 15 x F,
    # pixels) from the real JHMDB keypoints of joints_sample, with its real first frames.
    sample = shared_datasets / "jhmdb" / "joints_sample"
    ann = json.loads((sample / "test_jhmdb_sub1.json").read_text())
    names = ann["categories"][0]["keypoints"]
    assert names[:4] == ["neck", "belly", "head", "right_shoulder"]
    clips = []
    for image, a in zip(ann["images"], ann["annotations"]):
        clip = image["file_name"].split("/")[0]
        clips.append(clip)
        kp = np.asarray(a["keypoints"], np.float64).reshape(15, 3)
        (tmp_path / "joint_positions" / "catch" / clip).mkdir(parents=True)
        scipy.io.savemat(tmp_path / "joint_positions" / "catch" / clip / "joint_positions.mat",
                         {"pos_img": np.repeat(kp[:, :2].T[:, :, None], 2, axis=2)})
        (tmp_path / "Rename_Images" / "catch" / clip).mkdir(parents=True)
        shutil.copy(sample / image["file_name"], tmp_path / "Rename_Images" / "catch" / clip / "00001.png")
    (tmp_path / "splits").mkdir()
    for k in (1, 2, 3):
        (tmp_path / "splits" / f"catch_test_split{k}.txt").write_text(
            "".join(f"{c}.avi {1 + (i == k - 1)}\n" for i, c in enumerate(clips)))
    m = get_adapter("jhmdb").build_manifest(tmp_path, {})
    assert m.excluded.empty and _counts(m, "1") == (2, 1)
    row = m.videos[m.videos["path"].str.endswith(clips[2])].iloc[0]
    assert row["video_id"] != clips[2]  # '@' is not file-name safe
    gt = get_adapter("jhmdb").load_groundtruth(tmp_path, row)
    assert gt.keypoints.shape == (2, 1, 14, 3) and (gt.width, gt.height) == (320, 240)
    kp = np.asarray(ann["annotations"][2]["keypoints"], np.float32).reshape(15, 3)
    for aic, jh in (("neck", "neck"), ("head_top", "head"), ("right_shoulder", "right_shoulder"),
                    ("left_wrist", "left_wrist"), ("right_ankle", "right_ankle")):
        np.testing.assert_allclose(gt.keypoints[0, 0, INDEX[aic], :2], kp[names.index(jh), :2], rtol=1e-5)
    assert np.all(gt.keypoints[..., 2] == 1)
