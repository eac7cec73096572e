"""Generate the synthetic dataset: videos, ground-truth keypoints, UCF101-style class index and
three train/test splits.

Layout under ``out_dir``::

    classInd.txt                        "1 <class_name>" per line
    videos/<class_name>/<video_id>.mp4  H.264 yuv420p
    keypoints/<video_id>.npz            keypoints float32 [F, P, 14, 3]; width, height, fps
    splits/trainlist0{1,2,3}.txt        "<class_name>/<video_id>.mp4 <label>"
    splits/testlist0{1,2,3}.txt         "<class_name>/<video_id>.mp4"
    README.md                           the classes and what tells them apart
    synth_params.json                   the arguments the videos were made with (for resuming)

Every video is made from its own random generator seeded by (seed, class, index within class), so
videos can be made in any order, in parallel, and one at a time on resume. A video is done when
both its .mp4 and .npz exist (each is written to a temporary name and renamed into place);
``classInd.txt`` and the split files are written last, so their presence marks a complete run.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.io import read_json, write_json, write_text
from pipeline.synth.classes import CLASS_NAMES, CLASSES
from pipeline.synth.clip import Clip, build_clip
from pipeline.synth.encode import GOP, H264Writer, save_npz

GENERATOR_VERSION = 1     # bump when the same arguments would give different videos
NUM_SPLITS = 3
PARAMS_FILE = "synth_params.json"
MIN_SIDE = 32
# The default size: 10 classes x 48 videos in 8 actor groups (UCF101 has 25), 40 frames at
# 160x120, 15 fps.
DEFAULTS = dict(videos_per_class=48, groups=8, num_frames=40, width=160, height=120, fps=15, seed=0)


@dataclass(frozen=True)
class VideoSpec:
    class_index: int
    index: int            # within the class
    group: int            # 1-based
    clip: int             # 1-based within the group

    @property
    def class_name(self) -> str:
        return CLASS_NAMES[self.class_index]

    @property
    def video_id(self) -> str:
        return f"synth_{self.class_name}_g{self.group:02d}_c{self.clip:02d}"

    @property
    def rel_path(self) -> str:
        return f"{self.class_name}/{self.video_id}.mp4"

    def paths(self, out_dir: Path) -> tuple[Path, Path]:
        return (out_dir / "videos" / self.class_name / f"{self.video_id}.mp4",
                out_dir / "keypoints" / f"{self.video_id}.npz")


def plan(videos_per_class: int, groups: int) -> list[VideoSpec]:
    """Every video: video i of a class goes to group i % G + 1, G = min(groups, n)."""
    groups = min(groups, videos_per_class)
    return [VideoSpec(c, i, i % groups + 1, i // groups + 1)
            for c in range(len(CLASSES)) for i in range(videos_per_class)]


def in_test(group: int, split: int) -> bool:
    """Split k (1-based) tests the groups g with (g - 1) % 3 == k - 1: a different third each."""
    return (group - 1) % NUM_SPLITS == split - 1


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def validate(*, videos_per_class, groups, num_frames, width, height, fps, seed, workers) -> None:
    _check_int("videos_per_class", videos_per_class, NUM_SPLITS)
    _check_int("groups", groups, NUM_SPLITS)
    _check_int("num_frames", num_frames, 2)
    _check_int("width", width, MIN_SIDE)
    _check_int("height", height, MIN_SIDE)
    _check_int("fps", fps, 1)
    _check_int("seed", seed, 0)
    _check_int("workers", workers, 1)
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for yuv420p video, got {width}x{height}")
    if width > 4096 or height > 4096:
        raise ValueError(f"frames of at most 4096 px a side, got {width}x{height}")


def clip_for(spec: VideoSpec, *, num_frames: int, width: int, height: int, fps: int,
             seed: int) -> Clip:
    """The content of one video, from generators seeded by (seed, class, index) and, for what
    the clips of a group share, (seed, class, group)."""
    rng = np.random.default_rng([seed, 0, spec.class_index, spec.index])
    identity_rng = np.random.default_rng([seed, 1, spec.class_index, spec.group])
    return build_clip(spec.class_index, rng=rng, identity_rng=identity_rng,
                      num_frames=num_frames, width=width, height=height, fps=fps)


def make_video(out_dir: Path, spec: VideoSpec, *, num_frames: int, width: int, height: int,
               fps: int, seed: int) -> str:
    """Render, encode and save one video and its keypoints. Returns its id."""
    clip = clip_for(spec, num_frames=num_frames, width=width, height=height, fps=fps, seed=seed)
    mp4, npz = spec.paths(out_dir)
    # The .npz goes last: a video whose .npz exists has a finished .mp4 beside it.
    npz.unlink(missing_ok=True)
    with H264Writer(mp4, width, height, fps) as writer:   # ffmpeg starts while frames render
        for f in range(num_frames):
            writer.write(clip.render(f))
    save_npz(npz, keypoints=clip.keypoints(), width=np.int64(width), height=np.int64(height),
             fps=np.int64(fps))
    return spec.video_id


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import cv2
    cv2.setNumThreads(1)


def _job(args) -> str:
    out_dir, spec, kw = args
    return make_video(out_dir, spec, **kw)


def _readme(params: dict, n_videos: int) -> str:
    lines = [
        "# Synthetic PARNet action dataset",
        "",
        "Generated by `pipeline/synth` (do not edit: it is rewritten with the data). Rendered "
        "people (14 joints in the AI Challenger order of `pipeline/keypoints.py`) act in scenes "
        "with backgrounds and objects; 1 to 4 people per video (the actor plus idle or walking "
        "distractors), camera jitter, occluders in front of the actor and truncation at the frame "
        "edges.",
        "",
        f"{len(CLASSES)} classes, {params['videos_per_class']} videos each ({n_videos} in all) "
        f"in {min(params['groups'], params['videos_per_class'])} groups, "
        f"{params['num_frames']} frames of {params['width']}x{params['height']} at "
        f"{params['fps']} fps, seed {params['seed']}.",
        "",
        "## Classes",
        "",
        "| # | class | scene | motion | object | what tells it apart |",
        "|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(CLASSES, 1):
        obj = c.prop + (f" ({c.relation.replace('_', ' ')})" if c.relation else "")
        lines.append(f"| {i} | {c.name} | {c.scene} | {c.motion} | {obj} | {c.cue} |")
    lines += [
        "",
        "Neither stream alone separates every class: same scene, different motion (forehand vs "
        "serve; wave vs jumping jack vs throw) needs the pose stream; same motion, different scene "
        "and object (forehand vs bowling; serve vs throw) needs appearance; same motion and scene, "
        "different actor-object relation (kick ball vs kick air; sit on chair vs squat) needs "
        "where the body is relative to the object.",
        "",
        "## Files",
        "",
        "- `classInd.txt`: `<label> <class_name>`, labels 1-based.",
        "- `videos/<class_name>/<video_id>.mp4`: H.264, yuv420p (BT.601 limited range), "
        f"keyframe every {GOP} frames.",
        "- `keypoints/<video_id>.npz`: `keypoints` float32 [F, P, 14, 3] = (x px, y px, "
        "visibility) for every encoded frame and person (the actor first); visibility is 0 for a "
        "joint under an occluder or outside the frame, whose coordinates are still its true "
        "position; `width`, `height`, `fps` ints. Pixel centres are at integer coordinates.",
        "- `splits/trainlist0k.txt` / `testlist0k.txt`, k = 1..3: UCF101 style. Videos of a "
        "class are in groups (`_gNN_`, the same actor's clothes); split k tests the groups g with "
        "(g - 1) % 3 == k - 1 and trains on the rest.",
        "",
    ]
    return "\n".join(lines)


def _write_index(out_dir: Path, specs: list[VideoSpec], params: dict) -> None:
    ordered = sorted(specs, key=lambda s: (s.class_index, s.video_id))
    for k in range(1, NUM_SPLITS + 1):
        train = [f"{s.rel_path} {s.class_index + 1}" for s in ordered if not in_test(s.group, k)]
        test = [s.rel_path for s in ordered if in_test(s.group, k)]
        write_text(out_dir / "splits" / f"trainlist0{k}.txt", "\n".join(train) + "\n")
        write_text(out_dir / "splits" / f"testlist0{k}.txt", "\n".join(test) + "\n")
    write_text(out_dir / "README.md", _readme(params, len(specs)))
    write_text(out_dir / "classInd.txt",
               "".join(f"{i} {name}\n" for i, name in enumerate(CLASS_NAMES, 1)))


def _index_files(out_dir: Path) -> list[Path]:
    return [out_dir / "classInd.txt", out_dir / "README.md"] + [
        out_dir / "splits" / f"{kind}list0{k}.txt" for kind in ("train", "test")
        for k in range(1, NUM_SPLITS + 1)]


def _read_old_params(params_path: Path):
    """The arguments of the set already under the folder: None if none, {} if unreadable."""
    if not params_path.exists():
        return None
    try:
        return read_json(params_path)
    except (OSError, ValueError):
        return {}


def _drop_stale(out_dir: Path, params: dict, videos_per_class: int,
                groups: int) -> tuple[int, bool]:
    """Outputs of other arguments are stale: drop the completion marker and the old videos.
    Returns (files removed, whether the folder held a set of other arguments)."""
    removed = 0
    old = _read_old_params(out_dir / PARAMS_FILE)
    stale = old is not None and old != params
    if not stale:
        return removed, stale
    for path in _index_files(out_dir):
        path.unlink(missing_ok=True)
    old_n = old.get("videos_per_class") if isinstance(old, dict) else None
    old_groups = old.get("groups", 8) if isinstance(old, dict) else None   # 8 before it was a param
    if (isinstance(old_n, int) and old_n >= 1 and isinstance(old_groups, int)
            and old_groups >= 1 and old.get("classes") == list(CLASS_NAMES)):
        old_specs = plan(old_n, old_groups)
    else:
        old_specs = plan(max(videos_per_class, 1), groups)
    for spec in old_specs:
        for path in spec.paths(out_dir):
            if path.exists():
                path.unlink()
                removed += 1
    return removed, stale


def _make_videos(out_dir: Path, specs: list[VideoSpec], todo: list[VideoSpec], kw: dict, *,
                 workers: int, progress: bool) -> None:
    """Make the videos of ``todo``, in this process or in ``workers`` processes."""
    bar = tqdm(total=len(specs), initial=len(specs) - len(todo), desc="synth videos",
               unit="video", disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1 or len(todo) <= 1:
            for spec in todo:
                make_video(out_dir, spec, **kw)
                bar.update()
        else:
            _make_in_pool(out_dir, todo, kw, workers, bar)
    finally:
        bar.close()


def _make_in_pool(out_dir: Path, todo: list[VideoSpec], kw: dict, workers: int, bar) -> None:
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)),
                             initializer=_worker_init) as pool:
        pending = {pool.submit(_job, (out_dir, s, kw)) for s in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    fut.result()
                    bar.update()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def generate_dataset(out_dir: Path, *, videos_per_class: int, groups: int, num_frames: int,
                     width: int, height: int, fps: int, seed: int, workers: int = 1,
                     progress: bool = True) -> dict:
    """Generate (or finish) the synthetic dataset under ``out_dir``; returns a short summary.

    ``num_frames`` >= 16 is recommended (PARNet samples T=16 segments) and >= 2 required; width
    and height must be even (yuv420p). Re-running with the same arguments skips finished videos;
    with different arguments every video is made again and files of the old set are removed.
    """
    validate(videos_per_class=videos_per_class, groups=groups, num_frames=num_frames, width=width,
             height=height, fps=fps, seed=seed, workers=workers)
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"generator_version": GENERATOR_VERSION, "classes": list(CLASS_NAMES),
              "videos_per_class": int(videos_per_class), "groups": int(groups),
              "num_frames": int(num_frames),
              "width": int(width), "height": int(height), "fps": int(fps), "seed": int(seed)}
    specs = plan(videos_per_class, groups)

    removed, stale = _drop_stale(out_dir, params, videos_per_class, groups)
    write_json(out_dir / PARAMS_FILE, params)

    todo = [s for s in specs if stale or not all(p.exists() for p in s.paths(out_dir))]
    kw = dict(num_frames=num_frames, width=width, height=height, fps=fps, seed=seed)
    _make_videos(out_dir, specs, todo, kw, workers=workers, progress=progress)

    _write_index(out_dir, specs, params)
    seconds = time.perf_counter() - start
    return {"out_dir": str(out_dir), "classes": list(CLASS_NAMES), "num_classes": len(CLASSES),
            "videos": len(specs), "groups": min(groups, videos_per_class),
            "generated": len(todo), "skipped": len(specs) - len(todo),
            "removed_stale_files": removed, "num_frames": int(num_frames), "width": int(width),
            "height": int(height), "fps": int(fps), "seed": int(seed),
            "seconds": round(seconds, 3)}


def main(argv: list[str] | None = None) -> None:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m pipeline.synth",
                                 description="Generate the synthetic PARNet action dataset.")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--videos-per-class", type=int, default=DEFAULTS["videos_per_class"])
    ap.add_argument("--groups", type=int, default=DEFAULTS["groups"],
                    help="actor groups per class (a group's videos share the actor's clothes)")
    ap.add_argument("--num-frames", type=int, default=DEFAULTS["num_frames"])
    ap.add_argument("--width", type=int, default=DEFAULTS["width"])
    ap.add_argument("--height", type=int, default=DEFAULTS["height"])
    ap.add_argument("--fps", type=int, default=DEFAULTS["fps"])
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    summary = generate_dataset(a.out_dir, videos_per_class=a.videos_per_class, groups=a.groups,
                               num_frames=a.num_frames, width=a.width, height=a.height, fps=a.fps,
                               seed=a.seed, workers=a.workers, progress=not a.quiet)
    print(json.dumps(summary, indent=2))

