import numpy as np
import pytest

from pipeline.pose.schema import rank_and_limit
from pipeline.pose.tracking import (box_iou, keypoint_boxes, link_tracks, track_and_rank, track_features,
                                    track_people)


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


def _frames_of(kps: np.ndarray, x0: float) -> np.ndarray:
    """[F] bool: frames where some slot holds the person whose first joint is at x0."""
    return np.isclose(kps[:, :, 0, 0], x0).any(1)


def test_a_person_whose_track_breaks_into_six_pieces_keeps_all_frames():
    """A stands in all 60 frames but every 10 frames the detector's box jumps (IoU 0: a new track),
    so A's track breaks into 6 pieces, while B and C, more confident, are tracked throughout. The
    old tracker kept the N = 3 tracks of highest summed score: B, C and one piece of A (10 frames)."""
    frames = []
    for f in range(60):
        a = _person(300 + 60 * (f // 10))            # A's box jumps every 10 frames
        frames.append(_frame([a, _person(20), _person(120)], [0.5, 0.9, 0.9]))
    assert link_tracks(frames)[0].shape[1] == 8
    tracked = track_people(frames, 3)
    kps = tracked.keypoints
    a_x = 300 - 10 + 60 * (np.arange(60) // 10)
    a_slot = np.argmax(np.isclose(kps[:, :, 0, 0], a_x[:, None]), 1)
    assert np.isclose(kps[np.arange(60), a_slot, 0, 0], a_x).all()    # A in every one of the 60 frames
    assert len(set(a_slot)) == 1                                     # ... always in the same slot
    assert _frames_of(kps, 10).all() and _frames_of(kps, 110).all()
    assert tracked.detections_over_limit == 0 and tracked.tracks == 8


def test_pieces_separated_by_gaps_longer_than_max_gap_keep_every_detection():
    """A is lost for 3 frames (> max_gap = 2) after every 7 frames seen: 6 tracks; with another
    person in the video and N = 2, every one of A's 42 detections stays, in one slot."""
    frames = []
    for f in range(60):
        seen = f % 10 < 7
        frames.append(_frame([_person(200 + f)] * seen + [_person(20)], [0.4] * seen + [0.9]))
    assert link_tracks(frames, max_gap=2)[0].shape[1] == 7
    kps, _ = track_and_rank(frames, 2, max_gap=2)
    seen = np.arange(60) % 10 < 7
    in_slot = np.isclose(kps[:, :, 0, 0], (190 + np.arange(60))[:, None])
    assert (in_slot.any(1) == seen).all()
    assert len(set(np.nonzero(in_slot)[1])) == 1


def test_tracks_that_do_not_overlap_in_time_share_a_slot():
    """N = 1: A in frames 0-9, B far away in frames 15-24. The old tracker kept only one of them."""
    frames = [_frame([_person(30)], [0.8]) if f < 10 else
              _frame([_person(200)], [0.9]) if 15 <= f < 25 else _frame([], []) for f in range(25)]
    kps, scores = track_and_rank(frames, 1)
    assert kps.shape[1] == 1
    np.testing.assert_array_equal(_frames_of(kps, 20), np.arange(25) < 10)
    np.testing.assert_array_equal(_frames_of(kps, 190), (np.arange(25) >= 15))
    assert np.isnan(scores[10:15, 0]).all()


def test_with_more_than_n_people_the_lowest_scored_lose_only_the_overlapping_frames():
    """N = 2. A (0.9) in frames 0-39, B (0.8) in 0-19, C (0.3) in 10-39: in frames 10-19 three
    people are tracked at once, and C, the lowest summed score, loses those frames only; from
    frame 20 C takes the slot B left."""
    frames = []
    for f in range(40):
        people = [(_person(20), 0.9)] + [(_person(100), 0.8)] * (f < 20) + [(_person(200), 0.3)] * (f >= 10)
        frames.append(_frame([p for p, _ in people], [s for _, s in people]))
    tracked = track_people(frames, 2)
    kps = tracked.keypoints
    assert _frames_of(kps, 10).all()
    np.testing.assert_array_equal(_frames_of(kps, 90), np.arange(40) < 20)
    np.testing.assert_array_equal(_frames_of(kps, 190), np.arange(40) >= 20)
    b_slot = np.nonzero(np.isclose(kps[0, :, 0, 0], 90))[0][0]
    assert np.isclose(kps[20:, b_slot, 0, 0], 190).all()
    assert tracked.detections_over_limit == 10


def _ghost(cx: float, f: int, step: float) -> np.ndarray:
    return _person(cx + step * f, cy=200)


def test_short_static_low_score_tracks_are_filtered_short_moving_or_confident_ones_kept():
    """Two frames each, besides a person tracked throughout: a static low-score track (a false
    person on an object), a low-score one moving a fifth of its height per frame, a static confident
    one. With a motion limit, only the first goes; with the measured default (any motion), the
    moving low-score one goes too; the confident one always stays."""
    frames = []
    for f in range(20):
        people = [(_person(20 + f), 0.9)]
        if 5 <= f < 7:
            people += [(_ghost(100, f, 0), 0.1), (_ghost(300, f, 8), 0.1), (_ghost(500, f, 0), 0.8)]
        frames.append(_frame([p for p, _ in people], [s for _, s in people]))
    kps, scores = link_tracks(frames)
    motion = track_features(kps, scores)["motion"]
    assert motion[1] == 0 and motion[2] == pytest.approx(0.2) and motion[3] == 0
    kept = {}
    for max_motion in (0.1, float("inf")):
        tracked = track_people(frames, 4, filter_max_frames=3, filter_max_score=0.2, filter_max_motion=max_motion)
        out = tracked.keypoints
        kept[max_motion] = {x for x in (90, 290 + 48, 490) if np.isclose(out[6, :, 0, 0], x).any()}
        assert np.isclose(out[np.arange(20), :, 0, 0], (10 + np.arange(20))[:, None]).any(1).all()
        assert tracked.tracks_filtered == 4 - 1 - len(kept[max_motion])
        assert tracked.detections_filtered == 2 * tracked.tracks_filtered
    assert kept[0.1] == {338, 490} and kept[float("inf")] == {490}
    assert track_people(frames, 4).tracks_filtered == 0                # filter off by default


def _random_scene(seed: int):
    """Six people walking on random paths, entering and leaving at random, each missed by the
    detector now and then, listed in a random order per frame."""
    rng = np.random.default_rng(seed)
    start, length = rng.integers(0, 40, 6), rng.integers(5, 40, 6)
    x0, vx, score = rng.uniform(0, 600, 6), rng.uniform(-3, 3, 6), rng.uniform(0.3, 1.0, 6)
    frames = []
    for f in range(80):
        here = [p for p in range(6) if start[p] <= f < start[p] + length[p] and rng.random() > 0.15]
        rng.shuffle(here)
        frames.append(_frame([_person(x0[p] + vx[p] * f, cy=100 + 150 * (p % 3)) for p in here],
                             [score[p] for p in here]))
    return frames


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_slot_assignment_is_deterministic_and_a_track_never_changes_slot(seed):
    frames = _random_scene(seed)
    a, b = track_people(frames, 3), track_people(frames, 3)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.scores, b.scores)
    # with as many slots as tracks nobody competes: every detection is kept, each track in one slot
    kps, scores = link_tracks(frames)
    wide = track_people(frames, kps.shape[1])
    present = (kps[..., 2] > 0).any(-1)
    assert wide.detections_over_limit == 0
    assert (wide.keypoints[..., 2] > 0).any(-1).sum() == present.sum()
    for t in range(kps.shape[1]):
        slots = {int(np.nonzero(np.isclose(wide.keypoints[f, :, 0, 0], kps[f, t, 0, 0])
                                & np.isclose(wide.keypoints[f, :, 0, 1], kps[f, t, 0, 1]))[0][0])
                 for f in np.nonzero(present[:, t])[0]}
        assert len(slots) == 1
    # N = 3: a detection is lost only in frames where more than 3 tracks are live (between their
    # first and last detection), and then the live ones of highest summed score keep the slots
    kept = (a.keypoints[..., 2] > 0).any(-1).sum(1)
    frame = np.arange(len(frames))[:, None]
    first, last = present.argmax(0), len(frames) - 1 - present[::-1].argmax(0)
    live = (frame >= first) & (frame <= last)
    lost = kept < present.sum(1)
    assert lost.any() and (live.sum(1)[lost] > 3).all()
    assert a.detections_over_limit == present.sum() - kept.sum()


def test_a_new_track_continues_the_slot_of_the_person_it_resumes():
    """N = 4, max_gap 0. A (x 100) is lost for 2 frames and comes back at the same place: a new
    track, which takes A's slot rather than an unused one or the one C (x 400) left. D, who
    appears far from where anybody ended, takes an unused slot."""
    frames = []
    for f in range(20):
        people = [(_person(250), 0.9)]                       # B, throughout
        if f < 8 or f >= 10:
            people.append((_person(100), 0.6))               # A, lost in frames 8-9
        if f < 5:
            people.append((_person(400), 0.7))               # C, leaves at frame 5
        if f >= 12:
            people.append((_person(550, cy=300), 0.5))       # D, somewhere else
        frames.append(_frame([p for p, _ in people], [s for _, s in people]))
    kps, _ = track_and_rank(frames, 4, max_gap=0)

    def slots(x):
        return {int(s) for f in range(20) for s in np.nonzero(np.isclose(kps[f, :, 0, 0], x - 10))[0]}
    assert len(slots(100)) == 1                              # A's two tracks in one slot
    assert slots(550).isdisjoint(slots(100) | slots(400) | slots(250))


def test_a_newcomer_far_from_everyone_takes_the_slot_vacated_longest_ago():
    """N = 3, every slot used: B throughout, A (x 100) until frame 3, C (x 400) until frame 7. D
    appears at frame 10 far from both (x 700): it takes A's slot, vacated first, not C's, where
    filling the 2-frame gap would slide C into D."""
    frames = []
    for f in range(20):
        people = [(_person(250, cy=300), 0.9)]
        people += [(_person(100), 0.6)] * (f <= 3) + [(_person(400), 0.6)] * (f <= 7)
        people += [(_person(700), 0.6)] * (f >= 10)
        frames.append(_frame([p for p, _ in people], [s for _, s in people]))
    kps, _ = track_and_rank(frames, 3)
    slot = {x: int(np.nonzero(np.isclose(kps[f, :, 0, 0], x - 10))[0][0]) for x, f in ((100, 0), (400, 0), (700, 10))}
    assert slot[700] == slot[100] != slot[400]
