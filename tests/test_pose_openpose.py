"""The openpose backend: PAF grouping on heat maps and PAFs rendered from known skeletons, the OpenCV
DNN path on a tiny Caffe model the test writes, the mapping to the 14 keypoints, the pyopenpose path
(skipped without pyopenpose)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from pipeline.keypoints import INDEX, LAYOUTS, HEAD_TOP_FROM_NOSE, to_aic14
from pipeline.pose.base import Detections
from pipeline.pose.openpose import (OpenPoseEstimator, import_pyopenpose, net_input_size)
from pipeline.pose.paf_grouping import (BODY_25, COCO_18, HEATMAPS_FIRST, PAFS_FIRST,
                                        GroupingParams, find_peaks, group_people)

# A standing person facing the camera (their right on the image's left), BODY_25 order, in units of
# the person's height, x about the body's axis, y down from the top of the head.
B25_TEMPLATE = np.array([
    (0.0, 0.10), (0.0, 0.20), (-0.12, 0.21), (-0.16, 0.38), (-0.18, 0.53),      # nose..r wrist
    (0.12, 0.21), (0.16, 0.38), (0.18, 0.53), (0.0, 0.52), (-0.07, 0.52),      # l sho..r hip
    (-0.08, 0.72), (-0.08, 0.92), (0.07, 0.52), (0.08, 0.72), (0.08, 0.92),    # r knee..l ankle
    (-0.025, 0.08), (0.025, 0.08), (-0.05, 0.09), (0.05, 0.09),                # eyes, ears
    (0.11, 0.98), (0.14, 0.97), (0.075, 0.95), (-0.11, 0.98), (-0.14, 0.97), (-0.075, 0.95),
], dtype=np.float64)
# COCO-18 part i is BODY_25 part B25_TO_COCO[i] (COCO has no mid-hip and no feet).
B25_TO_COCO = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
L_ELBOW, L_WRIST = 6, 7   # same index in both layouts
MAP_SHAPE = (190, 250)


def _three_people_b25() -> list[np.ndarray]:
    """A and B stand side by side with their left forearms crossing each other (same limb type,
    X-shaped) and A's left wrist ending on B's hip, next to B's right wrist; C stands apart and has no
    left elbow and wrist (a missing limb)."""
    a = B25_TEMPLATE * 150 + (70, 25)
    a[L_ELBOW], a[L_WRIST] = (105, 80), (140, 110)
    b = B25_TEMPLATE * 150 + (150, 30)
    b[L_ELBOW], b[L_WRIST] = (150, 90), (115, 100)
    c = B25_TEMPLATE * 100 + (215, 40)
    c[[L_ELBOW, L_WRIST]] = np.nan
    return [a, b, c]


def _people(model) -> list[np.ndarray]:
    people = _three_people_b25()
    return people if model is BODY_25 else [p[B25_TO_COCO] for p in people]


def render_maps(model, people, shape=MAP_SHAPE, sigma=2.5, half_width=2.0):
    """What an ideal network would output: a Gaussian at every joint (max over people) and, for every
    limb, the unit vector from part a to part b within half_width of the segment (averaged where
    people overlap, as in the PAF paper). Missing joints (NaN) get no peak and their limbs no PAF."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    heat = np.zeros((model.num_parts, height, width), np.float32)
    for person in people:
        for j, (x, y) in enumerate(person):
            if np.isfinite(x):
                heat[j] = np.maximum(heat[j], np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)))
    pafs = np.zeros((model.num_pafs, height, width), np.float32)
    for (part_a, part_b), (cx, cy) in zip(model.limbs, model.paf_channels):
        total = np.zeros((2, height, width))
        count = np.zeros((height, width))
        for person in people:
            pa, pb = person[part_a], person[part_b]
            if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
                continue
            length = np.linalg.norm(pb - pa)
            ux, uy = (pb - pa) / length
            rx, ry = xs - pa[0], ys - pa[1]
            along, across = rx * ux + ry * uy, np.abs(rx * uy - ry * ux)
            inside = (along >= -1.0) & (along <= length + 1.0) & (across <= half_width)
            total[0][inside] += ux
            total[1][inside] += uy
            count[inside] += 1
        hit = count > 0
        pafs[cx][hit] = total[0][hit] / count[hit]
        pafs[cy][hit] = total[1][hit] / count[hit]
    return heat, pafs


def _match(found: np.ndarray, expected: list[np.ndarray]) -> list[int]:
    """Index into ``found`` of each expected person, by the neck (part 1), one to one."""
    necks = found[:, 1, :2]
    picks = [int(np.nanargmin(np.linalg.norm(necks - person[1], axis=1))) for person in expected]
    assert len(set(picks)) == len(picks), picks
    return picks


