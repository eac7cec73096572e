"""Person boxes from OpenCV's HOG + linear SVM pedestrian detector (Dalal & Triggs; the detector
ships inside OpenCV, no weight file). It finds whole upright people of at least about 100 pixels,
so frames are resized to ``work_height`` rows first: small frames up (small people become
detectable), big frames down (the multi-scale scan is slow)."""
from __future__ import annotations

import cv2
import numpy as np

_HOG = None


def _hog():
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        _HOG.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return _HOG


def hog_people(frame_rgb: np.ndarray, work_height: int = 480, scale: float = 1.05,
               min_weight: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [N, 4] (x0, y0, x1, y1) in frame pixels and SVM margins [N] of people found, after
    OpenCV's mean-shift grouping."""
    h, w = frame_rgb.shape[:2]
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    f = work_height / h
    if abs(f - 1) > 1e-3:
        gray = cv2.resize(gray, (max(64, round(w * f)), work_height),
                          interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    if gray.shape[0] < 128 or gray.shape[1] < 64:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    rects, weights = _hog().detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=scale)
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    rects = np.asarray(rects, np.float32).reshape(-1, 4)
    weights = np.asarray(weights, np.float32).reshape(-1)
    boxes = np.stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]], 1) / f
    keep = weights >= min_weight
    return boxes[keep], weights[keep]
