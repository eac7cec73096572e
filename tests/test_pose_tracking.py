import numpy as np
import pytest

from pipeline.pose.schema import rank_and_limit
from pipeline.pose.tracking import box_iou, keypoint_boxes, link_tracks, track_and_rank


def _person(cx: float, cy: float = 50.0, half: float = 10.0) -> np.ndarray:
    kp = np.zeros((14, 3), np.float32)
    kp[:, 0] = cx + np.linspace(-half, half, 14)
    kp[:, 1] = cy + np.linspace(-2 * half, 2 * half, 14)
    kp[:, 2] = 1.0
    return kp


def _frame(people, scores):
    if not people:
        return np.zeros((0, 14, 3), np.float32), np.zeros((0,), np.float32)
    return np.stack(people), np.asarray(scores, np.float32)


def test_boxes_and_iou():
    kp = np.stack([_person(50), _person(50)])
    kp[1, 3:, 2] = 0                     # only three joints of the second person
    kp[1, :, :2][kp[1, :, 2] == 0] = np.nan
    boxes = keypoint_boxes(kp)
    np.testing.assert_allclose(boxes[0], [40, 30, 60, 70])
    assert boxes[1, 0] == pytest.approx(40) and boxes[1, 2] < 50
    iou = box_iou(np.array([[0, 0, 8, 8]]), np.array([[0, 0, 8, 8], [4, 0, 12, 8], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou[0], [1.0, 60 / 140, 0.0], atol=1e-6)   # grown by 1 px: 10x10 boxes


def test_people_who_swap_rank_keep_their_slots():
    """A walks right, B walks left; their scores swap halfway. Ranking each frame alone moves A
    from slot 0 to slot 1; tracking keeps each of them in one slot."""
    frames = []
    for f in range(10):
        a, b = _person(20 + 2 * f), _person(150 - 2 * f)
        sa, sb = (0.9, 0.6) if f < 5 else (0.5, 0.8)
        frames.append(_frame([a, b], [sa, sb]))
    per_frame = [rank_and_limit(k, s, 2)[0] for k, s in frames]
    assert per_frame[0][0, 0, 0] < 100 and per_frame[9][0, 0, 0] > 100     # slot 0 hops from A to B
    kps, scores = track_and_rank(frames, 2)
    a_slot = int(np.argmin(kps[0, :, 0, 0]))
    assert np.all(np.diff(kps[:, a_slot, 0, 0]) == 2)                      # A moves right in its slot
    assert np.all(np.diff(kps[:, 1 - a_slot, 0, 0]) == -2)
    assert np.nansum(scores[:, 0]) >= np.nansum(scores[:, 1])             # best track first


def test_short_gaps_rejoin_long_gaps_start_a_new_track():
    frames = [_frame([_person(40 + f)], [0.9]) for f in range(4)]
    frames += [_frame([], [])] * 3                                     # lost for 3 frames
    frames += [_frame([_person(47)], [0.9])]
    kps, _ = link_tracks(frames, max_gap=5)
    assert kps.shape[1] == 1 and kps[7, 0, 0, 2] == 1
    kps, _ = link_tracks(frames, max_gap=2)
    assert kps.shape[1] == 2 and kps[7, 1, 0, 2] == 1 and kps[7, 0, 0, 2] == 0


def test_a_confident_flash_does_not_displace_a_long_track():
    frames = [_frame([_person(40)], [0.6]) for _ in range(8)]
    frames[3] = _frame([_person(40), _person(150)], [0.6, 0.99])          # one frame, far away
    kps, scores = track_and_rank(frames, 1)
    assert np.all(kps[:, 0, 0, 0] == 30) and np.allclose(scores[:, 0], 0.6)


def test_no_people_at_all():
    kps, scores = track_and_rank([_frame([], [])] * 3, 4)
    assert kps.shape == (3, 4, 14, 3) and (kps[..., 2] == 0).all() and np.isnan(scores).all()