# ------------------------------------------------------------------------------------------------
# Tables and layout

def test_limb_tables_match_openpose_and_keypoint_layouts():
    for model, parts, limbs, channels in ((BODY_25, 25, 26, 78), (COCO_18, 18, 19, 57)):
        assert (model.num_parts, len(model.limbs), model.num_channels) == (parts, limbs, channels)
        # Every PAF channel is used exactly once, by one limb.
        used = sorted(c for pair in model.paf_channels for c in pair)
        assert used == list(range(model.num_pafs))
        # Part names agree with the index mapping pipeline.keypoints uses for the same layout.
        for target, row in enumerate(LAYOUTS[model.layout]):
            name = next(n for n, i in INDEX.items() if i == target)
            if len(row) == 1 and name in model.part_names:
                assert list(row) == [model.part_names.index(name)], name
    # Spot checks against OpenPose's POSE_BODY_PART_PAIRS / POSE_MAP_INDEX.
    assert BODY_25.limbs[0] == (1, 8) and BODY_25.paf_channels[0] == (0, 1)
    assert BODY_25.limbs[-1] == (11, 24) and BODY_25.paf_channels[-1] == (50, 51)
    assert COCO_18.limbs[0] == (1, 2) and COCO_18.paf_channels[0] == (12, 13)
    assert COCO_18.limbs[-2:] == ((2, 16), (5, 17))          # shoulder-ear links, same side
    assert COCO_18.part_names[16] == "right_ear" and BODY_25.part_names[17] == "right_ear"


def test_split_output_layouts():
    output = np.arange(BODY_25.num_channels, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3))
    heat, pafs = BODY_25.split_output(output, HEATMAPS_FIRST)
    assert heat.shape == (25, 2, 3) and pafs.shape == (52, 2, 3)
    assert heat[0, 0, 0] == 0 and pafs[0, 0, 0] == 26           # background (25) skipped
    heat, pafs = BODY_25.split_output(output, PAFS_FIRST)
    assert pafs[0, 0, 0] == 0 and heat[0, 0, 0] == 52
    with pytest.raises(ValueError, match="78"):
        BODY_25.split_output(output[:57])


# ------------------------------------------------------------------------------------------------
# Grouping

def test_peaks_are_subpixel():
    heat, _ = render_maps(BODY_25, [B25_TEMPLATE * 150 + (70.3, 25.6)])
    peaks = find_peaks(heat)
    expected = B25_TEMPLATE * 150 + (70.3, 25.6)
    for j, p in enumerate(peaks):
        assert len(p) == 1
        np.testing.assert_allclose(p[0, :2], expected[j], atol=0.05)
        assert p[0, 2] > 0.9
    # A flat-topped peak (2 x 2 equal maxima) is one peak, not four.
    flat = np.zeros((1, 9, 9), np.float32)
    flat[0, 3:5, 3:5] = 1.0
    (peak,) = find_peaks(flat)
    assert len(peak) == 1 and np.all(np.abs(peak[0, :2] - 3.5) <= 0.5 + 1e-6)


@pytest.mark.parametrize("model", [BODY_25, COCO_18], ids=["body25", "coco18"])
def test_grouping_three_people_with_crossing_limbs(model):
    people = _people(model)
    heat, pafs = render_maps(model, people)
    keypoints, scores = group_people(heat, pafs, model)
    assert keypoints.shape == (3, model.num_parts, 3) and scores.shape == (3,)
    assert np.all(np.diff(scores) <= 0)                           # best first
    for person, index in zip(people, _match(keypoints, people)):
        found = keypoints[index]
        present = np.isfinite(person[:, 0])
        np.testing.assert_allclose(found[present, :2], person[present], atol=1.0)
        assert np.all(found[present, 2] > 0.9)
        # The missing left elbow and wrist of C stay missing; the rest of C is kept.
        assert np.all(np.isnan(found[~present, :2])) and np.all(found[~present, 2] == 0)
    # The incomplete person ranks last.
    assert np.isnan(keypoints[-1, L_WRIST, 0])


def test_grouping_merges_partial_skeletons():
    """Without the neck-nose PAF the head grows as a person of its own (nose, eyes, ears); the
    shoulder-ear limbs, processed later, must merge it into the body."""
    people = _people(BODY_25)
    heat, pafs = render_maps(BODY_25, people)
    cx, cy = BODY_25.paf_channels[BODY_25.limbs.index((1, 0))]
    pafs[[cx, cy]] = 0.0
    keypoints, _ = group_people(heat, pafs, BODY_25)
    assert len(keypoints) == 3
    for person, index in zip(people, _match(keypoints, people)):
        present = np.isfinite(person[:, 0])
        np.testing.assert_allclose(keypoints[index, present, :2], person[present], atol=1.0)


