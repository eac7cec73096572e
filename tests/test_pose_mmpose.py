"""The mmpose backend on configs that ship inside the mmpose wheel, with random weights (no
checkpoint can be downloaded here): config and checkpoint handling, top-down boxes (whole frame,
BlazePose, HOG, an mmdet detector), bottom-up RTMO, the COCO-17 and AIC-14 mappings on forced model
outputs, ranking and the N-person limit, the Parquet version string, the install message.

mmcv-lite has no compiled ops and PyPI's torchvision does not load beside our CPU torch, so
bench/fakes/mmpose_stubs.py puts test-only stand-ins for ``mmcv._ext`` and ``torchvision`` in sys.modules
for this module (only where the real ones are missing; see that file for what and why)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("mmpose", reason="the mmpose extra is not installed (requirements-mmpose.txt)")

from pipeline.keypoints import INDEX, HEAD_TOP_FROM_NOSE, KEYPOINT_NAMES, to_aic14  # noqa: E402
from pipeline.io import sha256_prefix  # noqa: E402
from pipeline.pose import mmpose_backend as mb  # noqa: E402
from pipeline.pose.base import Detections  # noqa: E402
from bench.fakes import mmpose_stubs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RTMPOSE_COCO = "rtmpose-t_8xb256-420e_coco-256x192"
HRNET_AIC = "td-hm_hrnet-w32_8xb64-210e_aic-256x192"
RTMO_COCO = "rtmo-s_8xb32-600e_coco-640x640"
CROWDPOSE = "rtmpose-m_8xb64-210e_crowdpose-256x192"
RTMDET_PERSON = "rtmdet_nano_320-8xb32_coco-person"
RANDOM = {"random_weights": True, "device": "cpu"}

# A standing person facing the camera in COCO-17 order, in units of the box (x right, y down):
# their right side is on the image's left.
COCO_TEMPLATE = np.array([
    (0.50, 0.10), (0.47, 0.08), (0.53, 0.08), (0.44, 0.09), (0.56, 0.09),      # nose, eyes, ears
    (0.38, 0.22), (0.62, 0.22), (0.34, 0.38), (0.66, 0.38), (0.32, 0.52),      # L/R shoulder...
    (0.68, 0.52), (0.42, 0.55), (0.58, 0.55), (0.42, 0.75), (0.58, 0.75),      # wrists, hips, knees
    (0.42, 0.95), (0.58, 0.95)], np.float32)                                    # ankles
COCO_TEMPLATE[:, 0] = 1.0 - COCO_TEMPLATE[:, 0]   # COCO's "left_*" is the person's left: image right


def _estimator(max_persons: int = 4, **options) -> mb.MMPoseEstimator:
    return mb.MMPoseEstimator(mb.MMPoseOptions(**options), max_persons=max_persons)


@pytest.fixture(scope="module", autouse=True)
def _mmpose_importable():
    added = mmpose_stubs.install()
    yield
    mmpose_stubs.remove(added)


@pytest.fixture(scope="module")
def rtmpose():
    """RTMPose-t (COCO-17, top-down), whole-frame boxes, no thresholds."""
    return _estimator(config=RTMPOSE_COCO, boxes="frame", min_score=0.0,
                      keypoint_min_score=0.0, max_persons=2, **RANDOM)


def _frame(h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1])


def _expected(points: np.ndarray, layout: str, keypoint_min_score: float) -> np.ndarray:
    """What the backend must make of raw (x, y, score) people: weak joints missing, then to_aic14."""
    points = np.array(points, np.float32, copy=True)
    points[..., 2] = np.clip(points[..., 2], 0, 1)
    points[points[..., 2] < keypoint_min_score] = (np.nan, np.nan, 0.0)
    return to_aic14(points, layout)


def _force_topdown(monkeypatch, estimator, make):
    """Run the real top-down model, then overwrite each box's prediction with make(box) ->
    (keypoints [K, 2], scores [K]). Returns the list of boxes the model was given."""
    seen = []
    real = estimator.model.test_step

    def test_step(batch):
        samples = real(batch)
        for sample in samples:
            box = np.asarray(sample.pred_instances.bboxes[0], np.float32)
            seen.append(box)
            keypoints, scores = make(box)
            sample.pred_instances.keypoints = keypoints[None].astype(np.float32)
            sample.pred_instances.keypoint_scores = scores[None].astype(np.float32)
        return samples
    monkeypatch.setattr(estimator.model, "test_step", test_step)
    return seen


def _in_box(box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return COCO_TEMPLATE * np.array([x1 - x0, y1 - y0], np.float32) + np.array([x0, y0], np.float32)


# ------------------------------------------------------------------------------------------------
# Config and checkpoint

def test_config_found_by_name_relative_path_or_file():
    configs = mb.package_dir("mmpose", ".mim", "configs")
    by_name = mb.resolve_config(RTMPOSE_COCO, [configs], "pose.mmpose.config")
    assert by_name.name == RTMPOSE_COCO + ".py" and by_name.is_file()
    assert mb.resolve_config(RTMPOSE_COCO + ".py", [configs], "x") == by_name
    rel = by_name.relative_to(configs)
    assert mb.resolve_config(str(rel), [configs], "x") == by_name
    assert mb.resolve_config(str(by_name), [], "x") == by_name
    with pytest.raises(FileNotFoundError, match=r"pose.mmpose.config 'rtmpose-t_8xb256-420e_coco-256x193' "
                                                r"not found.*close names: rtmpose-t_8xb256-420e_coco-256x192"):
        mb.resolve_config("rtmpose-t_8xb256-420e_coco-256x193", [configs], "pose.mmpose.config")
    with pytest.raises(FileNotFoundError, match="/nowhere/model.py"):
        mb.resolve_config("/nowhere/model.py", [configs], "pose.mmpose.config")
    with pytest.raises(ValueError, match="is not set"):
        mb.resolve_config(None, [configs], "pose.mmpose.config")


def test_checkpoint_errors_name_the_file_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"checkpoint is not set.*https://download\.openmmlab\.com"):
        _estimator(config=RTMPOSE_COCO, checkpoint=None)
    missing = tmp_path / "rtmpose.pth"
    with pytest.raises(FileNotFoundError, match=rf"{missing}.*Weights:.*rtmpose_coco\.yml"):
        _estimator(config=RTMPOSE_COCO, checkpoint=str(missing), device="cpu")
    # A URL is downloaded once into torch's hub cache; offline, a clear error says where to put it.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = "http://127.0.0.1:9/mmpose/none-0000.pth"
    with pytest.raises(OSError, match=r"could not download http://127\.0\.0\.1:9/mmpose/none-0000\.pth.*"
                                      r"without internet"):
        mb.fetch_checkpoint(url, "pose.mmpose.checkpoint")
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "none-0000.pth"
    assert not cached.exists()                                       # no partial file left
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"x")
    assert mb.fetch_checkpoint(url, "pose.mmpose.checkpoint") == cached
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        mb.load_checkpoint_file(cached, "pose.mmpose.checkpoint", trust=False)


def test_checkpoint_loads_weights_metadata_and_versions(tmp_path, rtmpose):
    import torch
    state = {k: torch.randn_like(v, dtype=torch.float32) if v.is_floating_point() else v
             for k, v in rtmpose.model.state_dict().items()}
    meta = {"dataset_meta": rtmpose.model.dataset_meta}          # holds numpy arrays, as mmpose's do
    assert any(isinstance(v, np.ndarray) for v in meta["dataset_meta"].values())
    path = tmp_path / "rtmpose-t.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "meta": meta}, path)

    est = _estimator(config=RTMPOSE_COCO, checkpoint=str(path), boxes="frame", device="cpu")
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 10)
    torch.testing.assert_close(est.model.state_dict()[key], state[key])
    assert est.layout == "coco17" and sha256_prefix(path) in est.version
    assert est.version != rtmpose.version and "random" in rtmpose.version
    # A changed checkpoint file at the same path is another version (resumed parts are redone).
    state[key] = state[key] + 1
    torch.save({"state_dict": state, "meta": meta}, path)
    again = _estimator(config=RTMPOSE_COCO, checkpoint=str(path), boxes="frame", device="cpu")
    assert again.version != est.version

    # Python objects beyond tensors and numpy arrays need trust_checkpoint.
    odd = tmp_path / "odd.pth"
    torch.save({"state_dict": state, "meta": {"args": argparse.Namespace(lr=1)}}, odd)
    with pytest.raises(ValueError, match=r"odd\.pth holds Python objects.*trust_checkpoint: true"):
        _estimator(config=RTMPOSE_COCO, checkpoint=str(odd), boxes="frame", device="cpu")
    _estimator(config=RTMPOSE_COCO, checkpoint=str(odd), boxes="frame", device="cpu",
               trust_checkpoint=True)
    # Weights of another model do not fit the config: other names, or other shapes.
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.stem.0.weight": torch.zeros(3)}}, other)
    with pytest.raises(ValueError, match=r"other\.pth does not fit config .*rtmpose-t.*\d+ of \d+ "
                                         r"weights missing"):
        _estimator(config=RTMPOSE_COCO, checkpoint=str(other), boxes="frame", device="cpu")
    torch.save({"state_dict": {**state, key: torch.zeros(3)}}, other)
    with pytest.raises(ValueError, match=rf"other\.pth does not fit config .*1 weights of another shape "
                                         rf"\(e\.g\. size mismatch for {key}"):
        _estimator(config=RTMPOSE_COCO, checkpoint=str(other), boxes="frame", device="cpu")
    # A checkpoint from before MMPose 1.0 (keypoint_head.*, no module versions) is converted by
    # MMPose's own load_state_dict hook.
    head = next(k for k in state if k.startswith("head.") and state[k].is_floating_point())
    legacy = tmp_path / "legacy.pth"
    torch.save({"state_dict": {k.replace("head.", "keypoint_head.", 1) if k.startswith("head.") else k: v
                               for k, v in state.items()}}, legacy)
    old = _estimator(config=RTMPOSE_COCO, checkpoint=str(legacy), boxes="frame", device="cpu")
    torch.testing.assert_close(old.model.state_dict()[head], state[head])


def test_option_errors():
    with pytest.raises(ValueError, match="unknown pose.mmpose.mode 'sideways'"):
        _estimator(mode="sideways", **RANDOM)
    with pytest.raises(ValueError, match="unknown pose.mmpose.boxes"):
        _estimator(boxes="yolo", **RANDOM)
    with pytest.raises(ValueError, match="detector_config"):
        _estimator(config=RTMPOSE_COCO, boxes="mmdet", **RANDOM)
    with pytest.raises(ValueError, match="set pose.mmpose.mode to bottomup"):
        _estimator(config=RTMO_COCO, mode="topdown", **RANDOM)
    with pytest.raises(ValueError, match="set pose.mmpose.mode to topdown"):
        _estimator(config=RTMPOSE_COCO, mode="bottomup", **RANDOM)
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            mb.resolve_device("cuda")
    assert mb.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


# ------------------------------------------------------------------------------------------------
# Top-down

def test_whole_frame_box_maps_the_raw_output(rtmpose):
    frame = _frame()
    keypoints, scores, box_scores = rtmpose.predict(frame)
    assert keypoints.shape == (1, 17, 2) and scores.shape == (1, 17) and box_scores.tolist() == [1.0]
    det = rtmpose(frame)
    assert isinstance(det, Detections) and det.keypoints.dtype == np.float32
    raw = np.concatenate([keypoints, scores[..., None]], -1)
    expected = _expected(raw, "coco17", 0.0)
    present = expected[..., 2] > 0
    assert det.keypoints.shape == (int(present.any()), 14, 3)
    if present.any():
        np.testing.assert_allclose(det.keypoints, expected, rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(det.scores, expected[..., 2].mean(-1), rtol=1e-6)


def test_coco_mapping_ranking_thresholds_and_limit(monkeypatch):
    est = _estimator(config=RTMPOSE_COCO, boxes="frame", min_score=0.05,
                     keypoint_min_score=0.3, max_persons=2, **RANDOM)
    boxes = np.array([[10, 10, 60, 110], [70, 5, 120, 105], [125, 20, 155, 80], [0, 0, 1, 50]],
                     np.float32)
    box_scores = np.array([0.6, 0.9, 0.8, 0.99], np.float32)
    monkeypatch.setattr(est, "person_boxes", lambda frame: (boxes[:3], box_scores[:3]))
    joint_scores = {0: 0.9, 1: 0.95, 2: 0.5}                       # by box index

    def make(box):
        i = int(np.argmin(np.abs(boxes[:3] - box).sum(1)))
        scores = np.full(17, joint_scores[i], np.float32)
        scores[9] = 0.1                                              # left wrist: too weak
        scores[10] = 1.7                                             # SimCC scores can pass 1
        return _in_box(box), scores
    seen = _force_topdown(monkeypatch, est, make)
    det = est(_frame())
    # The boxes reach MMPose as given (xyxy, frame pixels).
    np.testing.assert_allclose(np.stack(seen), boxes[:3], atol=1e-4)
    # Person score = box score x mean of the 14 confidences; best two kept.
    people = []
    for i in range(3):
        kps, sc = make(boxes[i])
        people.append(_expected(np.concatenate([kps, sc[:, None]], 1), "coco17", 0.3))
    person_scores = box_scores[:3] * np.array([p[:, 2].mean() for p in people])
    order = np.argsort(-person_scores)[:2]
    assert det.keypoints.shape == (2, 14, 3)
    np.testing.assert_allclose(det.scores, person_scores[order], rtol=1e-5)
    np.testing.assert_allclose(det.keypoints, np.stack(people)[order], rtol=1e-5, equal_nan=True)
    top = det.keypoints[0]
    assert np.isnan(top[INDEX["left_wrist"], 0]) and top[INDEX["left_wrist"], 2] == 0
    assert top[INDEX["right_wrist"], 2] == 1.0                       # clipped to 1
    # Neck and head top are derived in pipeline.keypoints, from COCO's shoulders and nose.
    kps = _in_box(boxes[order[0]])
    neck = (kps[5] + kps[6]) / 2
    np.testing.assert_allclose(top[INDEX["neck"], :2], neck, atol=1e-4)
    np.testing.assert_allclose(top[INDEX["head_top"], :2], kps[0] + HEAD_TOP_FROM_NOSE * (kps[0] - neck),
                               atol=1e-4)
    assert top[INDEX["right_shoulder"], 0] < top[INDEX["left_shoulder"], 0]
    # min_score drops weak people; nobody left is an empty result.
    est.min_score = 0.99
    assert est(_frame()).keypoints.shape == (0, 14, 3)


def test_aic_model_maps_one_to_one(monkeypatch):
    est = _estimator(config=HRNET_AIC, boxes="frame", min_score=0.0, keypoint_min_score=0.2,
                     max_persons=1, **RANDOM)
    assert est.layout == "aic14"
    names = [est.model.dataset_meta["keypoint_id2name"][i] for i in range(14)]
    assert tuple(names) == KEYPOINT_NAMES
    rng = np.random.default_rng(1)
    keypoints = rng.uniform(0, 100, (14, 2)).astype(np.float32)
    scores = rng.uniform(0.3, 1.0, 14).astype(np.float32)
    scores[12] = 0.1                                                 # head top too weak
    _force_topdown(monkeypatch, est, lambda box: (keypoints, scores))
    det = est(_frame())
    expected = np.concatenate([keypoints, scores[:, None]], 1)
    expected[12] = (np.nan, np.nan, 0.0)
    np.testing.assert_allclose(det.keypoints[0], expected, rtol=1e-6, equal_nan=True)


def test_layout_from_the_model_or_given():
    with pytest.raises(ValueError, match=r"crowdpose.*neither COCO-17 nor AI Challenger 14.*layout"):
        _estimator(config=CROWDPOSE, boxes="frame", **RANDOM)
    forced = _estimator(config=CROWDPOSE, boxes="frame", layout="aic14", **RANDOM)
    assert forced.layout == "aic14" and "/aic14/" in forced.version
    with pytest.raises(ValueError, match="needs 17 keypoints"):
        _estimator(config=HRNET_AIC, boxes="frame", layout="coco17", **RANDOM)
    assert mb.infer_layout(list(mb.COCO17_NAMES) + ["head", "neck"]) == "coco17"   # Halpe-26
    assert mb.infer_layout(list(KEYPOINT_NAMES)) == "aic14"


def test_blazepose_and_hog_boxes_on_a_real_image(monkeypatch, shared_datasets):
    frame = _rgb(shared_datasets / "media" / "opencv_basketball1.png")
    est = _estimator(config=RTMPOSE_COCO, boxes="blazepose", min_score=0.0,
                     keypoint_min_score=0.0, max_persons=4, **RANDOM)
    assert "boxes-blazepose-" in est.version
    boxes, scores = est.person_boxes(frame)
    assert boxes.shape == (2, 4) and np.all(np.diff(scores) <= 0)    # both players, best first
    # Each box holds the BlazePose person's keypoints with the margin around them.
    people = est._blazepose.find_people(frame)
    for person, box in zip(people, boxes):
        size = person.box[2:] - person.box[:2]
        np.testing.assert_allclose(box, np.r_[person.box[:2] - 0.1 * size, person.box[2:] + 0.1 * size],
                                   rtol=1e-5)
    seen = _force_topdown(monkeypatch, est, lambda box: (_in_box(box), np.full(17, 0.8, np.float32)))
    det = est(frame)
    np.testing.assert_allclose(np.stack(seen), boxes, atol=1e-3)
    assert det.keypoints.shape == (2, 14, 3)
    np.testing.assert_allclose(det.scores, scores * 0.8, rtol=1e-5)

    hog = _estimator(config=RTMPOSE_COCO, boxes="hog", max_boxes=3, **RANDOM)
    boxes, scores = hog.person_boxes(frame)
    assert 1 <= len(boxes) <= 3 and np.all((scores > 0.5) & (scores < 1))


def test_no_boxes_is_nobody_unless_frame_fallback(monkeypatch):
    blank = np.zeros((120, 160, 3), np.uint8)
    for fallback, expected in ((False, 0), (True, 1)):
        est = _estimator(config=RTMPOSE_COCO, boxes="hog", frame_fallback=fallback,
                         min_score=0.0, **RANDOM)
        seen = _force_topdown(monkeypatch, est, lambda box: (_in_box(box), np.full(17, 0.9, np.float32)))
        det = est(blank)
        assert len(seen) == expected and det.keypoints.shape == (expected, 14, 3)
        if fallback:
            np.testing.assert_allclose(seen[0], [0, 0, 160, 120])
    assert est(np.zeros((4, 4, 3), np.uint8)).keypoints.shape == (0, 14, 3)
    with pytest.raises(ValueError, match="uint8"):
        est(np.zeros((20, 20, 3), np.float32))


def test_mmdet_boxes(monkeypatch, tmp_path):
    """A real RTMDet (random weights, saved as a checkpoint) runs end to end; then a fake detector
    checks which of its boxes become person boxes."""
    import torch
    from mmdet.apis import init_detector
    config = mb.resolve_config(RTMDET_PERSON, [mb.package_dir("mmpose", ".mim", "demo", "mmdetection_cfg")], "x")
    ckpt = tmp_path / "rtmdet.pth"
    torch.save({"state_dict": init_detector(str(config), None, device="cpu").state_dict()}, ckpt)
    est = _estimator(config=RTMPOSE_COCO, boxes="mmdet", detector_config=RTMDET_PERSON,
                     detector_checkpoint=str(ckpt), detector_score=0.0, max_boxes=3,
                     min_score=0.0, keypoint_min_score=0.0, **RANDOM)
    assert "boxes-mmdet-rtmdet_nano" in est.version and sha256_prefix(ckpt) in est.version
    boxes, scores = est.person_boxes(_frame())
    assert boxes.shape[1] == 4 and len(boxes) <= 3 and np.all(np.diff(scores) <= 0)
    assert est(_frame()).keypoints.shape[0] <= 3

    def fake_detector(config, checkpoint, device, trust):
        def detect(bgr):
            return (np.array([[0, 0, 50, 100], [10, 10, 60, 90], [70, 0, 150, 110], [5, 5, 6, 6]], np.float32),
                    np.array([0.9, 0.95, 0.3, 0.99], np.float32), np.array([0, 56, 0, 0]))
        return detect
    monkeypatch.setattr(mb, "load_mmdet_detector", fake_detector)
    est = _estimator(config=RTMPOSE_COCO, boxes="mmdet", detector_config=RTMDET_PERSON,
                     detector_checkpoint=str(ckpt), **RANDOM)
    boxes, scores = est.person_boxes(_frame())
    # Class 56 (chair) goes, the 0.3 box is under detector_score, the 1-pixel box is too small.
    np.testing.assert_allclose(boxes, [[0, 0, 50, 100]])
    np.testing.assert_allclose(scores, [0.9])


# ------------------------------------------------------------------------------------------------
# Bottom-up

def test_rtmo_bottom_up(monkeypatch):
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    import torch
    torch.manual_seed(2)   # random weights: RTMO's regressions run wild; with this seed most are finite
    est = _estimator(config=RTMO_COCO, mode="bottomup", min_score=0.0,
                     keypoint_min_score=0.1, max_persons=3, **RANDOM)
    assert est.layout == "coco17" and "/bottomup/" in est.version and "boxes" not in est.version
    frame = _frame(96, 128)
    keypoints, scores, instance_scores = est.predict(frame)
    assert keypoints.shape[1:] == (17, 2) and scores.shape == keypoints.shape[:2]
    assert len(instance_scores) == len(keypoints)
    det = est.finish(keypoints, scores, instance_scores)               # what est(frame) returns
    # The same people from the raw output by hand: mapped, ranked, at most 3.
    mapped = _expected(np.concatenate([keypoints, scores[..., None]], -1), "coco17", 0.1)
    person = instance_scores * mapped[..., 2].mean(-1)
    order = np.argsort(-person, kind="stable")[:3]
    order = order[(mapped[order, :, 2] > 0).any(-1)]
    assert det.keypoints.shape == (len(order), 14, 3)
    np.testing.assert_allclose(det.scores, person[order], rtol=1e-5)
    np.testing.assert_allclose(det.keypoints, mapped[order], rtol=1e-5, equal_nan=True)

    # Forced instances: ranking by instance score x mean confidence, the limit, the mapping.
    boxes = np.array([[0, 0, 40, 90], [40, 0, 80, 90], [80, 0, 120, 90], [0, 0, 120, 90]], np.float32)
    kps = np.stack([_in_box(b) for b in boxes])
    kp_scores = np.array([0.9, 0.8, 0.95, 0.4], np.float32)[:, None].repeat(17, 1)
    inst_scores = np.array([0.5, 0.9, 0.6, 0.99], np.float32)
    sample = PoseDataSample()
    sample.pred_instances = InstanceData(keypoints=kps, keypoint_scores=kp_scores,
                                         bbox_scores=inst_scores)
    monkeypatch.setattr(est.model, "test_step", lambda batch: [sample])
    det = est(frame)
    person = inst_scores * kp_scores[:, 0]
    order = np.argsort(-person)[:3]
    np.testing.assert_allclose(det.scores, person[order], rtol=1e-5)
    expected = _expected(np.concatenate([kps, kp_scores[..., None]], -1), "coco17", 0.0)
    np.testing.assert_allclose(det.keypoints, expected[order], rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# Batches

def _boxes_by_frame(counts):
    """person_boxes stand-in: frame i (its top-left pixel holds i) has counts[i] boxes."""
    def person_boxes(frame):
        i = int(frame[0, 0, 0])
        boxes = np.array([[10 + 30 * b, 5 + 3 * i, 50 + 30 * b, 110] for b in range(counts[i])], np.float32)
        return boxes.reshape(-1, 4), np.linspace(0.9, 0.5, counts[i]).astype(np.float32)
    return person_boxes


def _force_by_crop(monkeypatch, estimator):
    """Run the real model on each batch, then give every crop people that follow from its own
    pixels and box (random weights put SimCC's argmax anywhere: the least rounding moves it), so
    that a crop given to the wrong frame or box shows. Returns the batch sizes seen."""
    sizes = []
    real = estimator.model.test_step

    def test_step(batch):
        samples = real(batch)
        sizes.append(len(samples))
        for crop, sample in zip(batch["inputs"], samples):
            level = float(crop.float().mean()) / 255.0
            box = np.asarray(sample.pred_instances.bboxes[0], np.float32)
            sample.pred_instances.keypoints = (_in_box(box) + 20 * level)[None].astype(np.float32)
            sample.pred_instances.keypoint_scores = np.full((1, 17), 0.2 + 0.6 * level, np.float32)
        return samples
    monkeypatch.setattr(estimator.model, "test_step", test_step)
    return sizes


def test_batched_frames_give_the_frame_by_frame_people(monkeypatch, rtmpose):
    counts = [2, 0, 3, 1, 1, 2, 0]
    frames = []
    for i in range(len(counts)):
        frame = _frame(seed=i)
        frame[0, 0] = i
        frames.append(frame)
    monkeypatch.setattr(rtmpose, "person_boxes", _boxes_by_frame(counts))
    sizes = _force_by_crop(monkeypatch, rtmpose)
    one_by_one = [rtmpose(frame) for frame in frames]
    assert [len(d.scores) for d in one_by_one] == [min(c, 2) for c in counts]
    assert sizes == [c for c in counts if c]

    sizes.clear()
    monkeypatch.setattr(rtmpose, "batch_size", 4)
    batched = list(rtmpose.estimate_frames(iter(frames)))
    # Crops of several frames per forward pass, at least batch_size of them but in the last one.
    assert sum(sizes) == sum(counts) and len(sizes) < sum(c > 0 for c in counts)
    assert all(size >= 4 for size in sizes[:-1])
    assert len(batched) == len(frames)
    for a, b in zip(batched, one_by_one):
        assert a.keypoints.shape == b.keypoints.shape
        np.testing.assert_allclose(a.keypoints, b.keypoints, rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    # A frame the backend refuses fails the video, from inside the reading thread.
    with pytest.raises(ValueError, match="uint8"):
        list(rtmpose.estimate_frames([frames[0], frames[1].astype(np.float32)]))
    with pytest.raises(ValueError, match="batch_size"):
        _estimator(config=RTMPOSE_COCO, boxes="frame", batch_size=0, **RANDOM)


def test_blazepose_boxes_follow_people_through_a_video(monkeypatch):
    """In estimate_frames, BlazePose's person finding gets the previous frame's people and tiles
    every tile_every-th frame; frame by frame it runs on each frame alone."""
    from types import SimpleNamespace
    est = _estimator(config=RTMPOSE_COCO, boxes="blazepose", min_score=0.0, keypoint_min_score=0.0,
                     blazepose={"track": True, "tile_every": 3}, **RANDOM)
    calls = []

    def find_people(frame, tiles=None, tracked=()):
        calls.append((tiles, [p.score for p in tracked]))
        i = int(frame[0, 0, 0])
        return [SimpleNamespace(box=np.array([10 + i, 10, 60 + i, 100], np.float32), score=0.5 + 0.1 * i)]
    monkeypatch.setattr(est._blazepose, "find_people", find_people)
    frames = []
    for i in range(4):
        frame = _frame(seed=i)
        frame[0, 0] = i
        frames.append(frame)
    found = list(est.estimate_frames(iter(frames)))
    assert [len(d.scores) for d in found] == [1] * 4
    assert calls == [(None, []), (False, [0.5]), (False, [0.6]), (None, [0.7])]
    calls.clear()
    assert len(est(frames[1]).scores) == 1 and calls == [(None, [])]


def test_pose_stage_gives_the_backend_whole_videos(tmp_path, monkeypatch):
    """The stage hands a batching backend each video at once: one forward pass per video with
    batch_size 8 (4 frames, one box each), one per frame with batch_size 1, the same poses."""
    import pandas as pd
    import pyarrow.parquet as pq
    from PIL import Image
    from pipeline.datasets.base import Manifest
    from pipeline.pose.estimators import cached_estimator
    from pipeline.pose.runner import PoseSettings, run_pose_stage
    ids = ["a", "b"]
    for n, vid in enumerate(ids):
        (tmp_path / "frames" / vid).mkdir(parents=True)
        for f in range(4):
            pixels = (_frame(60, 80, seed=10 * n + f) * (0.2 + 0.1 * (4 * n + f))).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "frames" / vid / f"{f:06d}.jpg")
    pd.DataFrame({"video_id": ids, "path": "", "status": "ok", "error": "", "num_frames": 4,
                  "fps": 25.0, "width": 80, "height": 60}).to_parquet(tmp_path / "frames.parquet")
    Manifest("toy", ["a"], ["1"], pd.DataFrame({"video_id": ids, "path": ids, "label_id": 0, "label_name": "a",
                                                "group": "", "split_1": "train"})).save(tmp_path / "m.parquet")
    tables, sizes = {}, {}
    for batch_size in (1, 8):
        options = {"config": RTMPOSE_COCO, "boxes": "frame", "min_score": 0.0, "keypoint_min_score": 0.0,
                   "batch_size": batch_size, **RANDOM}
        # The stage's own (per-process, cached) estimator, its model outputs forced per crop.
        sizes[batch_size] = _force_by_crop(monkeypatch, cached_estimator("mmpose", tuple(sorted(options.items())), 1))
        settings = PoseSettings(estimator="mmpose", options=options, max_persons=1, dtype="float32",
                                frames_dir=str(tmp_path / "frames"))
        out = tmp_path / f"poses{batch_size}.parquet"
        run_pose_stage(tmp_path / "m.parquet", tmp_path / "frames.parquet", out, tmp_path / "v.parquet",
                       tmp_path / f"parts{batch_size}", settings=settings, workers=1, strict=True)
        tables[batch_size] = pq.read_table(out).to_pandas()
    cached_estimator.cache_clear()
    assert sizes == {1: [1] * 8, 8: [4, 4]}
    one, eight = tables[1], tables[8]
    assert len(one) == 8 and one[["video_id", "frame", "person"]].equals(eight[["video_id", "frame", "person"]])
    for column in ("x", "y", "score"):
        np.testing.assert_allclose(np.stack(one[column]), np.stack(eight[column]), rtol=1e-6)
    assert np.ptp(np.stack(one["x"])[:, 0]) > 0.01          # the frames' people differ


# ------------------------------------------------------------------------------------------------
# Registration, params, install message

def test_registered_and_cached_with_nested_options():
    from pipeline.params import load_params, parse_params
    from pipeline.pose.estimators import IMAGE_BACKENDS, build_estimator, cached_estimator
    import yaml
    assert "mmpose" in IMAGE_BACKENDS
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert load_params(ROOT / "params.yaml").pose.mmpose == raw["pose"]["mmpose"]
    raw["pose"]["estimator"] = "mmpose"
    assert parse_params(raw).pose.backend_options()["config"] == raw["pose"]["mmpose"]["config"]
    # params.yaml's block builds (here with random weights in place of its checkpoint URL).
    options = {**raw["pose"]["mmpose"], "checkpoint": None, "random_weights": True, "device": "cpu",
               "boxes": "frame", "cfg_options": {"model.test_cfg.flip_test": False}}
    est = build_estimator("mmpose", options, max_persons=2)
    assert est.name == "mmpose" and est.max_persons == 2 and not est.model.cfg.model.test_cfg.flip_test
    # Nested dicts in options (cfg_options, blazepose) are fine for the per-process cache.
    items = tuple(sorted(options.items()))
    assert cached_estimator("mmpose", items, 2) is cached_estimator("mmpose", items, 2)
    cached_estimator.cache_clear()


def _real_mmcv_and_torchvision() -> bool:
    code = "import mmcv.ops, torchvision"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_missing_mmcv_ops_says_what_to_install():
    if _real_mmcv_and_torchvision():
        pytest.skip("full mmcv and torchvision are installed")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", "from pipeline.pose.mmpose_backend import "
                          "MMPoseEstimator as E, MMPoseOptions as O; E(O(checkpoint='x.pth'))"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    message = run.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: the mmpose pose backend cannot import MMPose")
    for part in ("mmcv", "mim install mmcv==2.1.0", "pip uninstall -y mmcv-lite", "torchvision",
                 "requirements-mmpose.txt", "pose.mmpose.checkpoint"):
        assert part in message, part
