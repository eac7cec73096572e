"""Clips for the model: TSN frame sampling, the spatial transforms applied identically to frames
and keypoints, and the torch Dataset.

Coordinates: a keypoint at continuous pixel position x (pixel i spans [i, i+1)) is stored
normalised as x / width. Every transform is one crop box in source pixels, a resize of that box to
S x S and an optional horizontal flip, applied to images with PIL's box resize and to keypoints
with the same affine map, so a keypoint stays on its pixel.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.clip_spec import ClipSpec
from pipeline.keypoints import FLIP_PERM, NUM_KEYPOINTS
from pipeline.pose_augment import PoseAugmentParams, augment_points, person_box
from pipeline.pixels import RGB_IMAGENET, InputConvention, to_pixels
from pipeline.pose_inputs import PoseInputParams, clean_video, clip_inputs
from pipeline.segments import middle_frames


@dataclass(frozen=True)
class View:
    """A crop box (x0, y0, x1, y1) in source pixels, resized to ``size`` (an int: a square; or
    (width, height)), optionally mirrored."""
    box: tuple[float, float, float, float]
    size: int | tuple[int, int]
    flip: bool = False

    @property
    def out_size(self) -> tuple[int, int]:
        return (self.size, self.size) if isinstance(self.size, int) else (int(self.size[0]), int(self.size[1]))


def sample_indices(seg_start, seg_end, mid, train: bool, rng: np.random.Generator | None) -> np.ndarray:
    """Train: one random frame per segment; test: the middle frame of each segment."""
    if not train:
        return np.asarray(mid, dtype=np.int64)
    lo, hi = np.asarray(seg_start), np.asarray(seg_end)
    return (lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)).astype(np.int64)


def coarser_segments(seg_start, seg_end, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` consecutive runs of a clip's segments merged into one segment each (the appearance
    warm-up's short clips: ``count`` frames spread over the whole video, as the T segments are)."""
    lo, hi = np.asarray(seg_start), np.asarray(seg_end)
    if count >= len(lo):
        return lo, hi
    edges = (np.arange(count + 1) * len(lo)) // count
    return lo[edges[:-1]], hi[edges[1:] - 1]


def train_view(width: int, height: int, size: int | tuple[int, int], scales, flip_prob: float,
               rng: np.random.Generator) -> View:
    """Multi-scale random crop (TSN): crop sides are the short side (a square ``size``) or the
    frame's own sides (a (width, height) ``size``: the whole-frame view) times a scale each, the
    two scales at most one step apart in ``scales``; the offset is uniform; then a flip with
    probability ``flip_prob``."""
    base_w, base_h = (min(width, height),) * 2 if isinstance(size, int) else (width, height)
    i = int(rng.integers(len(scales)))
    j = int(np.clip(i + rng.integers(-1, 2), 0, len(scales) - 1))
    cw, ch = base_w * scales[i], base_h * scales[j]
    x0 = float(rng.random() * (width - cw))
    y0 = float(rng.random() * (height - ch))
    return View((x0, y0, x0 + cw, y0 + ch), size, bool(rng.random() < flip_prob))


def center_view(width: int, height: int, size: int, resize_short: int) -> View:
    """Short side to ``resize_short``, then the centre ``size`` x ``size`` crop."""
    side = size * min(width, height) / resize_short
    x0, y0 = (width - side) / 2, (height - side) / 2
    return View((x0, y0, x0 + side, y0 + side), size, False)


def frame_view(width: int, height: int, size: tuple[int, int]) -> View:
    """The whole frame resized to ``size`` (width, height)."""
    return View((0.0, 0.0, float(width), float(height)), tuple(size), False)


def eval_view(width: int, height: int, *, view: str, input_size: int, resize_short: int, frame_size) -> View:
    """The evaluation view of train.view: crop (the centre crop) or frame (the whole frame)."""
    if view == "frame":
        return frame_view(width, height, frame_size)
    return center_view(width, height, input_size, resize_short)


def view_frame_size(view: str, frame_size) -> tuple[int, int] | None:
    """ClipDataset's ``frame_size`` for train.view: crop (square crops: None) or frame."""
    return tuple(frame_size) if view == "frame" else None


def apply_view_image(img: Image.Image, view: View) -> Image.Image:
    out = img.resize(view.out_size, Image.BILINEAR, box=view.box)
    return out.transpose(Image.FLIP_LEFT_RIGHT) if view.flip else out


def apply_view_points(points: np.ndarray, width: float, height: float, view: View) -> np.ndarray:
    """[..., 14, 3] (x, y, conf) normalised to the source frame -> normalised to the view.
    A flip also swaps left and right joints; missing joints (NaN) stay missing."""
    x0, y0, x1, y1 = view.box
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] * width - x0) / (x1 - x0)
    out[..., 1] = (out[..., 1] * height - y0) / (y1 - y0)
    if view.flip:
        out = out[..., FLIP_PERM, :]
        out[..., 0] = 1.0 - out[..., 0]
    return out