def test_grouping_max_persons_keeps_the_best():
    people = _people(BODY_25)
    heat, pafs = render_maps(BODY_25, people)
    keypoints, scores = group_people(heat, pafs, BODY_25, max_persons=2)
    assert keypoints.shape[0] == 2 and scores.shape == (2,)
    _match(keypoints, people[:2])                                 # A and B, not C
    assert np.isfinite(keypoints[:, L_WRIST, 0]).all()


def test_grouping_empty_and_sparse_maps():
    shape = (BODY_25.num_parts,) + MAP_SHAPE
    keypoints, scores = group_people(np.zeros(shape, np.float32),
                                     np.zeros((BODY_25.num_pafs,) + MAP_SHAPE, np.float32), BODY_25)
    assert keypoints.shape == (0, 25, 3) and scores.shape == (0,)
    # Peaks without any PAF: no limbs, so no people.
    heat, pafs = render_maps(BODY_25, _people(BODY_25))
    keypoints, _ = group_people(heat, np.zeros_like(pafs), BODY_25)
    assert len(keypoints) == 0
    # Only two parts joined by one limb: fewer than min_parts (3).
    two = [np.where(np.isin(np.arange(25), [1, 8])[:, None], _people(BODY_25)[0], np.nan)]
    heat, pafs = render_maps(BODY_25, two)
    assert len(group_people(heat, pafs, BODY_25)[0]) == 0
    assert len(group_people(heat, pafs, BODY_25, GroupingParams(min_parts=2))[0]) == 1


# ------------------------------------------------------------------------------------------------
# Mapping to the 14 keypoints

@pytest.mark.parametrize("model", [BODY_25, COCO_18], ids=["body25", "coco18"])
def test_mapping_to_aic14(model):
    skeleton = _people(model)[0]
    points = np.concatenate([skeleton, np.ones((len(skeleton), 1))], axis=1)
    mapped = to_aic14(points, model.layout)
    names = model.part_names
    for name in ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                 "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                 "left_ankle", "neck"):
        np.testing.assert_allclose(mapped[INDEX[name], :2], skeleton[names.index(name)], atol=1e-4)
    # Facing the camera: the person's right is on the image's left.
    assert mapped[INDEX["right_shoulder"], 0] < mapped[INDEX["left_shoulder"], 0]
    nose, neck = skeleton[names.index("nose")], skeleton[names.index("neck")]
    np.testing.assert_allclose(mapped[INDEX["head_top"], :2],
                               nose + HEAD_TOP_FROM_NOSE * (nose - neck), atol=1e-4)
    assert mapped[INDEX["head_top"], 1] < nose[1]                  # above the nose


# ------------------------------------------------------------------------------------------------
# OpenCV DNN path on a tiny Caffe model written here

