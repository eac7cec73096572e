"""Dataset adapters on faithful miniatures that each test writes in the documented native format,
for what ../shared/datasets does not hold: video files on disk (empty placeholder files: the
adapters only check that they exist), the official HMDB51 testTrainMulti files, NTU file names and
.skeleton files, Penn Action with frames, the generic CSV and the synthetic dataset. The second
half checks the error paths: every error is a DatasetError naming the file (and line) and the fix."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pipeline.datasets import DatasetError, get_adapter, summarize
from pipeline.datasets.ntu import read_skeleton
from pipeline.keypoints import INDEX


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


def write(path: Path, text: str, crlf: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())
    return path


def subsets(m, split: str) -> dict[str, str]:
    return dict(zip(m.videos["video_id"], m.videos[m.split_column(split)]))


# ---------------------------------------------------------------------------------------- UCF101
def make_ucf101(root: Path) -> None:
    write(root / "ucfTrainTestlist" / "classInd.txt", "1 Archery\n2 Biking\n", crlf=True)
    write(root / "ucfTrainTestlist" / "trainlist01.txt",
          "Archery/v_Archery_g08_c01.avi 1\nBiking/v_Biking_g09_c01.avi 2\n", crlf=True)
    write(root / "ucfTrainTestlist" / "testlist01.txt",
          "Archery/v_Archery_g01_c01.avi\nBiking/v_Biking_g01_c01.avi\n", crlf=True)
    touch(root, "Archery/v_Archery_g08_c01.avi", "Archery/v_Archery_g01_c01.avi", "Biking/v_Biking_g09_c01.avi",
          "Archery/v_Archery_g02_c01.avi",          # on disk, in no list -> excluded
          "Stray/v_Stray_g01_c01.avi")              # a folder that is not a class -> excluded
    (root / "Biking" / "v_Biking_g01_c01").mkdir()  # decoded into a frame folder instead of a file
    touch(root, "Biking/v_Biking_g01_c01/000001.jpg")


def test_ucf101_with_files_on_disk(tmp_path):
    make_ucf101(tmp_path)
    m = get_adapter("ucf101").build_manifest(tmp_path, None)
    assert subsets(m, "1") == {"v_Archery_g01_c01": "test", "v_Archery_g08_c01": "train",
                               "v_Biking_g01_c01": "test", "v_Biking_g09_c01": "train"}
    paths = dict(zip(m.videos["video_id"], m.videos["path"]))
    assert paths["v_Biking_g01_c01"] == "Biking/v_Biking_g01_c01"          # the frame folder
    assert paths["v_Archery_g08_c01"] == "Archery/v_Archery_g08_c01.avi"
    assert sorted(m.excluded["item"]) == ["Archery/v_Archery_g02_c01.avi", "Stray/"]
    assert "no split file" in m.excluded.set_index("item").loc["Archery/v_Archery_g02_c01.avi", "reason"]


# ---------------------------------------------------------------------------- HMDB51, official
def make_hmdb_official(root: Path) -> None:
    # testTrainMulti_7030_splits: "<name>.avi <flag> " (trailing space and CRLF as shipped)
    clips = {"brush_hair": ["A_brush_hair_0.avi", "B_brush_hair_0.avi", "C!_(x)_brush_hair_0.avi",
                           "D_brush_hair_0.avi"],
             "cartwheel": ["E_cartwheel_0.avi", "F_cartwheel_0.avi", "G_cartwheel_0.avi", "H_cartwheel_0.avi"]}
    flags = {1: [1, 2, 1, 0], 2: [2, 1, 1, 0], 3: [1, 1, 2, 0]}
    for cls, names in clips.items():
        for k, fl in flags.items():
            write(root / "testTrainMulti_7030_splits" / f"{cls}_test_split{k}.txt",
                  "".join(f"{n} {f} \n" for n, f in zip(names, fl)), crlf=True)
        touch(root, *(f"{cls}/{n}" for n in names[:3]))  # D_/H_ (flag 0 everywhere) not even on disk
    touch(root, "cartwheel/Z_unlisted_cartwheel_0.avi")


def test_hmdb51_official_format(tmp_path):
    make_hmdb_official(tmp_path)
    m = get_adapter("hmdb51").build_manifest(tmp_path, {})
    assert m.classes == ["brush_hair", "cartwheel"] and m.splits == ["1", "2", "3"]
    assert len(m.videos) == 6
    s1 = subsets(m, "1")
    assert s1["A_brush_hair_0"] == "train" and s1["B_brush_hair_0"] == "test"
    assert subsets(m, "2")["A_brush_hair_0"] == "test"
    odd = m.videos[m.videos["path"] == "brush_hair/C!_(x)_brush_hair_0.avi"]
    assert len(odd) == 1 and odd["video_id"].iloc[0].startswith("C_x_brush_hair_0-")
    reasons = dict(zip(m.excluded["item"], m.excluded["reason"]))
    assert "unused (flag 0) in every split file" in reasons["brush_hair/D_brush_hair_0.avi"]
    assert "no split file" in reasons["cartwheel/Z_unlisted_cartwheel_0.avi"]
    # the same files are found by the explicit options, and without videos
    same = get_adapter("hmdb51").build_manifest(tmp_path, {"split_format": "official", "check_files": False,
                                                           "split_dir": "testTrainMulti_7030_splits"})
    assert same.videos.equals(m.videos)


# ----------------------------------------------------------------------------------------- KTH
KTH_SEQUENCES = """\
Training:   person11
Validation: person19
Test:       person22

