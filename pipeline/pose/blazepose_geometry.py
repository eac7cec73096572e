"""Geometry of the BlazePose two-stage pipeline, written from the published model description:
SSD anchors of the person detector, decoding of its raw outputs, weighted non-maximum suppression,
rotated regions of interest (ROIs) built from two alignment points, and the affine crop that feeds
a ROI to a model and maps the model's points back into the frame.

Coordinates are continuous pixel coordinates of the frame: the frame spans [0, W] x [0, H] and pixel
(i, j) has its centre at (i + 0.5, j + 0.5), so that x / W equals MediaPipe's normalised x.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# The pose_detection model: 224 x 224 input, 2254 anchors on feature maps of strides 8, 16, 32 (the
# three stride-32 layers share one 7 x 7 map). With fixed-size anchors every anchor has w = h = 1 and
# each layer contributes two anchors per cell (aspect ratio 1 and the interpolated scale).
DETECTOR_INPUT = 224
DETECTOR_STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2
ANCHOR_OFFSET = 0.5
DETECTOR_NUM_KEYPOINTS = 4      # hip centre, full-body circle point, shoulder centre, upper-body circle point
SCORE_CLIP = 100.0
NMS_IOU = 0.3                   # weighted NMS overlap threshold of the detector
# ROI from two alignment points: centre = point 0, side = 2 |p1 - p0| enlarged 1.25 times, rotated so
# that p0 -> p1 points up (target angle 90 degrees).
ROI_SCALE = 1.25
TARGET_ANGLE = math.pi / 2


def ssd_anchors(input_size: int = DETECTOR_INPUT, strides=DETECTOR_STRIDES,
                per_layer: int = ANCHORS_PER_LAYER, offset: float = ANCHOR_OFFSET) -> np.ndarray:
    """Anchor centres [A, 2] (x, y) normalised to the detector input, in the model's output order:
    feature map by feature map, rows, columns, then the anchors of a cell."""
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n_cell = per_layer * (j - i)            # layers sharing a stride stack their anchors per cell
        size = math.ceil(input_size / strides[i])
        ys, xs = np.meshgrid((np.arange(size) + offset) / size, (np.arange(size) + offset) / size,
                             indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, n_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -SCORE_CLIP, SCORE_CLIP)))


@dataclass
class RawDetections:
    """Detector output in normalised input coordinates: boxes [D, 4] (x0, y0, x1, y1),
    keypoints [D, 4, 2], scores [D]."""
    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float, input_size: int = DETECTOR_INPUT) -> RawDetections:
    """raw_boxes [A, 4 + 2K] (x, y order: centre offset, width, height, then K keypoint offsets, all in
    input pixels relative to the anchor); raw_scores [A] logits."""
    scores = sigmoid(raw_scores.reshape(-1))
    keep = scores >= min_score
    raw, anc, scores = raw_boxes[keep] / input_size, anchors[keep], scores[keep]
    cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:].reshape(len(raw), (raw_boxes.shape[1] - 4) // 2, 2) + anc[:, None, :]
    return RawDetections(boxes.astype(np.float32), kps.astype(np.float32), scores.astype(np.float32))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes a [N, 4] and b [M, 4] (x0, y0, x1, y1)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(det: RawDetections, iou_threshold: float = NMS_IOU) -> RawDetections:
    """Greedy clustering by score; each cluster's box and keypoints are the score-weighted mean of its
    members and its score that of its best member."""
    order = np.argsort(-det.scores)
    remaining = list(order)
    boxes, kps, scores = [], [], []
    while remaining:
        top = remaining[0]
        ious = box_iou(det.boxes[top], det.boxes[remaining])[0]
        members = [r for r, iou in zip(remaining, ious) if iou > iou_threshold or r == top]
        w = det.scores[members][:, None]
        boxes.append((det.boxes[members] * w).sum(0) / w.sum())
        kps.append((det.keypoints[members] * w[:, :, None]).sum(0) / w.sum())
        scores.append(det.scores[top])
        member_set = set(members)
        remaining = [r for r in remaining if r not in member_set]
    if not scores:
        return RawDetections(np.zeros((0, 4), np.float32),
                             np.zeros((0,) + det.keypoints.shape[1:], np.float32), np.zeros(0, np.float32))
    return RawDetections(np.array(boxes, np.float32), np.array(kps, np.float32), np.array(scores, np.float32))


@dataclass(frozen=True)
class Roi:
    """A rotated rectangle in frame pixels: centre, width, height and a rotation (radians; positive
    turns the rectangle's up axis towards the frame's +x, i.e. clockwise on screen)."""
    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    def to_frame(self, uv: np.ndarray) -> np.ndarray:
        """Points [..., 2] normalised to the ROI ([0, 1]^2 inside) -> frame pixels."""
        uv = np.asarray(uv, np.float64)
        dx = (uv[..., 0] - 0.5) * self.width
        dy = (uv[..., 1] - 0.5) * self.height
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return np.stack([self.cx + c * dx - s * dy, self.cy + s * dx + c * dy], axis=-1)

    def from_frame(self, xy: np.ndarray) -> np.ndarray:
        """Frame pixels [..., 2] -> normalised ROI coordinates (the inverse of to_frame)."""
        xy = np.asarray(xy, np.float64)
        dx, dy = xy[..., 0] - self.cx, xy[..., 1] - self.cy
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return np.stack([(c * dx + s * dy) / self.width + 0.5,
                         (-s * dx + c * dy) / self.height + 0.5], axis=-1)

    def corners(self) -> np.ndarray:
        return self.to_frame(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64))

    def bounds(self) -> np.ndarray:
        c = self.corners()
        return np.array([c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()])


def roi_from_alignment(p0, p1, scale: float = ROI_SCALE) -> Roi:
    """The square ROI MediaPipe builds from two alignment points (detector keypoints 0 and 1, or the
    landmark model's two auxiliary points): centred on p0, side 2 |p1 - p0| x scale, rotated so that
    p0 -> p1 points up."""
    (x0, y0), (x1, y1) = p0, p1
    side = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    rotation = TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0)
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
    return Roi(float(x0), float(y0), side, side, rotation)


def roi_from_box(box, scale: float = 1.0) -> Roi:
    """An upright square ROI around an axis-aligned box (x0, y0, x1, y1): side = longer side x scale."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * scale
    return Roi((x0 + x1) / 2, (y0 + y1) / 2, side, side, 0.0)


def crop(image: np.ndarray, roi: Roi, size: int, border: str = "replicate") -> np.ndarray:
    """Warp the (rotated) ROI of ``image`` to a ``size`` x ``size`` image, bilinear; outside the
    frame the edge pixels repeat (``border="replicate"``, as MediaPipe feeds the landmark model) or
    are black (``"zero"``)."""
    # Output pixel (u, v) has its centre at normalised ((u + 0.5) / size, (v + 0.5) / size); the
    # frame point it samples is roi.to_frame of that, and OpenCV indexes source pixel centres at
    # integer coordinates, hence the -0.5.
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    a = roi.width / size
    b = roi.height / size
    m = np.array([
        [c * a, -s * b, roi.cx + c * (0.5 * a - roi.width / 2) - s * (0.5 * b - roi.height / 2) - 0.5],
        [s * a, c * b, roi.cy + s * (0.5 * a - roi.width / 2) + c * (0.5 * b - roi.height / 2) - 0.5],
    ])
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=mode, borderValue=0)