def _caffe_message_classes():
    """The few caffe.proto messages a .caffemodel needs (field numbers as in BVLC caffe.proto),
    built with the protobuf descriptor API."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="test_caffe_subset.proto", package="caffe",
                                               syntax="proto2")

    def message(name, *fields):
        msg = proto.message_type.add(name=name)
        for field_name, number, field_type, repeated, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=field_type,
                                  label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name
            if repeated and field_type in (F.TYPE_FLOAT, F.TYPE_INT64):
                field.options.packed = True

    message("BlobShape", ("dim", 1, F.TYPE_INT64, True, None))
    message("BlobProto", ("data", 5, F.TYPE_FLOAT, True, None),
            ("shape", 7, F.TYPE_MESSAGE, False, ".caffe.BlobShape"))
    message("LayerParameter", ("name", 1, F.TYPE_STRING, False, None),
            ("type", 2, F.TYPE_STRING, False, None),
            ("blobs", 7, F.TYPE_MESSAGE, True, ".caffe.BlobProto"))
    message("NetParameter", ("name", 1, F.TYPE_STRING, False, None),
            ("layer", 100, F.TYPE_MESSAGE, True, ".caffe.LayerParameter"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}"))
            for name in ("BlobProto", "LayerParameter", "NetParameter")}


# Joint offsets in stride-8 cells from the blob the test network detects (BODY_25 order).
CELL_SKELETON = np.array([
    (0, -8), (0, -6), (-2, -6), (-3, -3), (-4, 0), (2, -6), (3, -3), (4, 0), (0, 0), (-1, 0),
    (-1, 4), (-1, 8), (1, 0), (1, 4), (1, 8), (-1, -9), (1, -9), (-2, -8), (2, -8), (2, 10),
    (3, 10), (1, 9), (-2, 10), (-3, 10), (-1, 9)], dtype=np.int64)
RADIUS = 10   # cells; the heat-map kernel is (2 RADIUS + 1) square


def write_test_model(folder, model, legacy_input: bool):
    """A Caffe "OpenPose" that finds blue blobs: blue channel (+0.5, so black is 0) -> 8x8 average
    pooling (stride 8, like the real networks) -> heat map j = the pooled blob shifted by the
    skeleton offset of part j (a delta kernel) -> PAFs = constant unit vectors along each limb of that
    skeleton -> Concat(heat maps with an empty background, PAFs), named net_output like OpenPose's.
    So one blue blob in the frame is one person with known joints. Written with OpenPose's file
    names; ``legacy_input``: the old ``input:``/``input_dim`` header of the real prototxts, else an
    Input layer."""
    from pipeline.pose.openpose import MODEL_FILES
    skeleton = CELL_SKELETON if model is BODY_25 else CELL_SKELETON[B25_TO_COCO]
    num_heat, num_paf = model.num_heatmaps, model.num_pafs
    k = 2 * RADIUS + 1
    if legacy_input:
        header = 'input: "image"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 16\ninput_dim: 16\n'
    else:
        header = ('layer { name: "image" type: "Input" top: "image" '
                  'input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }\n')
    prototxt = header + f"""
layer {{ name: "blue" type: "Convolution" bottom: "image" top: "blue"
  convolution_param {{ num_output: 1 kernel_size: 1 }} }}
layer {{ name: "cells" type: "Pooling" bottom: "blue" top: "cells"
  pooling_param {{ pool: AVE kernel_size: 8 stride: 8 }} }}
layer {{ name: "heat" type: "Convolution" bottom: "cells" top: "heat"
  convolution_param {{ num_output: {num_heat} kernel_size: {k} pad: {RADIUS} }} }}
layer {{ name: "paf" type: "Convolution" bottom: "cells" top: "paf"
  convolution_param {{ num_output: {num_paf} kernel_size: 1 }} }}
layer {{ name: "net_output" type: "Concat" bottom: "heat" bottom: "paf" top: "net_output"
  concat_param {{ axis: 1 }} }}
