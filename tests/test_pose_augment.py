"""Keypoint augmentation (pipeline.pose_augment), its params section and ClipDataset hook, and the
pose-only guard of training (issue 8)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.data import ClipDataset, SplitData, View, apply_view_points
from pipeline.keypoints import EDGES, FLIP_PERM, INDEX, flip_horizontal
from pipeline.model import ModelConfig
from pipeline.params import ParamsError, TrainParams, load_params, parse_params
from pipeline.pose_augment import (PoseAugmentError, PoseAugmentParams, augment_points, clip_centre,
                                   drop_joints, from_run_info, parse_pose_augment, person_box, present_mask,
                                   transform_points)
from pipeline.train import train_run

ROOT = Path(__file__).resolve().parents[1]


def _clip(t=6, n=2, seed=0, missing=0.2):
    """[T, N, 14, 3] random points in the view with some joints missing (NaN, conf 0)."""
    rng = np.random.default_rng(seed)
    pts = np.zeros((t, n, 14, 3), np.float32)
    pts[..., :2] = rng.uniform(0.2, 0.8, size=(t, n, 14, 2))
    pts[..., 2] = 1.0
    gone = rng.random((t, n, 14)) < missing
    pts[..., :2][gone] = np.nan
    pts[..., 2][gone] = 0.0
    return pts


def _bones(pts):
    a, b = np.array(EDGES).T
    return np.linalg.norm(pts[..., a, :2] - pts[..., b, :2], axis=-1)


def test_defaults_are_off_and_change_nothing():
    p = PoseAugmentParams()
    assert not p.active
    pts = _clip()
    np.testing.assert_array_equal(augment_points(pts, p, np.random.default_rng(0)), pts)


@pytest.mark.parametrize("params", [PoseAugmentParams(rotation=30), PoseAugmentParams(rotation=45, scale=0.3),
                                    PoseAugmentParams(rotation=20, scale=0.2, shift=0.1)])
def test_similarity_keeps_bone_length_ratios(params):
    pts = _clip(missing=0.0)
    out = augment_points(pts, params, np.random.default_rng(1))
    before, after = _bones(pts), _bones(out)
    ratio = after / before
    # One similarity per clip: every bone of every frame and person scales by the same factor.
    assert np.allclose(ratio, ratio.flat[0], rtol=1e-4)
    if params.scale == 0:
        assert np.allclose(ratio, 1.0, rtol=1e-4)
    else:
        assert 1 - params.scale - 1e-6 <= ratio.flat[0] <= 1 + params.scale + 1e-6


def test_rotation_turns_about_the_clip_centre_by_at_most_the_angle():
    pts = _clip(missing=0.0)
    centre = clip_centre(pts)
    angles = []
    for seed in range(200):
        out = augment_points(pts, PoseAugmentParams(rotation=20), np.random.default_rng(seed))
        assert np.allclose(clip_centre(out), centre, atol=1e-5)
        v0, v1 = pts[0, 0, 0, :2] - centre, out[0, 0, 0, :2] - centre
        angles.append(np.degrees(np.arctan2(np.cross(v0, v1), v0 @ v1)))
    angles = np.array(angles)
    assert np.abs(angles).max() <= 20 + 1e-3 and angles.min() < -10 and angles.max() > 10


def test_transform_points_is_the_affine_map():
    pts = _clip(t=1, n=1, missing=0.0)
    linear = np.array([[0.0, -2.0], [2.0, 0.0]], np.float32)
    out = transform_points(pts, linear, np.array([0.1, -0.1], np.float32), np.array([0.5, 0.5], np.float32))
    x, y = pts[0, 0, 3, :2] - 0.5
    assert out[0, 0, 3, :2] == pytest.approx([-2 * y + 0.6, 2 * x + 0.4], abs=1e-6)
    assert (out[..., 2] == pts[..., 2]).all()


def test_joint_dropout_rate_and_missing_stay_missing():
    pts = _clip(t=50, n=4, missing=0.3)
    before = present_mask(pts)
    out = drop_joints(pts, 0.25, np.random.default_rng(0))
    after = present_mask(out)
    assert not (after & ~before).any()                  # nothing missing comes back
    rate = 1 - after[before].mean()
    assert 0.22 < rate < 0.28
    assert np.isnan(out[..., :2][~after]).all() and (out[..., 2][~after] == 0).all()
    assert np.isfinite(out[..., :2][after]).all()


def test_full_augmentation_keeps_missing_joints_missing_and_is_seeded():
    pts = _clip(missing=0.3)
    p = PoseAugmentParams(scale=0.2, stretch=0.1, rotation=15, shift=0.1, joint_drop=0.1, jitter=0.01)
    a = augment_points(pts, p, np.random.default_rng(5))
    b = augment_points(pts, p, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    gone = ~present_mask(pts)
    assert np.isnan(a[..., :2][gone]).all() and (a[..., 2][gone] == 0).all()
    assert np.isfinite(a[..., :2][present_mask(a)]).all()
    c = augment_points(pts, p, np.random.default_rng(6))
    assert not np.allclose(np.nan_to_num(a), np.nan_to_num(c))


def test_a_clip_with_nobody_stays_empty():
    pts = np.full((4, 1, 14, 3), np.nan, np.float32)
    pts[..., 2] = 0
    p = PoseAugmentParams(scale=0.2, rotation=15, shift=0.1, joint_drop=0.1, jitter=0.01)
    out = augment_points(pts, p, np.random.default_rng(0))
    assert np.isnan(out[..., :2]).all() and (out[..., 2] == 0).all()


def test_flip_swaps_sides_and_is_an_involution():
    pts = _clip(missing=0.2)
    flipped = flip_horizontal(pts)
    r, l = INDEX["right_wrist"], INDEX["left_wrist"]
    np.testing.assert_allclose(flipped[..., l, 0], 1 - pts[..., r, 0])
    np.testing.assert_array_equal(flipped[..., l, 1], pts[..., r, 1])
    np.testing.assert_array_equal(flipped[..., INDEX["neck"], 1], pts[..., INDEX["neck"], 1])
    np.testing.assert_allclose(flip_horizontal(flipped), pts, atol=1e-6)
    # The crop view's flip (what training uses) does the same swap.
    view = View((0.0, 0.0, 1.0, 1.0), 112, flip=True)
    via_view = apply_view_points(pts, 1.0, 1.0, view)
    np.testing.assert_allclose(via_view, flipped, atol=1e-6)
    np.testing.assert_allclose(apply_view_points(via_view, 1.0, 1.0, view), pts, atol=1e-6)
    assert sorted(FLIP_PERM) == list(range(14))


def test_params_section_parsing_and_errors():
    assert parse_pose_augment(None) == PoseAugmentParams()
    assert parse_pose_augment({"rotation": 10, "joint_drop": 0.1}).rotation == 10
    for bad, message in [({"rotate": 1}, "unknown key"), ({"joint_drop": 1.0}, "joint_drop"),
                         ({"rotation": -1}, "rotation"), ({"scale": True}, "scale"), ([1], "mapping")]:
        with pytest.raises(PoseAugmentError, match=message):
            parse_pose_augment(bad)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert parse_params(raw).pose_augment == PoseAugmentParams()  # absent section: off
    raw["pose_augment"] = {"scale": 2.0}
    with pytest.raises(ParamsError, match="pose_augment.scale"):
        parse_params(raw)


def _index(n=4, frames=12):
    return pd.DataFrame({"video_id": [f"v{i}" for i in range(n)], "label_id": [i % 2 for i in range(n)],
                         "subset": ["train"] * n, "num_frames": [frames] * n,
                         "seg_start": [[0, 3, 6, 9]] * n, "seg_end": [[3, 6, 9, 12]] * n, "mid": [[1, 4, 7, 10]] * n})


def _poses(n=4, frames=12):
    rng = np.random.default_rng(0)
    out = {}
    for i in range(n):
        p = np.zeros((frames, 1, 14, 3), np.float32)
        p[..., :2] = rng.uniform(0.3, 0.7, size=(frames, 1, 14, 2))
        p[..., 2] = 1
        p[:, 0, 5] = (np.nan, np.nan, 0)  # one joint never visible
        out[f"v{i}"] = p
    return out


def _dataset(train, aug, poses=None, size=(160, 120), frames_dir=None):
    return ClipDataset(_index(), frames_dir=frames_dir, poses=poses or _poses(), sizes={f"v{i}": size for i in range(4)},
                       max_persons=1, train=train, input_size=32, resize_short=32, crop_scales=(1.0,),
                       flip_prob=0.0, seed=0, pose_augment=aug)


def test_clip_dataset_augments_training_clips_only():
    aug = PoseAugmentParams(rotation=30, scale=0.2, joint_drop=0.2)
    plain_train, aug_train = _dataset(True, None)[1], _dataset(True, aug)[1]
    assert plain_train["frame_indices"].tolist() == aug_train["frame_indices"].tolist()  # same draws first
    assert not np.allclose(plain_train["poses"].numpy(), aug_train["poses"].numpy())
    # The never-visible joint is never reported: visibility 0 (filled from the body, pipeline.pose_inputs).
    assert (aug_train["visibility"][..., 5] == 0).all() and (aug_train["points"][..., 5, 2] == 0).all()
    # Dropped joints are filled, not zero, and marked as not reported.
    dropped = (aug_train["visibility"] == 0) & (plain_train["visibility"] == 1)
    assert dropped.any() and (aug_train["poses"][dropped] != 0).all()
    test_plain, test_aug = _dataset(False, None)[1], _dataset(False, aug)[1]
    assert np.array_equal(test_plain["poses"].numpy(), test_aug["poses"].numpy())


def _settings(**kw):
    base = dict(input_size=32, resize_short=32, crop_scales=(1.0,), flip_prob=0.0, batch_size=2, epochs=1,
                lr=0.01, warmup_steps=1, momentum=0.9, weight_decay=0.0, schedule="constant", optimizer="sgd",
                workers=0, threads=1, device="cpu", amp=False, pose_warmup_epochs=0, pose_warmup_lr=0.0, backbone_lr_mult=0.2, min_steps=0, **kw)
    return TrainParams(**base)


@pytest.mark.parametrize("variant", ["sa", "tmp_sa", "tmp_pa", "parnet"])
def test_appearance_variants_on_a_pose_only_dataset_are_a_clear_error(tmp_path, variant):
    data = SplitData(index=_index(), classes=["a", "b"], poses=_poses(), sizes={f"v{i}": (160, 120) for i in range(4)},
                     pose_only=True)
    config = ModelConfig(num_classes=2, variant=variant, backbone="resnet_tiny", backbone_width=4, hidden_size=8,
                         pose_dim=8, appearance_dim=8, part_dim=8, part_hidden=4, num_persons=1,
                         pretrained=None, joint_visibility=False, pa_joint_map=False)
    with pytest.raises(ValueError, match=rf"pose-only.*model.variant: tmp.*'{variant}'"):
        train_run(data, frames_dir=None, model_config=config, s=_settings(), seed=0, run_dir=tmp_path / "run",
                  plots_dir=tmp_path / "plots", run_info={"dataset": "penn", "split": "1"})
    assert not (tmp_path / "run" / "model.pt").exists()


def test_penn_action_profile_parses_and_trains_the_pose_stream_only():
    p = load_params(ROOT / "bench" / "penn_action" / "params.yaml")
    assert p.datasets["penn"].adapter == "penn_action"
    assert p.datasets["penn"].root == "../shared/datasets/penn_action"
    assert p.runs["penn_1"].dataset == "penn" and p.runs["penn_1"].split == "1"
    assert p.model.variant == "tmp" and p.pose.estimator == "groundtruth"
    assert p.train.threads == 1 and p.train.workers in (0, 1)
    assert p.index.val_fraction > 0  # model selection on held-out training videos


def test_person_box_is_a_square_around_the_present_joints():
    pts = np.full((2, 1, 14, 3), np.nan, np.float32)
    pts[..., 2] = 0
    pts[0, 0, 0] = (0.25, 0.5, 1)   # (40, 60) px in a 160 x 120 frame
    pts[1, 0, 3] = (0.5, 0.75, 1)   # (80, 90) px
    box = person_box(pts, 160, 120, margin=0.5)
    assert box == pytest.approx((60 - 30, 75 - 30, 60 + 30, 75 + 30))  # extent 40 x 30 -> side 1.5 x 40
    empty = np.full((2, 1, 14, 3), np.nan, np.float32)
    empty[..., 2] = 0
    assert person_box(empty, 160, 120, 0.2) is None


def test_person_view_sees_the_same_clip_wherever_and_however_large_the_people_are():
    aug = PoseAugmentParams(view="person", person_margin=0.25)
    poses = _poses()
    ref = _dataset(False, aug, poses=poses)[1]
    present = ref["points"][..., 2] > 0
    xy = ref["points"][..., :2][present]
    assert (xy >= 0.1 - 1e-5).all() and (xy <= 0.9 + 1e-5).all()      # margin 0.25: 1/1.25 of the side
    assert float((xy.max(0).values - xy.min(0).values).max()) == pytest.approx(0.8, abs=1e-4)
    # The same people moved and scaled in a larger frame give the same view coordinates.
    moved = {}
    for k, v in poses.items():
        p = v.copy()
        p[..., 0] = (p[..., 0] * 160 * 2 + 300) / 640   # pixels x2, shifted, in a 640 x 480 frame
        p[..., 1] = (p[..., 1] * 120 * 2 + 100) / 480
        moved[k] = p
    other = _dataset(False, aug, poses=moved, size=(640, 480))[1]
    np.testing.assert_allclose(other["poses"].numpy(), ref["poses"].numpy(), atol=1e-4)
    # The crop view does depend on where they are.
    crop = _dataset(False, None, poses=moved, size=(640, 480))[1]
    assert not np.allclose(crop["poses"].numpy(), ref["poses"].numpy(), atol=1e-2)


def test_person_view_needs_a_clip_without_frames(tmp_path):
    with pytest.raises(ValueError, match="view: person"):
        _dataset(False, PoseAugmentParams(view="person"), frames_dir=tmp_path)
    data = SplitData(index=_index(), classes=["a", "b"], poses=_poses(), sizes={f"v{i}": (160, 120) for i in range(4)},
                     pose_only=False)
    config = ModelConfig(num_classes=2, variant="tmp_sa", backbone="resnet_tiny", backbone_width=4, hidden_size=8,
                         pose_dim=8, appearance_dim=8, part_dim=8, part_hidden=4, num_persons=1,
                         pretrained=None, joint_visibility=False, pa_joint_map=False)
    with pytest.raises(ValueError, match="view: person is for variants without appearance"):
        train_run(data, frames_dir=tmp_path, model_config=config, s=_settings(), seed=0, run_dir=tmp_path / "run",
                  plots_dir=tmp_path / "plots", run_info={}, pose_augment=PoseAugmentParams(view="person"))


def test_the_view_travels_in_the_checkpoint_run_info():
    from pipeline.runs import run_spec
    p = load_params(ROOT / "bench" / "penn_action" / "params.yaml")
    info = run_spec(p, "penn_1", num_classes=15).info()
    assert from_run_info(info) == p.pose_augment
    assert from_run_info({}) == PoseAugmentParams() == from_run_info(None)  # older checkpoints: crop view
    with pytest.raises(PoseAugmentError, match="view"):
        parse_pose_augment({"view": "full"})


def test_person_drop_removes_whole_people_from_frames():
    from pipeline.pose_augment import drop_persons
    pts = _clip(t=200, n=2, missing=0.0)
    out = drop_persons(pts, 0.3, np.random.default_rng(0))
    present = present_mask(out)
    whole = present.all(-1) | ~present.any(-1)
    assert whole.all()                                     # a person is kept or lost as a whole
    lost = ~present.any(-1)
    assert 0.22 < lost.mean() < 0.38
    np.testing.assert_array_equal(out[~lost], pts[~lost])  # kept people are untouched
    assert (drop_persons(pts, 0.0, np.random.default_rng(0)) == pts).all()


def test_track_cut_keeps_one_contiguous_run_per_person():
    from pipeline.pose_augment import cut_tracks
    pts = _clip(t=16, n=3, missing=0.0)
    shortened = 0
    for seed in range(20):
        out = cut_tracks(pts, 1.0, 0.25, np.random.default_rng(seed))
        for n in range(3):
            frames = np.flatnonzero(present_mask(out[:, n]).any(-1))
            assert len(frames) >= 4 and (np.diff(frames) == 1).all()
            np.testing.assert_array_equal(out[frames, n], pts[frames, n])
            shortened += len(frames) < 16
    assert shortened > 40


def test_degradations_enter_training_augmentation_and_are_validated():
    p = PoseAugmentParams(person_drop=0.5)
    assert p.active
    out = augment_points(_clip(t=50, n=1, missing=0.0), p, np.random.default_rng(1))
    assert 10 < (~present_mask(out).any(-1)).sum() < 40
    for bad in ({"person_drop": 1.0}, {"track_cut": -0.1}, {"track_cut": 1.5}, {"track_min": 0.0}, {"track_min": 1.5}):
        with pytest.raises(PoseAugmentError):
            parse_pose_augment(bad)