def normalize_frames(frames: torch.Tensor, convention: InputConvention = RGB_IMAGENET) -> torch.Tensor:
    """uint8 RGB [..., 3, H, W] -> float in the backbone's input convention (pipeline.pixels)."""
    return to_pixels(frames, convention)


class ClipDataset(torch.utils.data.Dataset):
    """Clips of one subset of a split index.

    Item ``i`` of epoch ``e`` is requested as index ``e * len(self) + i``: its randomness comes from
    (seed, e, i) alone, so results do not depend on the number of loader workers and a resumed run
    draws exactly what an uninterrupted one would.

    The poses of the subset's videos are cleaned once, here (pipeline.pose_inputs.clean_video);
    ``pose_frames`` names, per video, the frames the estimator ran on when that is not every frame
    (gaps are counted in those frames only).
    """

    def __init__(self, index, *, frames_dir: Path | None, poses: dict[str, np.ndarray] | None,
                 sizes: dict[str, tuple[int, int]], max_persons: int, train: bool, input_size: int,
                 resize_short: int, crop_scales, flip_prob: float, seed: int,
                 pose_augment: PoseAugmentParams | None = None, pose_inputs: PoseInputParams | None = None,
                 pose_frames: dict[str, np.ndarray] | None = None, num_segments: int | None = None,
                 frame_size: tuple[int, int] | None = None, features=None):
        self.rows = index.reset_index(drop=True)
        self.frames_dir = Path(frames_dir) if frames_dir is not None else None
        self.pose_inputs = pose_inputs if pose_inputs is not None else PoseInputParams()
        self.poses = None if poses is None else {
            v: clean_video(poses[v], self.pose_inputs, (pose_frames or {}).get(v))
            for v in dict.fromkeys(self.rows["video_id"]) if v in poses}
        self.sizes = sizes
        self.max_persons = max_persons
        self.train = train
        self.input_size = input_size
        self.resize_short = resize_short
        self.crop_scales = tuple(crop_scales)
        self.flip_prob = flip_prob
        self.seed = seed
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self.num_segments = num_segments  # fewer segments than the index's (merged runs of them), or all
        self.features = features          # a pipeline.features.FeatureCache: cached maps instead of frames
        self.pose_augment = pose_augment if pose_augment is not None else PoseAugmentParams()
        self.person_view = self.pose_augment.view == "person"
        if self.person_view and self.frames_dir is not None:
            raise ValueError("pose_augment.view: person is for variants without appearance (no frames): "
                             "the box around the people would leave the frame; use view: crop")

    def __len__(self) -> int:
        return len(self.rows)

    def view_for(self, width: int, height: int, rng: np.random.Generator | None) -> View:
        """Square crops of ``input_size`` (the paper's), or with ``frame_size`` the whole frame
        resized to it (training: crops of it at the frame's aspect ratio). Cached maps exist for
        the evaluation view only: training on them varies the view by flips alone."""
        if self.train and self.features is None:
            return train_view(width, height, self.frame_size or self.input_size, self.crop_scales,
                              self.flip_prob, rng)
        view = eval_view(width, height, view="frame" if self.frame_size else "crop", input_size=self.input_size,
                         resize_short=self.resize_short, frame_size=self.frame_size)
        if self.train and rng.random() < self.flip_prob:    # cached maps: flips only
            view = View(view.box, view.size, True)
        return view

    def __getitem__(self, i: int) -> dict:
        epoch, idx = divmod(int(i), len(self.rows))
        row = self.rows.iloc[idx]
        rng = np.random.default_rng([self.seed, epoch, idx])
        seg_start, seg_end, mid = row.seg_start, row.seg_end, row.mid
        if self.num_segments is not None:
            seg_start, seg_end = coarser_segments(seg_start, seg_end, self.num_segments)
            mid = middle_frames(seg_start, seg_end)
        frames_idx = sample_indices(seg_start, seg_end, mid, self.train, rng)
        width, height = self.sizes[row.video_id]
        view = self.view_for(width, height, rng)
        item = {"label": int(row.label_id), "index": idx, "frame_indices": torch.from_numpy(frames_idx.copy())}
        if self.features is not None:
            item["mid"], item["pooled"] = self.features.clip(row.video_id, frames_idx, view.flip)
            item["frames"] = torch.zeros(0, dtype=torch.uint8)
        elif self.frames_dir is not None:
            video_dir = self.frames_dir / row.video_id
            frames = []
            for f in frames_idx:
                with Image.open(video_dir / f"{int(f):06d}.jpg") as img:
                    frames.append(np.asarray(apply_view_image(img.convert("RGB"), view)))
            item["frames"] = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
        else:
            item["frames"] = torch.zeros(0, dtype=torch.uint8)
        if self.poses is not None:
            video = self.poses[row.video_id]
            picked = video[np.minimum(frames_idx, len(video) - 1), : self.max_persons]
            if self.person_view:  # no frames here: the view box follows the clip's people
                box = person_box(picked, width, height, self.pose_augment.person_margin)
                view = view if box is None else View(box, view.size, view.flip)
            points = apply_view_points(picked, width, height, view)
            if self.train and self.pose_augment.active:
                points = augment_points(points, self.pose_augment, rng)
            poses, visibility, mask = clip_inputs(points, self.pose_inputs)
            item["points"] = torch.from_numpy(points)  # [T, N, 14, 3] in the view; confidence 0 where filled
            item["poses"] = torch.from_numpy(poses)
            item["visibility"] = torch.from_numpy(visibility)
            item["person_mask"] = torch.from_numpy(mask)
        else:
            item["points"] = item["poses"] = item["visibility"] = torch.zeros(0)
            item["person_mask"] = torch.zeros(0, dtype=torch.bool)
        return item