"""
    blue_w = np.array([1.0, 0.0, 0.0], np.float32).reshape(1, 3, 1, 1)   # BGR: blue is channel 0
    heat_w = np.zeros((num_heat, 1, k, k), np.float32)
    for j, (dx, dy) in enumerate(skeleton):
        heat_w[j, 0, RADIUS - dy, RADIUS - dx] = 1.0                      # heat_j(c) = cells(c - s_j)
    paf_b = np.zeros(num_paf, np.float32)
    for (a, b), (cx, cy) in zip(model.limbs, model.paf_channels):
        direction = (skeleton[b] - skeleton[a]).astype(np.float64)
        paf_b[cx], paf_b[cy] = direction / np.linalg.norm(direction)
    weights = {"blue": (blue_w, np.array([0.5], np.float32)),
               "heat": (heat_w, np.zeros(num_heat, np.float32)),
               "paf": (np.zeros((num_paf, 1, 1, 1), np.float32), paf_b)}

    classes = _caffe_message_classes()
    net = classes["NetParameter"](name="tiny_openpose")
    for name, blobs in weights.items():
        layer = net.layer.add(name=name, type="Convolution")
        for array in blobs:
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(array.ravel().tolist())
    prototxt_rel, weights_rel = MODEL_FILES["body25" if model is BODY_25 else "coco"]
    (folder / prototxt_rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / prototxt_rel).write_text(prototxt)
    (folder / weights_rel).write_bytes(net.SerializeToString())
    return skeleton


def _blue_blobs(shape, centres, sigma=12.0):
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    blue = np.zeros(shape)
    for x, y in centres:
        blue = np.maximum(blue, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)))
    frame = np.zeros(shape + (3,), np.uint8)
    frame[..., 2] = np.round(255 * blue).astype(np.uint8)               # RGB: blue is channel 2
    return frame


@pytest.mark.parametrize("model,legacy_input,nested", [(BODY_25, True, False), (COCO_18, False, True)],
                         ids=["body25-legacy-input", "coco18-input-layer"])
def test_opencv_path_on_written_caffe_model(tmp_path, model, legacy_input, nested):
    models = tmp_path / "models"
    skeleton = write_test_model(models, model, legacy_input)
    name = "body25" if model is BODY_25 else "coco"
    # The models/ folder itself, or an OpenPose checkout holding it.
    estimator = OpenPoseEstimator(model_dir=tmp_path if nested else models, model=name,
                                  input_height=368, max_persons=4)
    assert estimator.name == "openpose" and name in estimator.version

    frame_shape = (480, 640)
    centres = [(150.0, 200.0), (480.0, 290.0)]
    frame = _blue_blobs(frame_shape, centres)
    net_h, net_w = net_input_size(*frame_shape, 368)
    assert (net_h, net_w) == (368, 488)
    output = estimator.forward(frame)
    assert output.shape == (model.num_channels, net_h // 8, net_w // 8)

    detections = estimator(frame)
    assert isinstance(detections, Detections)
    assert detections.keypoints.shape == (2, 14, 3) and detections.keypoints.dtype == np.float32
    assert detections.scores.dtype == np.float32 and np.all(np.diff(detections.scores) <= 0)
    # Where the joints must land in the frame: blob centre + skeleton offset in cells x 8 net pixels,
    # scaled by the frame / network-input ratio of each axis.
    scale = np.array([frame_shape[1] / net_w, frame_shape[0] / net_h])
    for centre in centres:
        joints = np.asarray(centre) + skeleton * 8 * scale
        expected = to_aic14(np.concatenate([joints, np.ones((len(joints), 1))], 1), model.layout)
        necks = detections.keypoints[:, INDEX["neck"], :2]
        found = detections.keypoints[np.argmin(np.linalg.norm(necks - expected[INDEX["neck"], :2], axis=1))]
        np.testing.assert_allclose(found[:, :2], expected[:, :2], atol=1.0)
        assert np.all((found[:, 2] > 0.5) & (found[:, 2] <= 1.0))
        # Grouping on the stride-8 maps (no upsampling) maps to the same frame pixels.
        estimator.upsample = False
        coarse = estimator(frame).keypoints
        estimator.upsample = True
        neck_error = np.linalg.norm(coarse[:, INDEX["neck"], :2] - expected[INDEX["neck"], :2], axis=1)
        found = coarse[np.argmin(neck_error)]
        np.testing.assert_allclose(found[:, :2], expected[:, :2], atol=1.0)

    # The N limit, and a frame with nobody.
    estimator.max_persons = 1
    assert estimator(frame).keypoints.shape == (1, 14, 3)
    empty = estimator(np.zeros((120, 200, 3), np.uint8))
    assert empty.keypoints.shape == (0, 14, 3) and empty.scores.shape == (0,)
    # The network sees BGR: a red blob (blue channel empty) is nobody.
    assert len(estimator(frame[..., ::-1].copy()).scores) == 0


def test_missing_model_files_name_the_file_and_the_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pose_iter_584000\.caffemodel.*getModels\.sh"):
        OpenPoseEstimator(model_dir=tmp_path, model="body25")
    with pytest.raises(FileNotFoundError, match="model_dir"):
        OpenPoseEstimator(model_dir=None)
    with pytest.raises(ValueError, match="unknown OpenPose model"):
        OpenPoseEstimator(model_dir=tmp_path, model="mpi")


# ------------------------------------------------------------------------------------------------
# pyopenpose

def _pyopenpose_available() -> bool:
    try:
        import_pyopenpose()
        return True
    except ImportError:
        return False


HAVE_PYOPENPOSE = _pyopenpose_available()


@pytest.mark.skipif(HAVE_PYOPENPOSE, reason="pyopenpose is installed")
def test_pyopenpose_absent_gives_build_instructions(tmp_path):
    with pytest.raises(ImportError, match="BUILD_PYTHON"):
        OpenPoseEstimator(model_dir=tmp_path, backend="pyopenpose")


@pytest.mark.skipif(not HAVE_PYOPENPOSE, reason="pyopenpose (OpenPose's Python API) is not installed")
def test_pyopenpose_backend_runs():
    model_dir = os.environ.get("OPENPOSE_MODEL_DIR")
    if not model_dir:
        pytest.skip("set OPENPOSE_MODEL_DIR to OpenPose's models/ folder to run pyopenpose")
    estimator = OpenPoseEstimator(model_dir=model_dir, backend="pyopenpose", max_persons=2)
    detections = estimator(np.zeros((240, 320, 3), np.uint8))
    assert isinstance(detections, Detections) and len(detections.scores) <= 2