person11_boxing_d1\t\tframes\t1-95, 96-185
person19_walking_d2\t\tframes\t1-40, 60-99
person22_running_d3\t\tframes\t1-30
person22_running_d4\t*missing*
"""


def test_kth_with_files_on_disk(tmp_path):
    write(tmp_path / "00sequences.txt", KTH_SEQUENCES, crlf=True)
    touch(tmp_path, "boxing/person11_boxing_d1_uncomp.avi", "walking/person19_walking_d2_uncomp.avi",
          "running/person22_running_d3_uncomp.avi", "running/person23_running_d1_uncomp.avi")
    m = get_adapter("kth").build_manifest(tmp_path, {})
    assert subsets(m, "1") == {"person11_boxing_d1": "train", "person19_walking_d2": "train",
                               "person22_running_d3": "test"}
    assert sorted(m.excluded["item"]) == ["person22_running_d4", "running/person23_running_d1_uncomp.avi"]
    s = get_adapter("kth").build_manifest(tmp_path, {"unit": "segment", "validation": "unused"})
    v = s.videos.set_index("video_id")
    assert list(v.index) == ["person11_boxing_d1_s1", "person11_boxing_d1_s2", "person19_walking_d2_s1",
                             "person19_walking_d2_s2", "person22_running_d3_s1"]
    assert v.loc["person19_walking_d2_s2", ["frame_start", "frame_end"]].tolist() == [59, 99]
    assert v.loc["person19_walking_d2_s2", "split_1"] == "unused"


# --------------------------------------------------------------------------------------- UCF11
def test_ucf11_scans_the_disk_without_a_list(tmp_path):
    touch(tmp_path, "biking/v_biking_01/v_biking_01_01.mpg", "biking/v_biking_08/v_biking_08_02.mpg",
          "diving/v_diving_15/v_diving_15_01.mpg", "diving/v_diving_25/v_diving_25_03.mpg",
          "diving/Annotation/v_diving_15_01.xgtf")
    m = get_adapter("ucf11").build_manifest(tmp_path, {})
    assert m.classes == ["biking", "diving"]
    assert dict(zip(m.videos["video_id"], m.videos["group"]))["v_diving_25_03"] == "g25"
    assert subsets(m, "1")["v_biking_01_01"] == "test" and subsets(m, "2")["v_biking_08_02"] == "test"
    assert subsets(m, "3")["v_diving_15_01"] == "test" and subsets(m, "3")["v_diving_25_03"] == "train"
    custom = get_adapter("ucf11").build_manifest(tmp_path, {"test_groups": {"a": [25], "b": [1, 8]}})
    assert custom.splits == ["a", "b"] and subsets(custom, "a")["v_diving_25_03"] == "test"
    # with a list file, clips on disk that it does not name are excluded
    write(tmp_path / "listfile_all_clips.txt", "biking/v_biking_01/v_biking_01_01.mpg\n")
    listed = get_adapter("ucf11").build_manifest(tmp_path, {"class_index": None})
    assert list(listed.videos["video_id"]) == ["v_biking_01_01"] and len(listed.excluded) == 3


# ----------------------------------------------------------------------------------------- NTU
def skeleton_text(frames: list[list[tuple[str, np.ndarray, list[int]]]]) -> str:
    """The documented .skeleton format: frame count; per frame the body count; per body a
    10-value info line, the joint count and 25 lines 'x y z depthX depthY colorX colorY oW oX oY oZ
    trackingState'."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, color, states in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.1 0.2 2")
            lines.append("25")
            for j in range(25):
                lines.append(f"0.1 0.2 3.5 250.1 200.2 {color[j, 0]:.4f} {color[j, 1]:.4f} 0.5 0.1 0.2 0.3 {states[j]}")
    return "\r\n".join(lines) + "\r\n"


