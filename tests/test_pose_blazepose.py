"""The blazepose backend on real people (../shared/datasets): skeletons must land on them.

Reference boxes and counts below were measured by looking at the frames (see the report of the
backend): opencv_basketball1.png has 2 people (left one facing the camera, right one seen from
behind and cut by the frame); opencv_vtest.avi frame 0 has 3 walking pedestrians; the astronaut is
one upper body.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.keypoints import INDEX, NUM_KEYPOINTS, to_aic14
from pipeline.pose import blazepose_geometry as geo
from pipeline.pose.base import Detections
from pipeline.pose.blazepose import BlazePoseEstimator
from pipeline.pose.blazepose_models import (DETECTOR_FILE, LANDMARK_FILE, BlazePoseModelError,
                                            locate_models)

HEAD, NECK = INDEX["head_top"], INDEX["neck"]
HIPS = (INDEX["right_hip"], INDEX["left_hip"])
ANKLES = (INDEX["right_ankle"], INDEX["left_ankle"])


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _video_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok, (path, index)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _valid(k: np.ndarray) -> np.ndarray:
    return np.isfinite(k[:, 0])


def _inside(k: np.ndarray, box) -> float:
    """Fraction of a skeleton's present keypoints inside box (x0, y0, x1, y1)."""
    p = k[_valid(k), :2]
    x0, y0, x1, y1 = box
    return float(((p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)).mean())


def _check_contract(det: Detections, max_persons: int):
    assert det.keypoints.dtype == np.float32 and det.scores.dtype == np.float32
    assert det.keypoints.shape[1:] == (NUM_KEYPOINTS, 3) and len(det.scores) <= max_persons
    assert np.all(np.diff(det.scores) <= 0), "people must come sorted by score"
    conf = det.keypoints[..., 2]
    assert np.all((conf >= 0) & (conf <= 1))
    missing = ~np.isfinite(det.keypoints[..., :2]).all(-1)
    assert np.all(conf[missing] == 0) and np.all(np.isnan(det.keypoints[..., :2][missing]))


@pytest.fixture(scope="module")
def estimator() -> BlazePoseEstimator:
    return BlazePoseEstimator(max_persons=6)


# ---------------------------------------------------------------------------- models and geometry
def test_models_come_from_the_installed_mediapipe_and_name_the_version(estimator):
    import importlib.util
    paths = locate_models()
    root = Path(list(importlib.util.find_spec("mediapipe").submodule_search_locations)[0]).resolve()
    assert set(paths) == {DETECTOR_FILE, LANDMARK_FILE}
    assert all(root in p.resolve().parents for p in paths.values())
    assert estimator.name == "blazepose"
    assert "det-" in estimator.version and "lmk-" in estimator.version
    # tensor layouts read from the interpreter
    assert estimator.detector.num_anchors == 2254 == len(estimator.anchors)
    assert estimator.detector.input_size == 224 and estimator.landmarker.input_size == 256


def test_ssd_anchors_follow_the_feature_maps():
    a = geo.ssd_anchors()
    assert a.shape == (28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])     # two anchors per cell, rows of x
    np.testing.assert_allclose(a[28 * 28 * 2], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])


def test_roi_geometry_round_trips_and_crops_where_it_says():
    upright = geo.roi_from_alignment((100.0, 200.0), (100.0, 120.0))
    assert upright.rotation == pytest.approx(0.0) and upright.width == pytest.approx(2 * 80 * 1.25)
    lying = geo.roi_from_alignment((100.0, 200.0), (180.0, 200.0))    # body axis to the right
    assert lying.rotation == pytest.approx(math.pi / 2)
    # the crop's up direction points along p0 -> p1
    np.testing.assert_allclose(lying.to_frame(np.array([0.5, 0.0])), [100 + lying.width / 2, 200], atol=1e-6)
    pts = np.random.default_rng(0).uniform(0, 1, (20, 2))
    np.testing.assert_allclose(lying.from_frame(lying.to_frame(pts)), pts, atol=1e-9)
    # a bright dot in the frame shows up in the crop where from_frame puts it
    frame = np.zeros((300, 400, 3), np.uint8)
    cv2.circle(frame, (150, 170), 3, (255, 255, 255), -1)
    roi = geo.Roi(140.0, 180.0, 120.0, 120.0, 0.7)
    crop = geo.crop(frame, roi, 256, border="zero")
    ys, xs = np.nonzero(crop[..., 0] > 128)
    expect = roi.from_frame(np.array([150.5, 170.5])) * 256
    assert abs(xs.mean() + 0.5 - expect[0]) < 1.5 and abs(ys.mean() + 0.5 - expect[1]) < 1.5


