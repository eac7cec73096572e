"""BlazePose over a video (estimate_frames): by default exactly frame by frame; with tile_every the
tiles run on every k-th frame and on frames where nobody else is found, and with track the previous
frame's people are candidates, so a person only the tiles can see is kept between tiled frames."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.pose import blazepose_geometry as geo
from pipeline.pose.blazepose import BlazePoseEstimator, Candidate, Person


@pytest.fixture(scope="module")
def estimator():
    return BlazePoseEstimator(max_persons=2)


def test_default_video_mode_is_frame_by_frame(estimator, shared_datasets):
    import cv2
    cap = cv2.VideoCapture(str(shared_datasets / "media" / "opencv_vtest.avi"))
    frames = []
    for _ in range(3):
        ok, bgr = cap.read()
        assert ok
        frames.append(np.ascontiguousarray(cv2.resize(bgr, (320, 240))[..., ::-1]))
    cap.release()
    one_by_one = [estimator(f) for f in frames]
    assert sum(len(d.scores) for d in one_by_one) > 0
    for a, b in zip(estimator.estimate_frames(iter(frames)), one_by_one):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.scores, b.scores)


def _small_person_only_tiles_see(monkeypatch, estimator):
    """The detector finds one small person, on tiles only; the landmark model takes any ROI near
    that person. Returns the detector passes of each frame (appended per call, frame by frame)."""
    person_roi = geo.Roi(50.0, 60.0, 20.0, 20.0)
    passes: list[list[int]] = []

    def detect(frame, x0, y0, side):
        passes[-1].append(side)
        return [Candidate(person_roi, 0.9, "detector")] if side < max(frame.shape[:2]) else []

    def person(frame, cand):
        if abs(cand.roi.cx - person_roi.cx) > 5:
            return None
        kps = np.zeros((14, 3), np.float32)
        kps[:, 0], kps[:, 1], kps[:, 2] = np.linspace(45, 55, 14), np.linspace(50, 70, 14), 0.9
        return Person(np.zeros((33, 3), np.float32), 0.95, 0.9, kps, np.array([45, 50, 55, 70.0]),
                      cand.roi, np.ones((8, 8), bool), cand.source)
    monkeypatch.setattr(estimator, "_detect", detect)
    monkeypatch.setattr(estimator, "_person", person)
    return passes


def _run(estimator, passes, count=6):
    frames = [np.full((240, 320, 3), i, np.uint8) for i in range(count)]

    def counted():
        for f in frames:
            passes.append([])
            yield f
    return [len(d.scores) for d in estimator.estimate_frames(counted())]


def test_tiles_every_k_frames_with_tracking_keep_a_small_person(monkeypatch, estimator):
    passes = _small_person_only_tiles_see(monkeypatch, estimator)
    tiles = len(estimator._squares(240, 320)) - 1
    assert tiles == 6

    monkeypatch.setattr(estimator, "tile_every", 3)
    monkeypatch.setattr(estimator, "track", True)
    assert _run(estimator, passes) == [1] * 6
    # Tiles on frames 0 and 3; the person tracked on the others: one whole-frame pass each.
    assert [len(p) for p in passes] == [1 + tiles, 1, 1, 1 + tiles, 1, 1]

    # Without tracking, the frames between find nobody on the whole frame: the tiles run after all.
    passes.clear()
    monkeypatch.setattr(estimator, "track", False)
    assert _run(estimator, passes) == [1] * 6
    assert [len(p) for p in passes] == [1 + tiles] * 6

    # Frame by frame (the defaults): every frame tiled, the same people.
    passes.clear()
    monkeypatch.setattr(estimator, "tile_every", 1)
    assert _run(estimator, passes) == [1] * 6
    assert [len(p) for p in passes] == [1 + tiles] * 6
    with pytest.raises(ValueError, match="tile_every"):
        BlazePoseEstimator(tile_every=0)