def test_ntu_names_splits_and_skeleton(tmp_path):
    names = ["S001C001P001R001A001", "S002C002P003R002A010", "S017C003P008R001A060", "S018C001P001R001A061"]
    touch(tmp_path, *(f"nturgb+d_rgb/{n}_rgb.avi" for n in names), "nturgb+d_rgb/README.txt")
    m = get_adapter("ntu").build_manifest(tmp_path, {})
    assert len(m.classes) == 60 and m.splits == ["xsub", "xview"] and not m.pose_only
    v = m.videos.set_index("video_id")
    assert list(v.index) == names[:3]
    assert v.loc["S001C001P001R001A001", ["split_xsub", "split_xview"]].tolist() == ["train", "test"]
    assert v.loc["S002C002P003R002A010", ["split_xsub", "split_xview"]].tolist() == ["test", "train"]
    assert v.loc["S017C003P008R001A060", ["split_xsub", "split_xview"]].tolist() == ["train", "train"]
    assert v.loc["S002C002P003R002A010", ["label_name", "group"]].tolist() == ["clapping", "P003"]
    assert v.loc["S001C001P001R001A001", "path"] == "nturgb+d_rgb/S001C001P001R001A001_rgb.avi"
    assert sorted(m.excluded["item"]) == ["S018C001P001R001A061", "nturgb+d_rgb/README.txt"]

    rng = np.random.default_rng(0)
    c1, c2 = rng.uniform(0, 1900, (25, 2)), rng.uniform(0, 1900, (25, 2))
    s1 = [2] * 25
    s2 = [2] * 25
    s2[8], s2[4] = 0, 1                       # right shoulder not tracked, left shoulder inferred
    skel = skeleton_text([[("72057594037931101", c1, s1)],
                          [("72057594037931101", c1, s1), ("72057594037931999", c2, s2)]])
    write(tmp_path / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton", skel)
    gt = get_adapter("ntu").load_groundtruth(tmp_path, v.reset_index().iloc[0])
    assert gt.keypoints.shape == (2, 2, 14, 3) and (gt.width, gt.height) == (1920, 1080)
    k = gt.keypoints
    np.testing.assert_allclose(k[0, 0, INDEX["right_shoulder"], :2], c1[8], atol=1e-3)
    np.testing.assert_allclose(k[0, 0, INDEX["neck"], :2], c1[2], atol=1e-3)
    np.testing.assert_allclose(k[0, 0, INDEX["head_top"], :2], c1[3], atol=1e-3)
    np.testing.assert_allclose(k[1, 1, INDEX["left_ankle"], :2], c2[14], atol=1e-3)
    assert np.isnan(k[0, 1, :, :2]).all() and (k[0, 1, :, 2] == 0).all()   # body 2 absent in frame 0
    assert np.isnan(k[1, 1, INDEX["right_shoulder"], :2]).all() and k[1, 1, INDEX["right_shoulder"], 2] == 0
    assert k[1, 1, INDEX["left_shoulder"], 2] == 0.5
    assert get_adapter("ntu").load_groundtruth(tmp_path, v.reset_index().iloc[1]) is None  # no skeleton file

    # skeletons only -> pose-only manifest
    pose_root = tmp_path / "skeletons_only"
    write(pose_root / "nturgb+d_skeletons" / "S001C001P001R001A001.skeleton", skel)
    p = get_adapter("ntu").build_manifest(pose_root, {})
    assert p.pose_only and p.videos["path"].tolist() == [""]

    # a truncated file names itself and the line
    write(tmp_path / "bad.skeleton", "\r\n".join(skel.split("\r\n")[:20]))
    with pytest.raises(Exception, match=r"bad\.skeleton:\d+: file ends where joint line was expected"):
        read_skeleton(tmp_path / "bad.skeleton")


def test_ntu_list_and_exclude_files(tmp_path):
    write(tmp_path / "all.txt", "S001C001P001R001A001\nS001C002P002R001A002.skeleton\nS001C003P004R001A003_rgb.avi\n")
    write(tmp_path / "missing_skeletons.txt", "S001C002P002R001A002\n")
    m = get_adapter("ntu").build_manifest(tmp_path, {"list_file": "all.txt", "exclude_file": "missing_skeletons.txt",
                                                     "check_files": False, "splits": ["xsub"]})
    assert m.videos["video_id"].tolist() == ["S001C001P001R001A001", "S001C003P004R001A003"]
    assert m.splits == ["xsub"] and m.videos["split_xsub"].tolist() == ["train", "train"]
    assert m.excluded["item"].tolist() == ["S001C002P002R001A002"]


# ------------------------------------------------------------------------------ Penn with frames
def write_penn_label(path: Path, action: str, train: int, frames: int = 3) -> None:
    x = np.arange(frames * 13, dtype=np.float64).reshape(frames, 13)
    vis = np.ones((frames, 13), np.uint8)
    vis[0, 5] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"action": np.array([action]), "pose": np.array(["front"]), "x": x, "y": x + 1,
                            "visibility": vis, "train": np.array([[train]], np.int32),
                            "bbox": np.zeros((frames, 4)), "dimensions": np.array([[240, 320, frames]], np.uint16),
                            "nframes": np.array([[frames]], np.uint8)})


def test_penn_action_with_frames(tmp_path):
    write_penn_label(tmp_path / "labels" / "0001.mat", "squat", 1)
    write_penn_label(tmp_path / "labels" / "0002.mat", "bowl", -1, frames=5)
    touch(tmp_path, "frames/0001/000001.jpg", "frames/0002/000001.jpg", "frames/0003/000001.jpg")
    m = get_adapter("penn_action").build_manifest(tmp_path, {})
    assert not m.pose_only and m.videos["path"].tolist() == ["frames/0001", "frames/0002"]
    assert m.videos["split_1"].tolist() == ["train", "test"] and m.videos["num_frames"].tolist() == [3, 5]
    assert m.excluded["item"].tolist() == ["frames/0003"]
    forced = get_adapter("penn_action").build_manifest(tmp_path, {"pose_only": True})
    assert forced.pose_only and (forced.videos["path"] == "").all()
    gt = get_adapter("penn_action").load_groundtruth(tmp_path, m.videos.iloc[1])
    assert gt.keypoints.shape == (5, 1, 14, 3) and (gt.width, gt.height) == (320, 240)