# ---------------------------------------------------------------------------- real people
def test_basketball_two_people(estimator, shared_datasets):
    frame = _rgb(shared_datasets / "media" / "opencv_basketball1.png")
    det = estimator(frame)
    _check_contract(det, 6)
    assert len(det.scores) == 2                       # measured: exactly the two players
    left = {"box": (0, 40, 250, 480)}                 # man facing the camera, ball in hands
    right = {"box": (400, 0, 640, 480)}               # man seen from behind, cut by the frame edge
    xs = [np.nanmedian(k[:, 0]) for k in det.keypoints]
    k_left, k_right = (det.keypoints[i] for i in np.argsort(xs))
    assert _valid(k_left).all()                       # the whole left man is in view
    assert _inside(k_left, left["box"]) == 1.0
    assert _inside(k_right, right["box"]) >= 0.9
    for k in (k_left, k_right):                       # both stand upright: head above the hips
        assert k[HEAD, 1] < k[NECK, 1] < min(k[h, 1] for h in HIPS)
    assert det.scores[0] > 0.9                        # the clear, frontal one ranks first
    assert np.nanmedian(det.keypoints[0][:, 0]) < 250


def test_vtest_pedestrians(estimator, shared_datasets):
    frame = _video_frame(shared_datasets / "media" / "opencv_vtest.avi", 0)
    det = estimator(frame)
    _check_contract(det, 6)
    # three pedestrians walk in frame 0 (measured 3 found; a 4th would be a false person)
    pedestrians = [(245, 210, 295, 320), (490, 145, 540, 240), (630, 235, 695, 330)]
    assert 3 <= len(det.scores) <= 4
    for box in pedestrians:
        on = [k for k in det.keypoints if _inside(k, box) >= 0.9]
        assert len(on) == 1, f"expected one skeleton on the pedestrian in {box}"
        k = on[0]
        assert _valid(k).sum() >= 12
        assert k[HEAD, 1] < k[NECK, 1] < min(k[h, 1] for h in HIPS) < min(k[a, 1] for a in ANKLES)
    # max_persons = 1 keeps only the best one
    one = BlazePoseEstimator(max_persons=1)(frame)
    assert len(one.scores) == 1
    np.testing.assert_allclose(one.keypoints[0], det.keypoints[0], atol=1e-3, equal_nan=True)


def test_other_box_sources_hog_and_masked_reruns(shared_datasets):
    """Without tiles the whole-frame detector misses the small pedestrians and the man seen from
    behind; OpenCV's HOG boxes and detector re-runs with the found people blacked out get them."""
    est = BlazePoseEstimator(max_persons=6, tiles=False, hog=True, mask_rounds=2)
    vtest = est.find_people(_video_frame(shared_datasets / "media" / "opencv_vtest.avi", 0))
    pedestrians = [(245, 210, 295, 320), (490, 145, 540, 240), (630, 235, 695, 330)]
    assert len(vtest) >= 2 and all(p.source == "hog" for p in vtest)     # measured: 2 of the 3
    for p in vtest:
        assert max(_inside(p.keypoints, box) for box in pedestrians) >= 0.9
    assert len(est(_rgb(shared_datasets / "media" / "opencv_basketball1.png")).scores) == 2


def test_astronaut_upper_body(estimator, shared_datasets):
    frame = _rgb(shared_datasets / "media" / "skimage_astronaut.png")
    det = estimator(frame)
    _check_contract(det, 6)
    assert len(det.scores) == 1
    k = det.keypoints[0]
    for j in ("head_top", "neck", "right_shoulder", "left_shoulder"):
        assert np.isfinite(k[INDEX[j], 0]), j
    # head top on the head (her head spans about x 120-300, y 0-230), shoulders under it
    assert 120 <= k[HEAD, 0] <= 300 and 0 <= k[HEAD, 1] <= 230
    assert k[HEAD, 1] < k[NECK, 1] < 330
    assert k[INDEX["right_shoulder"], 0] < k[INDEX["left_shoulder"], 0]   # she faces the camera
    # legs are outside the picture: missing, not guessed
    for j in ANKLES + (INDEX["right_knee"], INDEX["left_knee"]):
        assert np.isnan(k[j, 0]) and k[j, 2] == 0