def crop_upright(image: np.ndarray, x0: int, y0: int, side: int, size: int) -> tuple[np.ndarray, Roi]:
    """The square [x0, x0 + side) x [y0, y0 + side) of ``image`` (black outside the frame) resized to
    ``size`` x ``size`` with area averaging (no aliasing when shrinking, as for the detector's
    letterboxed input), and the exact ROI it covers."""
    h, w = image.shape[:2]
    sq = np.zeros((side, side) + image.shape[2:], image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        sq[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(sq, (size, size), interpolation=interp)
    return out, Roi(x0 + side / 2, y0 + side / 2, float(side), float(side), 0.0)


# Heatmap refinement of the landmark model's points (kernel of 7 heatmap cells, as MediaPipe runs
# the full model): a landmark moves to the confidence-weighted centroid of the 7 x 7 window of its
# heatmap around it when the window's highest confidence reaches 0.5.
REFINE_KERNEL = 7
REFINE_MIN_CONFIDENCE = 0.5


def refine_with_heatmap(uv: np.ndarray, heatmap: np.ndarray, kernel: int = REFINE_KERNEL,
                        min_confidence: float = REFINE_MIN_CONFIDENCE) -> np.ndarray:
    """uv [J, 2] normalised to the crop; heatmap [h, w, >= J] logits. Returns refined uv."""
    hh, ww = heatmap.shape[:2]
    out = np.array(uv, np.float64, copy=True)
    r = kernel // 2
    for j in range(len(out)):
        cx, cy = int(out[j, 0] * ww), int(out[j, 1] * hh)
        x0, x1, y0, y1 = max(cx - r, 0), min(cx + r + 1, ww), max(cy - r, 0), min(cy + r + 1, hh)
        if x0 >= x1 or y0 >= y1:
            continue
        conf = sigmoid(heatmap[y0:y1, x0:x1, j])
        total = conf.sum()
        if conf.max() < min_confidence or total <= 0:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        out[j, 0] = (conf * xs).sum() / total / ww
        out[j, 1] = (conf * ys).sum() / total / hh
    return out