# --------------------------------------------------------------------------------------- generic
def test_generic_csv_with_split_column(tmp_path):
    touch(tmp_path, "clips/a.mp4", "clips/b.mp4", "other/c.avi", "other/unlabelled.mkv")
    write(tmp_path / "labels.csv", "path,label,split,group,notes\nclips/a.mp4,wave,train,s1,x\n"
                                   "clips/b.mp4,jump,test,s2,\n\nother/c.avi,wave,unused,s1,\"a, b\"\n")
    m = get_adapter("generic").build_manifest(tmp_path, {"min_class_videos": 1})
    assert m.classes == ["jump", "wave"] and m.splits == ["default"]
    assert subsets(m, "default") == {"a": "train", "b": "test", "c": "unused"}
    assert dict(zip(m.videos["video_id"], m.videos["group"])) == {"a": "s1", "b": "s2", "c": "s1"}
    assert m.excluded["item"].tolist() == ["other/unlabelled.mkv"]


def test_generic_seeded_stratified_split(tmp_path):
    rows = [f"v/{c}_{i:02d}.mp4,{c}" for c in ("a", "b") for i in range(10)] + ["v/lonely.mp4,c"]
    write(tmp_path / "list.csv", "path,label\n" + "\n".join(rows) + "\n")
    opts = {"csv": "list.csv", "check_files": False, "test_fraction": 0.3, "seed": 7, "min_class_videos": 1}
    m = get_adapter("generic").build_manifest(tmp_path, opts)
    col = m.videos.set_index("video_id")["split_default"]
    for c in ("a", "b"):
        assert (col[col.index.str.startswith(c + "_")] == "test").sum() == 3
    assert col["lonely"] == "train"
    again = get_adapter("generic").build_manifest(tmp_path, opts)
    assert again.videos.equals(m.videos)
    other = get_adapter("generic").build_manifest(tmp_path, {**opts, "seed": 8})
    assert not other.videos["split_default"].equals(m.videos["split_default"])
    by_path = get_adapter("generic").build_manifest(tmp_path, {**opts, "id_from": "path"})
    assert "v__a_00" in set(by_path.videos["video_id"])


# ----------------------------------------------------------------------------------------- synth
def test_synth_layout_and_groundtruth(tmp_path):
    write(tmp_path / "classInd.txt", "1 wave\n2 jump\n")
    for k in (1, 2, 3):
        write(tmp_path / "splits" / f"trainlist0{k}.txt", f"wave/w{k}.mp4 1\njump/j{k}.mp4 2\n")
        write(tmp_path / "splits" / f"testlist0{k}.txt",
              "".join(f"wave/w{i}.mp4\n" for i in (1, 2, 3) if i != k))
    touch(tmp_path, *(f"videos/wave/w{i}.mp4" for i in (1, 2, 3)), *(f"videos/jump/j{i}.mp4" for i in (1, 2, 3)))
    kps = np.random.default_rng(1).uniform(0, 100, (4, 2, 14, 3)).astype(np.float32)
    kps[..., 2] = 1
    kps[1, 0, 3, 2] = 0
    (tmp_path / "keypoints").mkdir()
    np.savez(tmp_path / "keypoints" / "w1.npz", keypoints=kps, width=np.int64(160), height=np.int64(120),
             fps=np.float32(25))
    m = get_adapter("synth").build_manifest(tmp_path, {})
    assert m.splits == ["1", "2", "3"] and m.classes == ["wave", "jump"]
    assert subsets(m, "1") == {"j1": "train", "j2": "unused", "j3": "unused", "w1": "train", "w2": "test",
                               "w3": "test"}
    row = m.videos.set_index("video_id").loc["w1"]
    assert row["path"] == "videos/wave/w1.mp4" and row["gt_path"] == "keypoints/w1.npz"
    gt = get_adapter("synth").load_groundtruth(tmp_path, m.videos[m.videos["video_id"] == "w1"].iloc[0])
    assert gt.keypoints.shape == (4, 2, 14, 3) and (gt.width, gt.height) == (160, 120)
    assert np.isnan(gt.keypoints[1, 0, 3, :2]).all() and gt.keypoints[1, 0, 3, 2] == 0
    np.testing.assert_array_equal(gt.keypoints[0], kps[0])
    assert "split 1: train 2, test 2, unused 2" in summarize(m)


# ================================================================================== error paths
def raises_at(path: Path, line: int | None, pattern: str):
    """The error names the file (and line) first, matches ``pattern`` and says how to fix it."""
    where = re.escape(str(path)) + (f":{line}" if line is not None else "")
    return pytest.raises(DatasetError, match=rf"(?s)^{where}: (?=.*Fix: ).*{pattern}")


def ucf(root: Path) -> Path:
    make_ucf101(root)
    return root / "ucfTrainTestlist"


def build(name: str, root: Path, options=None):
    return get_adapter(name).build_manifest(root, options or {})


