"""The synthetic dataset generator (pipeline/synth): layout, splits, determinism, keypoints that
match the pixels, visibility, resuming. Tiny sizes: 3 videos per class, 8 frames of 64x48."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.keypoints import INDEX
from pipeline.synth import CLASS_NAMES, generate_dataset
from pipeline.synth.clip import build_clip
from pipeline.synth.encode import decode_rgb
from pipeline.synth.generate import clip_for, plan

SIZE = dict(videos_per_class=3, groups=3, num_frames=8, width=64, height=48, fps=15)
N_VIDEOS = 3 * len(CLASS_NAMES)


def _make(root: Path, seed: int, workers: int = 1) -> Path:
    out = root / f"seed{seed}_w{workers}"
    summary = generate_dataset(out, **SIZE, seed=seed, workers=workers, progress=False)
    assert summary["videos"] == N_VIDEOS and summary["generated"] == N_VIDEOS
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="module")
def ds(root) -> Path:
    return _make(root, seed=0)


@pytest.fixture(scope="module")
def ds_again(root) -> Path:
    # The same seed in two worker processes: per-video generators make the order irrelevant.
    return _make(root, seed=0, workers=2)


def _videos(ds: Path) -> list[Path]:
    return sorted((ds / "videos").rglob("*.mp4"))


def _npz(ds: Path, mp4: Path) -> Path:
    return ds / "keypoints" / f"{mp4.stem}.npz"


_DECODED: dict[tuple[Path, int], np.ndarray] = {}


def _decode(mp4: Path) -> np.ndarray:
    key = (mp4, mp4.stat().st_mtime_ns)
    if key not in _DECODED:
        _DECODED[key] = decode_rgb(mp4, SIZE["width"], SIZE["height"])
    return _DECODED[key]


def _read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_layout_class_index_and_splits(ds):
    classes = [line.split(" ", 1) for line in _read_lines(ds / "classInd.txt")]
    assert [int(i) for i, _ in classes] == list(range(1, len(CLASS_NAMES) + 1))
    assert tuple(name for _, name in classes) == CLASS_NAMES
    label_of = {name: int(i) for i, name in classes}
    videos = _videos(ds)
    assert len(videos) == N_VIDEOS
    rel = {f"{p.parent.name}/{p.name}" for p in videos}
    for p in videos:
        assert re.fullmatch(rf"synth_{p.parent.name}_g\d\d_c\d\d", p.stem)
        assert _npz(ds, p).is_file()
    assert "sit_on_chair" in (ds / "README.md").read_text()

    tests = []
    for k in (1, 2, 3):
        train = [line.split() for line in _read_lines(ds / "splits" / f"trainlist0{k}.txt")]
        test = _read_lines(ds / "splits" / f"testlist0{k}.txt")
        for path, label in train:
            assert int(label) == label_of[path.split("/")[0]]
        train_paths = [path for path, _ in train]
        assert len(set(train_paths)) == len(train_paths) and len(set(test)) == len(test)
        assert not set(train_paths) & set(test)
        assert set(train_paths) | set(test) == rel          # every video in exactly one subset
        for name in CLASS_NAMES:                            # every class trains and tests
            assert any(p.startswith(name + "/") for p in train_paths)
            assert any(p.startswith(name + "/") for p in test)
        tests.append(frozenset(test))
    assert len(set(tests)) == 3                             # the three splits differ


def test_keypoint_files_match_videos(ds):
    for mp4 in _videos(ds):
        with np.load(_npz(ds, mp4)) as z:
            assert set(z.files) == {"keypoints", "width", "height", "fps"}
            kps = z["keypoints"]
            assert (int(z["width"]), int(z["height"]), int(z["fps"])) == (64, 48, 15)
        assert kps.dtype == np.float32 and kps.ndim == 4 and kps.shape[2:] == (14, 3)
        assert 1 <= kps.shape[1] <= 4
        assert set(np.unique(kps[..., 2])) <= {0.0, 1.0}
        assert np.isfinite(kps).all()
        assert len(_decode(mp4)) == kps.shape[0] == SIZE["num_frames"]


def test_same_seed_is_identical(ds, ds_again):
    first = _videos(ds)[0]
    assert np.array_equal(_decode(first), _decode(ds_again / first.relative_to(ds)))
    for mp4 in _videos(ds):
        other = ds_again / mp4.relative_to(ds)
        assert _npz(ds, mp4).read_bytes() == _npz(ds_again, other).read_bytes()
        # Equal files decode equally; decode only if the encoder wrote different bytes.
        if mp4.read_bytes() != other.read_bytes():
            assert np.array_equal(_decode(mp4), _decode(other))


def test_different_seed_differs_and_regenerates_stale_output(ds, root):
    out = _make(root, seed=1)
    a, b = _videos(ds), _videos(out)
    assert [p.relative_to(ds) for p in a] == [p.relative_to(out) for p in b]
    same_kps = sum(_npz(ds, p).read_bytes() == _npz(out, q).read_bytes() for p, q in zip(a, b))
    assert same_kps == 0
    assert not np.array_equal(_decode(a[0]), _decode(b[0]))
    # Re-running the seed-1 folder with seed 0 remakes every video: it then equals the seed-0 set.
    summary = generate_dataset(out, **SIZE, seed=0, progress=False)
    assert summary["generated"] == N_VIDEOS
    assert all(_npz(ds, p).read_bytes() == _npz(out, q).read_bytes() for p, q in zip(a, b))


def _mean_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(-1)


def test_keypoints_match_the_drawing(ds):
    """At the actor's visible joints the frame shows the figure, not the background: the pixel
    differs from the same frame rendered without people, in the raw render and in the decoded
    video. Keypoints displaced by a few pixels would fail this."""
    hits = shifted_hits = total = 0
    joint_diff, far_diff = [], []
    for spec in plan(SIZE["videos_per_class"], SIZE["groups"]):
        clip = clip_for(spec, seed=0, **{k: SIZE[k] for k in ("num_frames", "width", "height",
                                                             "fps")})
        kps = clip.keypoints()
        decoded = _decode(ds / "videos" / spec.rel_path)
        others = [j for name, j in INDEX.items() if name != "head_top"]  # the head's outline
        for f in range(clip.num_frames):
            full, empty = clip.render(f), clip.render(f, people=False)
            diff = _mean_diff(full, empty)
            dec = _mean_diff(decoded[f], empty)
            actor = kps[f, 0, others]
            px = np.floor(actor[:, :2] + 0.5).astype(int)
            vis = actor[:, 2] > 0
            for (x, y), v in zip(px, vis):
                if not v:
                    continue
                total += 1
                hits += diff[y, x] > 0
                sx = min(max(x + 8, 0), 63)
                shifted_hits += diff[y, sx] > 0
                joint_diff.append(dec[y, x])
            far = diff == 0                      # pixels no person or prop touches
            far_diff.append(dec[far].mean())
    assert total > 500
    assert hits / total > 0.97, hits / total
    assert shifted_hits / total < 0.6
    assert np.mean(joint_diff) > 4 * np.mean(far_diff) + 20


def test_visibility_outside_frame_and_under_occluders():
    W, H = 64, 48
    outside = occluded = 0
    for i in range(40):
        clip = build_clip(i % len(CLASS_NAMES), rng=np.random.default_rng([7, i]),
                          identity_rng=np.random.default_rng([8, i]), num_frames=6, width=W,
                          height=H, fps=15)
        kps = clip.keypoints()
        px = np.floor(kps[..., :2] + 0.5)
        out = (px[..., 0] < 0) | (px[..., 0] >= W) | (px[..., 1] < 0) | (px[..., 1] >= H)
        assert (kps[..., 2][out] == 0).all()
        outside += int(out.sum())
        under = np.zeros(out.shape, bool)
        if clip.occluder is not None:
            for f in range(clip.num_frames):
                mask = clip.occluder.mask(W, H, *map(int, clip.jitter[f]))
                x = np.clip(px[f, ..., 0].astype(int), 0, W - 1)
                y = np.clip(px[f, ..., 1].astype(int), 0, H - 1)
                under[f] = mask[y, x] & ~out[f]
            occluded += int(under.sum())
        assert (kps[..., 2][~out & ~under] == 1).all()
        assert (kps[..., 2][under] == 0).all()
        # Hidden joints keep their true coordinates: the skeleton's bone lengths do not change.
        shin = kps[:, :, INDEX["right_knee"], :2] - kps[:, :, INDEX["right_ankle"], :2]
        bone = np.linalg.norm(shin, axis=-1)
        assert np.ptp(bone, axis=0).max() < 1.0
    assert outside > 0 and occluded > 0


def test_resume_skips_finished_videos_and_remakes_missing_ones(ds, root):
    out = root / "resume"
    shutil.copytree(ds, out)
    files = sorted(p for p in out.rglob("*") if p.suffix in (".mp4", ".npz"))
    before = {p: p.stat().st_mtime_ns for p in files}
    summary = generate_dataset(out, **SIZE, seed=0, progress=False)
    assert summary["generated"] == 0 and summary["skipped"] == N_VIDEOS
    assert {p: p.stat().st_mtime_ns for p in files} == before

    victim = _videos(out)[4]
    victim.unlink()
    _npz(out, _videos(out)[7]).unlink()        # a video without keypoints is unfinished too
    summary = generate_dataset(out, **SIZE, seed=0, progress=False)
    assert summary["generated"] == 2
    assert victim.is_file()
    assert np.array_equal(_decode(victim), _decode(ds / victim.relative_to(out)))
    changed = [p for p in files if p.stat().st_mtime_ns != before[p]]
    assert len(changed) == 4                   # the two videos' .mp4 and .npz, nothing else
    assert not list(out.rglob("*.tmp"))


@pytest.mark.parametrize("bad, message", [
    (dict(width=65), "even"),
    (dict(height=47), "even"),
    (dict(num_frames=1), "num_frames"),
    (dict(videos_per_class=2), "videos_per_class"),
    (dict(groups=2), "groups"),
    (dict(fps=0), "fps"),
    (dict(seed=-1), "seed"),
    (dict(workers=0), "workers"),
    (dict(width=True), "integer"),
])
def test_bad_arguments(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        generate_dataset(tmp_path / "x", **{**SIZE, "seed": 0, **bad}, progress=False)
    assert not (tmp_path / "x").exists()


def test_groups_share_the_actor_and_a_change_of_groups_remakes_the_set(tmp_path):
    by_group = {}
    for spec in plan(6, 2):
        by_group.setdefault((spec.class_index, spec.group), []).append(spec)
    assert {len(v) for v in by_group.values()} == {3}       # 2 groups of 3 videos per class
    assert {len({s.group for s in plan(6, 24) if s.class_index == 0})} == {6}  # at most one group per video
    sizes = {k: SIZE[k] for k in ("num_frames", "width", "height", "fps")}
    hair = {key: {clip_for(s, seed=0, **sizes).people[0].style.hair for s in specs}
            for key, specs in by_group.items() if key[0] == 0}
    assert all(len(h) == 1 for h in hair.values())        # one actor per group
    assert len(set().union(*hair.values())) == 2           # and another in the other group

    out, six = tmp_path / "ds", {**SIZE, "videos_per_class": 6, "num_frames": 2}
    generate_dataset(out, **{**six, "groups": 6}, seed=0, progress=False)
    assert any("_g06_" in p.name for p in _videos(out))
    summary = generate_dataset(out, **{**six, "groups": 3}, seed=0, progress=False)
    assert summary["generated"] == 6 * len(CLASS_NAMES) and summary["groups"] == 3
    names = [p.stem for p in _videos(out)]
    assert len(names) == 6 * len(CLASS_NAMES)
    assert {n.split("_g")[1][:2] for n in names} == {"01", "02", "03"}
    assert len(list((out / "keypoints").glob("*.npz"))) == len(names)   # the old groups' files are gone