class EpochSampler(torch.utils.data.Sampler):
    """Indices ``epoch * n + i`` (see ClipDataset), shuffled by a generator seeded from (seed, epoch)."""

    def __init__(self, n: int, *, epoch: int, seed: int, shuffle: bool):
        self.n, self.epoch, self.seed, self.shuffle = n, epoch, seed, shuffle

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        order = np.arange(self.n)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 7]).permutation(self.n)
        return iter((self.epoch * self.n + order).tolist())


def make_loader(dataset: ClipDataset, *, batch_size: int, epoch: int, seed: int, shuffle: bool,
                workers: int, rank: int = 0, world: int = 1, drop_last: bool = False):
    """The loader of ``dataset`` for one epoch (EpochSampler's order); under DDP this rank's share."""
    sampler = EpochSampler(len(dataset), epoch=epoch, seed=seed, shuffle=shuffle)
    if world > 1:
        indices = list(sampler)[rank::world]
        sampler = indices
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                       num_workers=workers, drop_last=drop_last,
                                       worker_init_fn=_worker_init, persistent_workers=False)


def _worker_init(_):
    torch.set_num_threads(1)


def make_dataset(data: "SplitData", subset: str, *, clip: ClipSpec, frames_dir: Path | None, max_persons: int,
                 seed: int, train: bool, with_poses: bool = True, num_segments: int | None = None,
                 features=None) -> ClipDataset:
    """The clips of one subset of the split, made as ``clip`` says (train, evaluate and the
    benchmarks build their datasets here). ``num_segments``: fewer segments than the index's
    (merged runs of them); ``features``: a pipeline.features.FeatureCache, used where frames are."""
    return ClipDataset(data.subset(subset), frames_dir=frames_dir, poses=data.poses if with_poses else None,
                       sizes=data.sizes, max_persons=max_persons, train=train, seed=seed,
                       num_segments=num_segments, features=features if frames_dir is not None else None,
                       **clip.dataset_settings())


def empty_poses(num_frames: int, max_persons: int) -> np.ndarray:
    arr = np.full((max(num_frames, 1), max_persons, NUM_KEYPOINTS, 3), np.nan, np.float32)
    arr[..., 2] = 0
    return arr


@dataclass
class SplitData:
    """Everything a run reads: the split index, class names, dense poses and frame sizes."""
    index: "pd.DataFrame"
    classes: list[str]
    poses: dict[str, np.ndarray]
    sizes: dict[str, tuple[int, int]]
    pose_only: bool

    def subset(self, name: str) -> "pd.DataFrame":
        return self.index[self.index["subset"] == name]


def load_split_data(index_path: Path, frames_table_path: Path, poses_path: Path,
                    pose_videos_path: Path, max_persons: int) -> SplitData:
    import pandas as pd

    from pipeline.io import read_parquet_metadata
    from pipeline.pose.schema import read_poses, to_dense

    index = pd.read_parquet(index_path)
    meta = read_parquet_metadata(index_path)
    counts = dict(zip(index["video_id"], index["num_frames"].astype(int)))
    poses = to_dense(read_poses(poses_path, counts), counts, max_persons)
    sizes = {}
    for table_path in (pose_videos_path, frames_table_path):  # decoded sizes win where present
        if Path(table_path).exists():
            t = pd.read_parquet(table_path)
            t = t[(t["status"] == "ok") & t["video_id"].isin(counts)]
            sizes.update({v: (int(w), int(h)) for v, w, h in zip(t["video_id"], t["width"], t["height"])})
    missing = sorted(set(counts) - set(sizes))
    if missing:
        raise ValueError(f"{index_path}: no frame size known for {missing[:5]} (decode/pose tables)")
    return SplitData(index=index, classes=list(meta["classes"]), poses=poses, sizes=sizes,
                     pose_only=bool(meta.get("pose_only", False)))