# ---------------------------------------------------------------------------------------- UCF101
def test_ucf_missing_video(tmp_path):
    lists = ucf(tmp_path)
    (tmp_path / "Biking" / "v_Biking_g09_c01.avi").unlink()
    with raises_at(lists / "trainlist01.txt", 2, "names a missing video .*v_Biking_g09_c01.avi.*check_files"):
        build("ucf101", tmp_path)
    assert len(build("ucf101", tmp_path, {"check_files": False}).videos) == 4


def test_ucf_class_not_in_index(tmp_path):
    lists = ucf(tmp_path)
    write(lists / "testlist01.txt", "Archery/v_Archery_g01_c01.avi\nBowling/v_Bowling_g01_c01.avi\n")
    with raises_at(lists / "testlist01.txt", 2, "class 'Bowling' is not in the class index"):
        build("ucf101", tmp_path, {"check_files": False})


def test_ucf_duplicate_and_train_test_overlap(tmp_path):
    lists = ucf(tmp_path)
    write(lists / "trainlist01.txt", "Archery/v_Archery_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 1\n")
    with raises_at(lists / "trainlist01.txt", 2, r"duplicate entry.*already in split '1' as 'train' at .*:1"):
        build("ucf101", tmp_path)
    write(lists / "trainlist01.txt", "Archery/v_Archery_g01_c01.avi 1\n")
    with raises_at(lists / "testlist01.txt", 1, "already in split '1' as 'train'"):
        build("ucf101", tmp_path)
    # two different files that would get one id
    write(lists / "trainlist01.txt", "Archery/v_Archery_g08_c01.avi 1\nBiking/v_Archery_g08_c01.avi 2\n")
    with raises_at(lists / "trainlist01.txt", 2, "duplicate video id 'v_Archery_g08_c01'"):
        build("ucf101", tmp_path, {"check_files": False})


def test_ucf_malformed_lines(tmp_path):
    lists = ucf(tmp_path)
    write(lists / "trainlist01.txt", "Archery/v_Archery_g08_c01.avi 1\nArchery/v_Archery_g08_c02.avi 1 extra\n")
    with raises_at(lists / "trainlist01.txt", 2, "malformed line"):
        build("ucf101", tmp_path, {"check_files": False})
    write(lists / "trainlist01.txt", "Archery/v_Archery_g08_c01.avi 2\n")
    with raises_at(lists / "trainlist01.txt", 1, "label 2 does not match class 'Archery'"):
        build("ucf101", tmp_path, {"check_files": False})
    write(lists / "classInd.txt", "1 Archery\n1 Biking\n")
    with raises_at(lists / "classInd.txt", 2, "class id 1 already used at line 1"):
        build("ucf101", tmp_path, {"check_files": False})
    write(lists / "classInd.txt", "1 Archery\nBiking\n")
    with raises_at(lists / "classInd.txt", 2, "malformed class index line"):
        build("ucf101", tmp_path, {"check_files": False})
    (lists / "testlist01.txt").unlink()
    write(lists / "classInd.txt", "1 Archery\n2 Biking\n")
    with raises_at(lists / "testlist01.txt", None, "split 1 has no test list"):
        build("ucf101", tmp_path, {"check_files": False})


def test_options_are_checked(tmp_path):
    ucf(tmp_path)
    with pytest.raises(DatasetError, match=r"'ucf101' has no option\(s\) \['check_file'\]; known options: .*'check_f"):
        build("ucf101", tmp_path, {"check_file": False})
    with pytest.raises(DatasetError, match=r"option splits names \['4'\].*\['1'\]"):
        build("ucf101", tmp_path, {"splits": [4]})
    with pytest.raises(DatasetError, match="must be true or false"):
        build("ucf101", tmp_path, {"check_files": "maybe"})
    with pytest.raises(DatasetError, match=r"option 'unit' of dataset adapter 'kth' must be one of \['video', 'seg"):
        build("kth", tmp_path, {"unit": "clip"})


# ---------------------------------------------------------------------------------------- HMDB51
def test_hmdb_official_errors(tmp_path):
    make_hmdb_official(tmp_path)
    split_dir = tmp_path / "testTrainMulti_7030_splits"
    (tmp_path / "brush_hair" / "A_brush_hair_0.avi").unlink()
    with raises_at(split_dir / "brush_hair_test_split1.txt", 1, "names a missing video .*A_brush_hair_0.avi"):
        build("hmdb51", tmp_path)
    write(split_dir / "cartwheel_test_split2.txt", "E_cartwheel_0.avi 1\nF_cartwheel_0.avi 3\n")
    with raises_at(split_dir / "cartwheel_test_split2.txt", 2, "malformed line 'F_cartwheel_0.avi 3'"):
        build("hmdb51", tmp_path, {"check_files": False})
    write(split_dir / "cartwheel_test_split2.txt", "E_cartwheel_0.avi 1\nE_cartwheel_0.avi 2\n")
    with raises_at(split_dir / "cartwheel_test_split2.txt", 2, "duplicate entry.*already in split 2"):
        build("hmdb51", tmp_path, {"check_files": False})
    (split_dir / "cartwheel_test_split3.txt").unlink()
    with raises_at(split_dir / "cartwheel_test_split3.txt", None, "class 'cartwheel' has no split file for split 3"):
        build("hmdb51", tmp_path, {"check_files": False})


