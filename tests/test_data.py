import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline import data as D
from pipeline.data import (ClipDataset, EpochSampler, View, apply_view_image, apply_view_points,
                           coarser_segments, normalize_frames, sample_indices, train_view)
from pipeline.keypoints import FLIP_PERM

W, H = 160, 120


def _dot_image(px, py):
    img = np.zeros((H, W, 3), np.uint8)
    img[py - 1:py + 2, px - 1:px + 2] = 255
    return Image.fromarray(img)


def _pose_with(index, px, py):
    pts = np.full((14, 3), np.nan, np.float32)
    pts[:, 2] = 0
    pts[index] = ((px + 0.5) / W, (py + 0.5) / H, 1.0)  # pixel centre, normalised
    return pts


def _check_on_pixel(view, px, py, index=2):
    out = np.asarray(apply_view_image(_dot_image(px, py), view)).sum(-1)
    pts = apply_view_points(_pose_with(index, px, py), W, H, view)
    target = FLIP_PERM[index] if view.flip else index
    assert pts[target, 2] == 1 and np.isnan(pts[index if view.flip else FLIP_PERM[index], 0])
    out_w, out_h = view.out_size
    assert out.shape == (out_h, out_w)
    x, y = pts[target, 0] * out_w, pts[target, 1] * out_h
    inside = 0 <= x < out_w and 0 <= y < out_h
    if not inside:
        return False
    # The dot's intensity centroid (in continuous coordinates) is where the keypoint says.
    ys, xs = np.mgrid[: out.shape[0], : out.shape[1]]
    weight = out.astype(np.float64)
    cx, cy = (weight * (xs + 0.5)).sum() / weight.sum(), (weight * (ys + 0.5)).sum() / weight.sum()
    assert abs(cx - x) <= 0.75 and abs(cy - y) <= 0.75, (view, (px, py), (x, y), (cx, cy))
    return True