def test_empty_and_bad_frames(estimator):
    det = estimator(np.zeros((240, 320, 3), np.uint8))
    assert det.keypoints.shape == (0, NUM_KEYPOINTS, 3) and det.scores.shape == (0,)
    assert len(estimator(np.full((128, 170, 3), 255, np.uint8)).scores) == 0
    assert len(estimator(np.zeros((4, 4, 3), np.uint8)).scores) == 0
    with pytest.raises(ValueError):
        estimator(np.zeros((240, 320), np.uint8))
    with pytest.raises(ValueError):
        estimator(np.zeros((240, 320, 3), np.float32))


def test_model_dir(tmp_path):
    with pytest.raises(BlazePoseModelError, match=r"pose_detection\.tflite.*not found"):
        BlazePoseEstimator(model_dir=tmp_path)
    with pytest.raises(BlazePoseModelError, match="not a folder"):
        BlazePoseEstimator(model_dir=tmp_path / "absent")
    # only one of the two files: the message names the missing one
    src = locate_models()
    (tmp_path / DETECTOR_FILE).symlink_to(src[DETECTOR_FILE])
    with pytest.raises(BlazePoseModelError, match=r"pose_landmark_full\.tflite"):
        BlazePoseEstimator(model_dir=tmp_path)
    (tmp_path / LANDMARK_FILE).symlink_to(src[LANDMARK_FILE])
    est = BlazePoseEstimator(model_dir=str(tmp_path))
    assert est.version == BlazePoseEstimator().version


def test_built_by_name_with_the_params_yaml_options():
    from pipeline.pose.estimators import build_estimator
    est = build_estimator("blazepose", {"min_score": 0.5, "model_dir": None}, max_persons=2)
    assert est.name == "blazepose" and est.max_persons == 2


# ---------------------------------------------------------------------------- reference result
def test_matches_the_hrnet_reference_on_apply_eye_makeup(estimator, shared_datasets):
    """v_ApplyEyeMakeup_g01_c01: a close-up of one woman; the reference is HRNet COCO-17 (PoseC3D
    format, coordinates for 340 x 256 frames). Only her face, right hand and right shoulder are in
    view, so two checks: the 14 keypoints both sides are sure of (reference score >= 0.5, ours
    present), and her face (BlazePose nose / eyes / ears against COCO's). She fills the frame
    top to bottom, so the frame height stands for her visible height.
    Measured on these 9 frames: 14-keypoint median ~27 px (11 %), face median ~14 px (6 %)."""
    clips = shared_datasets / "clips"
    with open(clips / "v_ApplyEyeMakeup_g01_c01.hrnet_coco17.pkl", "rb") as f:
        ref = pickle.load(f)
    kp = ref["keypoint"][0].astype(np.float32)
    score = ref["keypoint_score"][0].astype(np.float32)
    cap = cv2.VideoCapture(str(clips / "v_ApplyEyeMakeup_g01_c01.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    h, w = frames[0].shape[:2]
    ref_h, ref_w = ref["img_shape"]
    kp[..., 0] *= w / ref_w
    kp[..., 1] *= h / ref_h
    ref17 = np.concatenate([kp, score[..., None]], axis=-1)
    ref14 = to_aic14(ref17, "coco17")

    body_err, face_err = [], []
    face_pairs = [(0, 0), (2, 1), (5, 2), (7, 3), (8, 4)]   # BlazePose 33 -> COCO 17: nose, eyes, ears
    for i in range(0, 163, 20):
        people = estimator.find_people(frames[i])
        assert people, f"nobody found in frame {i}"
        main = people[0]
        both = (ref14[i, :, 2] >= 0.5) & np.isfinite(main.keypoints[:, 0])
        body_err += list(np.linalg.norm(main.keypoints[both, :2] - ref14[i, both, :2], axis=1))
        for b, c in face_pairs:
            if ref17[i, c, 2] >= 0.5 and np.isfinite(main.landmarks[b, 0]):
                face_err.append(np.linalg.norm(main.landmarks[b, :2] - ref17[i, c, :2]))
        det = estimator(frames[i])
        np.testing.assert_allclose(det.keypoints[0], main.keypoints, equal_nan=True)
    assert len(body_err) >= 8 and len(face_err) >= 30
    assert np.median(body_err) < 0.20 * h
    assert np.median(face_err) < 0.08 * h