def test_hmdb_list_errors(tmp_path):
    lists = tmp_path / "lists"
    write(lists / "hmdb51_split1_train.txt", "smile/a.avi smile 0\njump/b.avi jump 1\n")
    write(lists / "hmdb51_split1_test.txt", "smile/c.avi smile 0\njump/d.avi jump 0\n")
    with raises_at(lists / "hmdb51_split1_test.txt", 2, "class 'jump' has index 0 here but 1 at"):
        build("hmdb51", tmp_path, {"check_files": False})
    write(lists / "hmdb51_split1_test.txt", "smile/c.avi smile\n")
    with raises_at(lists / "hmdb51_split1_test.txt", 1, "malformed line"):
        build("hmdb51", tmp_path, {"check_files": False})
    write(lists / "hmdb51_split1_test.txt", "smile/c.avi jump 1\n")
    with raises_at(lists / "hmdb51_split1_test.txt", 1, "label 'jump' differs from the class folder 'smile'"):
        build("hmdb51", tmp_path, {"check_files": False})
    write(tmp_path / "lists" / "smile_test_split1.txt", "a.avi 1\n")
    with raises_at(lists, None, "both the official .* and the list"):
        build("hmdb51", tmp_path, {"check_files": False, "split_dir": "lists"})
    with pytest.raises(DatasetError, match="no split folder found"):
        build("hmdb51", tmp_path / "nowhere", {})


# ------------------------------------------------------------------------------------------- KTH
def test_kth_errors(tmp_path):
    seq = tmp_path / "00sequences.txt"
    write(seq, KTH_SEQUENCES.replace("1-40, 60-99", "1-40, 99-60"))
    with raises_at(seq, 6, "bad frame range '99-60'"):
        build("kth", tmp_path, {"check_files": False})
    write(seq, KTH_SEQUENCES.replace("person22_running_d3\t\tframes\t1-30", "person22_running_d3 1-30"))
    with raises_at(seq, 7, "malformed sequence line"):
        build("kth", tmp_path, {"check_files": False})
    write(seq, KTH_SEQUENCES.replace("person19_walking", "person05_walking"))
    with raises_at(seq, 6, "person 05 is in none of the header's subsets"):
        build("kth", tmp_path, {"check_files": False})
    write(seq, KTH_SEQUENCES)
    with raises_at(seq, 5, "names a missing video .*person11_boxing_d1_uncomp.avi"):
        build("kth", tmp_path)
    write(seq, KTH_SEQUENCES.replace("Validation: person19\n", ""))
    with raises_at(seq, None, r"the header lacks the \['validation'\]"):
        build("kth", tmp_path, {"check_files": False})


# ------------------------------------------------------------------------------------ Penn Action
def test_penn_errors(tmp_path):
    write_penn_label(tmp_path / "labels" / "0001.mat", "squat", 0)
    with raises_at(tmp_path / "labels" / "0001.mat", None, "train flag is 0"):
        build("penn_action", tmp_path)
    write_penn_label(tmp_path / "labels" / "0001.mat", "yoga", 1)
    with raises_at(tmp_path / "labels" / "0001.mat", None, "action 'yoga' is not one of the 15"):
        build("penn_action", tmp_path)
    write_penn_label(tmp_path / "labels" / "0001.mat", "squat", 1)
    touch(tmp_path, "frames/0002/000001.jpg")
    with raises_at(tmp_path / "labels" / "0001.mat", None, "frame folder is missing: .*frames/0001"):
        build("penn_action", tmp_path)
    scipy.io.savemat(tmp_path / "labels" / "0001.mat", {"action": np.array(["squat"])})
    with raises_at(tmp_path / "labels" / "0001.mat", None, r"lacks the field\(s\) \['train', 'dimensions'\]"):
        build("penn_action", tmp_path, {"pose_only": True})
    with raises_at(tmp_path / "nothing" / "labels", None, "labels folder not found"):
        build("penn_action", tmp_path / "nothing")


# --------------------------------------------------------------------------------- UCF11 and NTU
def test_ucf11_and_ntu_errors(tmp_path):
    write(tmp_path / "classInd.txt", "biking\n")
    write(tmp_path / "listfile_all_clips.txt", "biking/v_biking_01/v_biking_01_01.mpg\ndiving/v_diving_02/x.mpg\n")
    with raises_at(tmp_path / "listfile_all_clips.txt", 2, "class 'diving' is not in the class index"):
        build("ucf11", tmp_path, {"check_files": False})
    write(tmp_path / "listfile_all_clips.txt", "biking/v_biking/v_biking_01_01.mpg\n")
    with raises_at(tmp_path / "listfile_all_clips.txt", 1, "does not end in a group number"):
        build("ucf11", tmp_path, {"check_files": False})
    with pytest.raises(DatasetError, match=r"test_groups\['1'\] must hold group numbers 1..25"):
        build("ucf11", tmp_path, {"check_files": False, "test_groups": {"1": [0, 26]}})

    write(tmp_path / "ntu.txt", "S001C001P001R001A001\nS001C001P001R001\n")
    with raises_at(tmp_path / "ntu.txt", 2, "does not follow SsssCcccPpppRrrrAaaa"):
        build("ntu", tmp_path, {"list_file": "ntu.txt", "check_files": False})
    write(tmp_path / "ntu.txt", "S001C001P001R001A001\nS001C001P001R001A001_rgb.avi\n")
    with raises_at(tmp_path / "ntu.txt", 2, "duplicate sample"):
        build("ntu", tmp_path, {"list_file": "ntu.txt", "check_files": False})
    with raises_at(tmp_path / "ntu.txt", 1, "names a missing video"):
        build("ntu", tmp_path, {"list_file": "ntu.txt"})