@pytest.mark.parametrize("seed", range(12))
def test_keypoint_stays_on_its_pixel_through_random_train_views(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(6):
        view = train_view(W, H, 56, (1.0, 0.875, 0.75, 0.66), flip_prob=0.5, rng=rng)
        px, py = int(rng.integers(25, W - 25)), int(rng.integers(25, H - 25))
        checked += _check_on_pixel(view, px, py)
    assert checked > 0


def test_keypoint_stays_on_its_pixel_through_test_view_and_flip():
    view = D.center_view(W, H, 112, 128)
    assert _check_on_pixel(view, 80, 60) and _check_on_pixel(view, 40, 20)
    flipped = View(view.box, view.size, True)
    assert _check_on_pixel(flipped, 70, 50) and _check_on_pixel(flipped, 100, 90, index=8)


@pytest.mark.parametrize("seed", range(4))
def test_whole_frame_view_keeps_the_edges_and_keypoints_on_their_pixels(seed):
    rng = np.random.default_rng(seed)
    whole = D.frame_view(W, H, (64, 48))
    # at test nothing is cut: a dot 3 px from the left edge is seen (a centre crop loses 20 px a side)
    assert _check_on_pixel(whole, 3, 60) and _check_on_pixel(whole, W - 4, H - 4)
    assert not _check_on_pixel(D.center_view(W, H, 48, 48), 3, 60)
    for _ in range(6):    # training crops are the frame's sides times the scales, keypoints follow
        view = train_view(W, H, (64, 48), (1.0, 0.875, 0.75, 0.66), flip_prob=0.5, rng=rng)
        x0, y0, x1, y1 = view.box
        assert {round((x1 - x0) / W, 3), round((y1 - y0) / H, 3)} <= {1.0, 0.875, 0.75, 0.66}
        assert 0 <= x0 and x1 <= W + 1e-6 and 0 <= y0 and y1 <= H + 1e-6
        _check_on_pixel(view, int(rng.integers(25, W - 25)), int(rng.integers(25, H - 25)))


def test_dataset_with_frame_size_gives_whole_frames_at_that_size(tmp_path):
    for train in (True, False):
        item = _toy_dataset(tmp_path, train=train, frame_size=(40, 24))[0]
        assert item["frames"].shape == (4, 3, 24, 40)
    # at test the person at the frame's centre stays at the view's centre, however wide the frame
    assert _toy_dataset(tmp_path, train=False, frame_size=(40, 24))[0]["poses"][0, 0, 0].tolist() == [0, 0]


def test_test_view_is_short_side_resize_then_centre_crop():
    view = D.center_view(320, 240, 224, 256)
    side = 224 * 240 / 256
    assert view.box == pytest.approx(((320 - side) / 2, (240 - side) / 2, (320 + side) / 2, (240 + side) / 2))


def test_train_view_scales_and_flip_rate():
    rng = np.random.default_rng(0)
    views = [train_view(W, H, 56, (1.0, 0.875, 0.75, 0.66), 0.3, rng) for _ in range(2000)]
    flips = np.mean([v.flip for v in views])
    assert 0.26 < flips < 0.34
    for v in views[:200]:
        x0, y0, x1, y1 = v.box
        assert 0 <= x0 and x1 <= W + 1e-6 and 0 <= y0 and y1 <= H + 1e-6
        sides = sorted([(x1 - x0) / H, (y1 - y0) / H])
        assert sides[0] >= 0.66 - 1e-6 and sides[1] <= 1.0 + 1e-6


def test_sampling_train_random_within_segments_test_middle():
    lo, hi, mid = np.array([0, 10, 20]), np.array([10, 20, 25]), np.array([4, 14, 22])
    rng = np.random.default_rng(0)
    draws = np.stack([sample_indices(lo, hi, mid, True, rng) for _ in range(500)])
    assert ((draws >= lo) & (draws < hi)).all()
    assert len(np.unique(draws[:, 0])) == 10  # every frame of the segment gets drawn
    assert list(sample_indices(lo, hi, mid, False, None)) == [4, 14, 22]


def test_normalize_frames():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize_frames(x)
    assert out[0, 0, 0, 0] == pytest.approx((1 - 0.485) / 0.229)


def test_short_clips_merge_runs_of_segments_and_span_the_video(tmp_path):
    lo, hi = coarser_segments([0, 2, 5, 7, 9, 12], [2, 5, 7, 9, 12, 15], 4)
    assert lo.tolist() == [0, 2, 7, 9] and hi.tolist() == [2, 7, 9, 15]   # runs of 1, 2, 1, 2 segments
    assert [a.tolist() for a in coarser_segments([0, 5], [5, 9], 4)] == [[0, 5], [5, 9]]  # never more
    ds = _toy_dataset(tmp_path, train=True, num_segments=2)
    draws = np.stack([ds[k]["frame_indices"].numpy() for k in range(200)])   # 200 epochs of one video
    assert draws.shape == (200, 2) and (draws[:, 0] < 10).all() and (draws[:, 1] >= 10).all()
    assert len(np.unique(draws[:, 0])) == 10 and len(np.unique(draws[:, 1])) == 10
    item = ds[0]
    brightness = item["frames"].float().mean((1, 2, 3)) / 10          # the frames read are the ones drawn
    assert item["frames"].shape[0] == 2 and torch.allclose(brightness, item["frame_indices"].float(), atol=1.0)
    assert _toy_dataset(tmp_path, train=False, num_segments=2)[0]["frame_indices"].tolist() == [4, 14]


def _toy_dataset(tmp_path, train, num_segments=None, frame_size=None):
    frames_dir = tmp_path / "frames"
    (frames_dir / "v0").mkdir(parents=True, exist_ok=True)
    for f in range(20):
        Image.fromarray(np.full((H, W, 3), f * 10, np.uint8)).save(frames_dir / "v0" / f"{f:06d}.jpg")
    index = pd.DataFrame({"video_id": ["v0"], "label_id": [1], "subset": ["train"], "num_frames": [20],
                          "seg_start": [[0, 5, 10, 15]], "seg_end": [[5, 10, 15, 20]], "mid": [[2, 7, 12, 17]]})
    poses = np.full((20, 2, 14, 3), np.nan, np.float32)
    poses[..., 2] = 0
    poses[:, 0, :, :2] = 0.5
    poses[:, 0, :, 2] = 1
    return ClipDataset(index, frames_dir=frames_dir, poses={"v0": poses}, sizes={"v0": (W, H)}, max_persons=2,
                       train=train, input_size=32, resize_short=40, crop_scales=(1.0, 0.75), flip_prob=0.5, seed=3,
                       num_segments=num_segments, frame_size=frame_size)


def test_dataset_items_frames_and_poses_together_and_epoch_seeded(tmp_path):
    ds = _toy_dataset(tmp_path, train=True)
    item = ds[0]
    assert item["frames"].shape == (4, 3, 32, 32) and item["frames"].dtype == torch.uint8
    assert item["poses"].shape == (4, 2, 14, 2) and item["person_mask"].tolist() == [[True, False]] * 4
    # The frame drawn is the frame whose brightness encodes its index.
    brightness = item["frames"].float().mean((1, 2, 3)) / 10
    assert torch.allclose(brightness, item["frame_indices"].float(), atol=1.0)
    # Same (epoch, index) -> same draw whatever the call order; another epoch -> another draw.
    again = ds[0]
    assert torch.equal(item["frames"], again["frames"])
    others = [ds[k]["frame_indices"].tolist() for k in range(1, 8)]
    assert any(o != item["frame_indices"].tolist() for o in others)
    test_item = _toy_dataset(tmp_path, train=False)[0]
    assert test_item["frame_indices"].tolist() == [2, 7, 12, 17]


def test_epoch_sampler_covers_each_epoch_once_and_is_seeded():
    a = list(EpochSampler(10, epoch=3, seed=1, shuffle=True))
    assert sorted(a) == list(range(30, 40))
    assert a == list(EpochSampler(10, epoch=3, seed=1, shuffle=True))
    assert a != list(EpochSampler(10, epoch=4, seed=1, shuffle=True))
