"""Pose-input preparation (pipeline/pose_inputs.py): filling missing joints from the person's track
and body, bridging, the visibility input, and what reaches the motion stream."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.pose_inputs import (PoseInputParams, PoseInputsError, clean_video, clip_inputs, from_run_info,
                                  parse_pose_inputs)
from pipeline.model.tmp import TMPModule

TRACK = PoseInputParams(fill="track", max_gap=4, bridge_gap=3)


def _walker(frames=40, persons=1, speed=0.004, seed=0):
    """People [F, N, 14, 3] whose skeleton (a fixed random shape) translates by ``speed`` per frame."""
    rng = np.random.default_rng(seed)
    out = np.zeros((frames, persons, 14, 3), np.float32)
    for n in range(persons):
        shape = rng.uniform(-0.1, 0.1, size=(14, 2))
        start = rng.uniform(0.3, 0.6, size=2)
        for f in range(frames):
            out[f, n, :, :2] = start + shape + np.array([speed * f, 0.5 * speed * f])
    out[..., 2] = 1.0
    return out


def _drop(points, mask):
    out = points.copy()
    out[..., :2][mask] = np.nan
    out[..., 2][mask] = 0.0
    return out


def test_gap_inside_limit_is_interpolated_and_longer_gap_is_not():
    clean = _walker()
    missing = np.zeros(clean.shape[:-1], bool)
    missing[10:14, 0, 2] = True        # 4 frames: within max_gap
    missing[20:26, 0, 5] = True        # 6 frames: beyond max_gap -> the body fallback
    out = clean_video(_drop(clean, missing), TRACK)
    np.testing.assert_allclose(out[10:14, 0, 2, :2], clean[10:14, 0, 2, :2], atol=1e-5)  # linear motion
    assert (out[10:14, 0, 2, 2] == 0).all()                                             # marked as filled
    # The body fallback puts the joint at its usual place relative to the body: exact for a rigid walker.
    np.testing.assert_allclose(out[20:26, 0, 5, :2], clean[20:26, 0, 5, :2], atol=1e-5)
    # Reported joints are untouched, and the stored input is not modified.
    assert np.array_equal(out[~missing], clean[~missing])


def test_ends_are_held_up_to_the_limit():
    clean = _walker()
    missing = np.zeros(clean.shape[:-1], bool)
    missing[:3, 0, 7] = True
    out = clean_video(_drop(clean, missing), PoseInputParams(max_gap=4, bridge_gap=0))
    np.testing.assert_allclose(out[:3, 0, 7, :2], np.repeat(clean[3:4, 0, 7, :2], 3, 0), atol=1e-6)


def test_joint_never_seen_goes_to_the_persons_centroid():
    clean = _walker()
    missing = np.zeros(clean.shape[:-1], bool)
    missing[:, 0, 12] = True
    out = clean_video(_drop(clean, missing), TRACK)
    centroid = np.delete(clean[:, 0, :, :2], 12, axis=1).mean(1)
    np.testing.assert_allclose(out[:, 0, 12, :2], centroid, atol=1e-5)


def test_short_absence_is_bridged_long_absence_is_not():
    clean = _walker()
    missing = np.zeros(clean.shape[:-1], bool)
    missing[10:13, 0] = True           # 3 frames: bridged
    missing[25:33, 0] = True           # 8 frames: the person left
    out = clean_video(_drop(clean, missing), TRACK)
    assert np.isfinite(out[10:13, 0, :, :2]).all()
    np.testing.assert_allclose(out[10:13, 0, :, :2], clean[10:13, 0, :, :2], atol=1e-5)
    assert np.isnan(out[25:33, 0, :, :2]).all()
    poses, visibility, mask = clip_inputs(out, TRACK)
    assert mask[10:13, 0].all() and not mask[25:33, 0].any()
    assert (visibility[10:13, 0] == 0).all() and (visibility[:10, 0] == 1).all()
    assert (poses[25:33, 0] == 0).all()


def test_gaps_count_in_the_frames_the_estimator_ran_on():
    """Predict estimates only the sampled frames: a gap of one sample is one frame of that sequence."""
    clean = _walker(frames=160)
    sampled = np.arange(5, 160, 10)
    stored = np.full_like(clean, np.nan)
    stored[..., 2] = 0
    stored[sampled] = clean[sampled]
    stored = _drop(stored, np.isin(np.arange(160), sampled[[6, 7]])[:, None, None] & np.ones((1, 1, 14), bool))
    out = clean_video(stored, TRACK, frames=sampled)
    np.testing.assert_allclose(out[sampled[[6, 7]], 0, :, :2], clean[sampled[[6, 7]], 0, :, :2], atol=1e-5)
    others = np.setdiff1d(np.arange(160), sampled)
    assert np.isnan(out[others, ..., :2]).all()     # frames never estimated are left alone
    assert np.isnan(clean_video(stored, TRACK)[sampled[6], 0, :, :2]).all()  # counted in all frames: too long


def test_zeros_is_the_papers_input():
    clean = _walker(frames=4)
    missing = np.zeros(clean.shape[:-1], bool)
    missing[1, 0, 3] = True
    missing[2, 0] = True
    pts = _drop(clean, missing)
    assert np.array_equal(clean_video(pts, PoseInputParams(fill="zeros")), pts, equal_nan=True)
    poses, visibility, mask = clip_inputs(pts, PoseInputParams(fill="zeros"))
    assert (poses[1, 0, 3] == 0).all() and mask.tolist() == [[True], [True], [False], [True]]
    assert visibility[1, 0, 3] == 0 and visibility[0, 0].all()


def test_clip_fill_has_no_gap_limit_and_never_creates_people():
    clean = _walker(frames=16, persons=2)
    missing = np.zeros(clean.shape[:-1], bool)
    missing[2:12, 0, 4] = True          # 10 steps: still interpolated inside a clip
    missing[:, 1] = True                # slot 1 empty throughout
    poses, visibility, mask = clip_inputs(_drop(clean, missing), TRACK)
    np.testing.assert_allclose(poses[2:12, 0, 4], clean[2:12, 0, 4, :2], atol=1e-5)
    assert not mask[:, 1].any() and (poses[:, 1] == 0).all() and (visibility[:, 1] == 0).all()


def _motion_inputs(tmp: TMPModule, poses, visibility, mask):
    """The sequence the motion TA-LSTM receives (eq. 15) for one clip (clip_inputs' outputs)."""
    seen = {}
    original = tmp.motion_rnn.forward

    def record(x, *a, **k):
        seen["x"] = x.detach().clone()
        return original(x, *a, **k)

    tmp.motion_rnn.forward = record
    with torch.no_grad():
        tmp(torch.from_numpy(poses)[None], torch.from_numpy(mask)[None], torch.from_numpy(visibility)[None])
    return seen["x"][0].numpy()


def _tmp(visibility=True):
    torch.manual_seed(0)
    return TMPModule(part_hidden=32, part_dim=100, pose_dim=128, hidden_size=64, window=5, bidirectional=True,
                     person_fusion="attention", joint_visibility=visibility).eval()


def test_motion_follows_real_motion_not_dropped_joints():
    """Flicker (30 % of joints dropped, the person lost in 2 frames) at random init: with the fill the
    motion stream's input stays close to the clean clip's; with zeros it is swamped by the flicker."""
    clean = _walker(frames=16, persons=2, speed=0.01, seed=1)
    rng = np.random.default_rng(2)
    missing = rng.random(clean.shape[:-1]) < 0.3
    missing[[5, 11], 0] = True
    flicker = _drop(clean, missing)
    tmp = _tmp()
    reference = _motion_inputs(tmp, *clip_inputs(clean, TRACK))
    size = np.linalg.norm(reference)
    errors = {}
    for fill in ("track", "zeros"):
        params = PoseInputParams(fill=fill, max_gap=4, bridge_gap=3)
        errors[fill] = np.linalg.norm(_motion_inputs(tmp, *clip_inputs(clean_video(flicker, params), params))
                                      - reference) / size
    assert errors["track"] < 0.35, errors
    assert errors["zeros"] > 3 * errors["track"], errors


def test_frame_with_nobody_gives_no_jump():
    clean = _walker(frames=8)
    missing = np.zeros(clean.shape[:-1], bool)
    missing[4, 0] = True
    poses, visibility, mask = clip_inputs(_drop(clean, missing), PoseInputParams(fill="track", bridge_gap=0))
    assert not mask[4].any()
    x = _motion_inputs(_tmp(), poses, visibility, mask)       # x[t] = P_{t+1} - P_t
    assert np.abs(x[3]).max() == 0 and np.abs(x[4]).max() == 0
    assert np.abs(x[2]).max() > 0 and np.abs(x[5]).max() > 0


def test_visibility_reaches_the_pose_rnn_only():
    """The visibility input changes the pose representation but not P_t (so not the motion stream)."""
    clean = _walker(frames=8)
    poses, visibility, mask = clip_inputs(clean, TRACK)
    tmp = _tmp()
    args = [torch.from_numpy(a)[None] for a in (poses, mask)]
    with torch.no_grad():
        a = tmp(*args, torch.from_numpy(visibility)[None])
        b = tmp(*args, torch.zeros_like(torch.from_numpy(visibility))[None])
    assert torch.equal(a.fused, b.fused) and torch.equal(a.motion, b.motion)
    assert not torch.allclose(a.pose, b.pose)


def test_params_and_checkpoint_record():
    assert parse_pose_inputs(None) == PoseInputParams()
    with pytest.raises(PoseInputsError, match="pose_inputs.fill"):
        parse_pose_inputs({"fill": "mean"})
    with pytest.raises(PoseInputsError, match="max_gap"):
        parse_pose_inputs({"max_gap": -1})
    with pytest.raises(PoseInputsError, match="unknown"):
        parse_pose_inputs({"gap": 3})
    # A checkpoint from before the section was trained on zeros; a recorded one is used as it is.
    assert from_run_info({"name": "old"}).fill == "zeros"
    assert from_run_info({"pose_inputs": {"fill": "track", "max_gap": 2, "bridge_gap": 1}}).max_gap == 2