# --------------------------------------------------------------------------------------- generic
def test_generic_errors(tmp_path):
    csv = tmp_path / "labels.csv"
    write(csv, "file,label\na.mp4,wave\n")
    with raises_at(csv, 1, "has no 'path' column"):
        build("generic", tmp_path)
    write(csv, "path,label\na.mp4,wave\nb.mp4,jump\n")
    with raises_at(csv, 2, "names a missing video"):
        build("generic", tmp_path)
    with raises_at(csv, 3, r"label 'jump' is not in the classes option \['wave'\]"):
        build("generic", tmp_path, {"check_files": False, "classes": ["wave"]})
    write(csv, "path,label,split\na.mp4,wave,train\nb.mp4,jump,val\n")
    with raises_at(csv, 3, "split 'val' is not train, test or unused"):
        build("generic", tmp_path, {"check_files": False, "min_class_videos": 1})
    write(csv, "path,label\nx/a.mp4,wave\ny/a.mp4,jump\n")
    with raises_at(csv, 3, r"duplicate video id 'a'.*id_from: path"):
        build("generic", tmp_path, {"check_files": False, "min_class_videos": 1})
    write(csv, "path,label\nx/a.mp4,wave,extra\n")
    with raises_at(csv, 2, "has 3 fields, the header has 2"):
        build("generic", tmp_path, {"check_files": False, "min_class_videos": 1})
    write(csv, "path,label\n,wave\n")
    with raises_at(csv, 2, "empty path"):
        build("generic", tmp_path, {"check_files": False, "min_class_videos": 1})


# ----------------------------------------------------------------------------------------- synth
def test_synth_errors(tmp_path):
    write(tmp_path / "classInd.txt", "1 wave\n")
    write(tmp_path / "splits" / "trainlist01.txt", "wave/w1.mp4 1\n")
    write(tmp_path / "splits" / "testlist01.txt", "wave/w2.mp4\n")
    touch(tmp_path, "videos/wave/w1.mp4")
    with raises_at(tmp_path / "splits" / "testlist01.txt", 1, "names a missing video .*videos/wave/w2.mp4"):
        build("synth", tmp_path)
    m = build("synth", tmp_path, {"check_files": False})
    with raises_at(tmp_path / "keypoints" / "w1.npz", None, "keypoints of synthetic video w1 not found"):
        get_adapter("synth").load_groundtruth(tmp_path, m.videos.iloc[0])
    (tmp_path / "keypoints").mkdir()
    np.savez(tmp_path / "keypoints" / "w1.npz", keypoints=np.zeros((2, 1, 17, 3), np.float32), width=1, height=1)
    with raises_at(tmp_path / "keypoints" / "w1.npz", None, r"keypoints must be \[F, P, 14, 3\]"):
        get_adapter("synth").load_groundtruth(tmp_path, m.videos.iloc[0])


def test_strict_false_records_missing_videos(tmp_path):
    # the prepare stage passes params.yaml's top-level `strict`; false: record and go on
    make_ucf101(tmp_path / "ucf")
    (tmp_path / "ucf" / "Biking" / "v_Biking_g09_c01.avi").unlink()
    m = build("ucf101", tmp_path / "ucf", {"strict": False})
    assert "v_Biking_g09_c01" not in set(m.videos["video_id"]) and len(m.videos) == 3
    reasons = dict(zip(m.excluded["item"], m.excluded["reason"]))
    assert reasons["Biking/v_Biking_g09_c01.avi"].startswith("missing on disk; named at ")
    assert reasons["Biking/v_Biking_g09_c01.avi"].endswith("trainlist01.txt:2")

    make_hmdb_official(tmp_path / "hmdb")
    (tmp_path / "hmdb" / "brush_hair" / "A_brush_hair_0.avi").unlink()
    h = build("hmdb51", tmp_path / "hmdb", {"strict": False})
    assert len(h.videos) == 5 and "brush_hair/A_brush_hair_0.avi" in set(h.excluded["item"])

    write_penn_label(tmp_path / "penn" / "labels" / "0001.mat", "squat", 1)
    write_penn_label(tmp_path / "penn" / "labels" / "0002.mat", "squat", -1)
    touch(tmp_path / "penn", "frames/0002/000001.jpg")
    p = build("penn_action", tmp_path / "penn", {"strict": "false"})
    assert p.videos["video_id"].tolist() == ["0002"] and p.excluded["item"].tolist() == ["frames/0001"]
    with pytest.raises(DatasetError, match="option 'strict' of dataset adapter 'kth' must be true or false"):
        build("kth", tmp_path, {"strict": "sometimes"})


# ------------------------------------------------------------------ paths confined to the root
def test_paths_that_leave_the_root_are_refused_naming_the_line(tmp_path):
    # issue 14, defect 2: such rows reached the manifest and were probed/decoded
    root = tmp_path / "data"
    touch(root, "clips/a.mp4", "clips/b.mp4")
    touch(tmp_path, "elsewhere/clip.avi")                       # a real video outside the root
    csv = write(root / "labels.csv", "path,label,split\nclips/a.mp4,wave,train\n../../../../etc/passwd,wave,train\n"
                                     "../elsewhere/clip.avi,jump,test\n/etc/hostname,jump,test\nclips/b.mp4,jump,test\n")
    for options in ({}, {"check_files": False}):
        with raises_at(csv, 3, r"path '\.\./\.\./\.\./\.\./etc/passwd' leaves the dataset root"):
            build("generic", root, options)
    for options in ({"strict": False}, {"strict": False, "check_files": False}):
        m = build("generic", root, options)
        assert m.videos["path"].tolist() == ["clips/a.mp4", "clips/b.mp4"]
        reasons = dict(zip(m.excluded["item"], m.excluded["reason"]))
        assert reasons["../elsewhere/clip.avi"] == f"path '../elsewhere/clip.avi' leaves the dataset root; named at {csv}:4"
        assert reasons["../../../../etc/passwd"].endswith(f"{csv}:3")
        assert reasons["/etc/hostname"].endswith(f"{csv}:5")
    # inside after normalisation is fine, and stored normalised
    write(csv, "path,label\nclips/../clips/./a.mp4,wave\n")
    assert build("generic", root, {"min_class_videos": 1}).videos["path"].tolist() == ["clips/a.mp4"]


def test_split_files_of_official_datasets_are_confined_too(tmp_path):
    lists = ucf(tmp_path / "ucf")
    touch(tmp_path, "Archery/v_Archery_g05_c01.avi")            # outside the root, one level up
    write(lists / "testlist01.txt", "Archery/v_Archery_g01_c01.avi\nArchery/../../Archery/v_Archery_g05_c01.avi\n")
    with raises_at(lists / "testlist01.txt", 2, "leaves the dataset root"):
        build("ucf101", tmp_path / "ucf")
    m = build("ucf101", tmp_path / "ucf", {"strict": False, "check_files": False})
    assert all(not p.startswith("..") for p in m.videos["path"])
    assert "Archery/../../Archery/v_Archery_g05_c01.avi" in set(m.excluded["item"])
    with pytest.raises(DatasetError, match="leaves the dataset root"):   # a folder option pointing out
        build("synth", _synth_root(tmp_path / "s"), {"video_dir": "../videos", "check_files": False})


def _synth_root(root: Path) -> Path:
    write(root / "classInd.txt", "1 wave\n")
    write(root / "splits" / "trainlist01.txt", "wave/w1.mp4 1\n")
    write(root / "splits" / "testlist01.txt", "wave/w2.mp4\n")
    return root


def test_symlinks_inside_the_root_are_followed(tmp_path):
    # docs/reliability.md's policy: a link the user put inside the root is theirs to make, wherever it points
    touch(tmp_path, "store/wave/a.mp4")
    root = tmp_path / "data"
    root.mkdir()
    (root / "clips").symlink_to(tmp_path / "store" / "wave")
    write(root / "labels.csv", "path,label\nclips/a.mp4,wave\n")
    assert build("generic", root, {"min_class_videos": 1}).videos["path"].tolist() == ["clips/a.mp4"]


def test_a_label_typo_is_not_a_new_class(tmp_path):
    # issue 14, defect 4: `wavee` became an 11th class with one video
    touch(tmp_path, *[f"v/{c}{i}.mp4" for c in ("wave", "jump") for i in range(3)], "v/typo.mp4")
    csv = write(tmp_path / "labels.csv", "path,label\n" + "".join(f"v/{c}{i}.mp4,{c}\n" for c in ("wave", "jump")
                                                                    for i in range(3)) + "v/typo.mp4,wavee\n")
    with raises_at(csv, 8, r"label 'wavee' is on 1 row\(s\), fewer than min_class_videos \(2\): a typo"):
        build("generic", tmp_path)
    m = build("generic", tmp_path, {"strict": False})
    assert m.classes == ["jump", "wave"] and "typo" not in set(m.videos["video_id"])
    assert m.excluded.set_index("item").loc["v/typo.mp4", "reason"].endswith(f"(at {csv}:8)")
    assert "videos per class: jump 3, wave 3" in summarize(m)
    assert build("generic", tmp_path, {"min_class_videos": 1}).classes == ["jump", "wave", "wavee"]
    # with classes given, a label outside them is an error, or an exclusion under strict: false
    with raises_at(csv, 8, r"label 'wavee' is not in the classes option"):
        build("generic", tmp_path, {"classes": ["wave", "jump"]})
    m = build("generic", tmp_path, {"classes": ["wave", "jump"], "strict": False})
    assert m.classes == ["wave", "jump"] and len(m.videos) == 6 and m.excluded["item"].tolist() == ["v/typo.mp4"]
