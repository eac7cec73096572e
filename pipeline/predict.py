"""Recognise the actions in any video with a trained model and show why (issue 7).

The video goes through the same code as the training data. ``decode_to_frames`` decodes it once
at the pose resolution (the video's own size, its short side capped at ``pose_short_side``: the
estimator sees the detail it needs whatever the model's input size), at the checkpoint's frame
rate; a model that sees frames gets them from those, brought to the checkpoint's decode size by
``decode_to_frames`` again. The pose estimator runs over every decoded frame as the pose stage ran
it on the training videos (pipeline.pose.video_pose: the estimator's video mode, e.g. BlazePose's
tracking and tiles every k frames, people linked into N slots with false people filtered, all with
the settings recorded in the checkpoint), normalised to the frame as the pose stage stores them.
Then TSN segments over the decoded frames (middle frame of each), ``ClipDataset`` itself, in its
test mode, for the centre-crop view, keypoint transform, person mask and frame tensors, and
``to_model_inputs`` for the model. The result is the top-k of the concatenation head's softmax
(what evaluation ranks) and of the fused average of the stream heads, plus what the model attended
to: per-step person weights (TMP) and pose-aware attention maps (PA), drawn on a contact sheet and
an MP4 by pipeline.visualize.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import visualize, zoo
from pipeline.clip_spec import ClipSpec, ClipSpecError
from pipeline.data import ClipDataset, View, apply_view_image, apply_view_points
from pipeline.devices import pick_device
from pipeline.draw_poses import estimator_head_estimated
from pipeline.io import write_json
from pipeline.model import fused_probabilities
from pipeline.pose.base import PoseEstimator
from pipeline.pose.estimators import build_estimator
from pipeline.pose.schema import normalise_keypoints
from pipeline.pose.video_pose import VideoPoseSettings, pose_video, recorded_settings
from pipeline.segments import middle_frames, segment_bounds
from pipeline.model_io import load_model, softmax, to_model_inputs
from pipeline.video import DecodeError, decode_to_frames, read_frame, read_frame_array, source_size
from pipeline.visualize import LOW_SCORE

FALLBACK_ESTIMATOR = "blazepose"
VIDEO_ID = "video"
POSE_SHORT_SIDE = 480       # the estimator sees the video at its own size, short side at most this
# What a checkpoint's `run` entry must hold for predict besides its clip spec (written since
# pipeline.runs.RunSpec.info; the clip spec: pipeline.clip_spec.ClipSpec.from_checkpoint).
REQUIRED_RUN_KEYS = ("decode",)


class PredictError(RuntimeError):
    """Prediction cannot go on; the message names the file or setting at fault."""


@dataclass(frozen=True)
class PoseChoice:
    name: str
    options: dict
    note: str = ""


def choose_estimator(trained: dict, override: str | None = None, options: dict | None = None,
                     known: dict | None = None) -> PoseChoice:
    """The estimator for a new video: the checkpoint's (with its options) unless ``override`` names
    another, which then starts from its options in ``known`` (name -> options: those of the pose
    section the model was trained with, VideoPoseSettings.estimators; absent: its defaults). Ground
    truth and imported poses cannot be computed for a new video, so a model trained on them gets
    FALLBACK_ESTIMATOR (with its ``known`` options), with a note saying so. ``options`` are merged
    over the chosen options."""
    trained_name = (trained or {}).get("estimator")
    trained_options = dict((trained or {}).get("options") or {})
    known = known or {}
    note = ""
    if override:
        name = override
        base = trained_options if override == trained_name else dict(known.get(override) or {})
        if trained_name and override != trained_name:
            note = f"pose estimator {override} chosen; the model was trained on {trained_name} poses"
    elif trained_name in (None, "groundtruth", "import"):
        name, base = FALLBACK_ESTIMATOR, dict(known.get(FALLBACK_ESTIMATOR) or {})
        note = (f"the model was trained on {trained_name or 'unknown'} poses, which cannot be computed for "
                f"a new video: using the {FALLBACK_ESTIMATOR} estimator instead (--estimator to choose)")
    else:
        name, base = trained_name, trained_options
    if name in ("groundtruth", "import"):
        raise PredictError(f"the {name} estimator reads poses a dataset or file already holds and cannot run "
                           "on a new video; choose --estimator blazepose, openpose or mmpose")
    return PoseChoice(name, {**base, **(options or {})}, note)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu"):
    """(model, checkpoint, run settings, clip spec) of a trained model; PredictError naming the file
    when it is missing, unreadable, from an incompatible version, or lacks what predict needs."""
    path = Path(path)
    try:
        model, ckpt = load_model(path, device)
    except (FileNotFoundError, ValueError) as err:   # model_io's errors name the file and the fix
        raise PredictError(str(err)) from None
    run = ckpt.get("run") or {}
    try:
        clip = ClipSpec.from_checkpoint(ckpt)
    except ClipSpecError as err:
        raise PredictError(f"{path}: {err} (written before predict support); retrain with this version") from None
    if clip.num_segments < 1:
        raise PredictError(f"{path}: the checkpoint does not record num_segments; retrain with this version")
    missing = [k for k in REQUIRED_RUN_KEYS if k not in run]
    if model.uses_poses and not isinstance(run.get("pose"), dict):
        missing.append("pose")
    if missing or "short_side" not in (run.get("decode") or {}):
        raise PredictError(f"{path}: the checkpoint does not record {', '.join(missing) or 'decode.short_side'} "
                           f"(written before predict support); retrain with this version")
    classes = list(ckpt.get("classes") or [])
    if len(classes) != model.config.num_classes:
        raise PredictError(f"{path}: {len(classes)} class names for a {model.config.num_classes}-class "
                           f"model; retrain with this version")
    return model, ckpt, run, clip


def detect_people(estimator: PoseEstimator, video_dir: Path, *, num_frames: int, width: int, height: int,
                  max_persons: int, settings: VideoPoseSettings) -> tuple[np.ndarray, np.ndarray]:
    """Poses [num_frames, N, 14, 3] (normalised; absent people NaN / confidence 0) and person scores
    [num_frames, N] (NaN where a slot is empty) of every decoded frame in ``video_dir``, posed as the
    pose stage poses a video (pipeline.pose.video_pose.pose_video with ``settings``)."""
    frames = (read_frame_array(video_dir, f) for f in range(num_frames))
    posed = pose_video(estimator, frames, max_persons, tracking=settings.tracking,
                       track_filter=settings.track_filter)
    if len(posed.keypoints) != num_frames:
        raise ValueError(f"the estimator returned {len(posed.keypoints)} frames for {num_frames}")
    return normalise_keypoints(posed.keypoints, width, height), posed.scores


def pose_resolution(width: int, height: int, cap: int | None) -> int:
    """Short side to decode at for the estimator: the video's own (even), at most ``cap``."""
    native = min(width, height) - min(width, height) % 2
    return max(2, native if not cap else min(native, int(cap) - int(cap) % 2))


@dataclass
class Prediction:
    video: str
    model: str
    model_name: str
    model_source: str       # "zoo" (a shipped model), "yours" (a path or models/<run>/model.pt)
    run: str
    variant: str
    num_frames: int
    fps: float
    width: int
    height: int
    sampled_frames: list[int]
    top: list[dict]
    fused_top: list[dict]
    estimator: str | None
    persons_per_step: list[int] | None
    no_person_detected: bool | None
    person_weights: list[list[float]] | None
    attention_size: list[int] | None
    warnings: list[str]
    pose_size: list[int] | None = None        # frames the estimator saw, [width, height]
    default_model: bool = False               # no --model given: the zoo's default entry
    outputs: dict[str, str] = field(default_factory=dict)
    # Not in the JSON: the pose-aware attention maps [T, h, w] (None without PA) and the rendered
    # images (display-size crops as the model saw them, and the annotated ones).
    attention: np.ndarray | None = field(default=None, repr=False)
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    tiles: list[np.ndarray] = field(default_factory=list, repr=False)
    person_scores: np.ndarray | None = field(default=None, repr=False)   # [T, N] estimator scores
    # [F, N, 14, 3] every decoded frame's people as the pose stage stores them (normalised to the frame)
    poses: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("attention", "frames", "tiles", "person_scores", "poses"):
            data.pop(key)
        return data

    def text(self) -> str:
        lines = [f"video: {self.video} ({self.num_frames} frames, {self.width}x{self.height}"
                 + (f" @ {self.fps:g} fps)" if self.fps else ")"),
                 f"model: {self.model_name} ({'model zoo' if self.model_source == 'zoo' else 'your model'}: "
                 f"{self.model}; run {self.run or '?'}, variant {self.variant})"]
        if self.default_model:
            lines.append("  (the default model: --model to choose another, --list-models to see them)")
        if self.estimator:
            seen = sum(1 for c in self.persons_per_step or [] if c)
            size = f" on {self.pose_size[0]}x{self.pose_size[1]} frames" if self.pose_size else ""
            lines.append(f"poses: {self.estimator}{size}; people in {seen}/{len(self.sampled_frames)} "
                         "sampled frames")
        lines += [f"warning: {w}" for w in self.warnings]
        width = max([len("action")] + [len(e["label"]) for e in self.top])
        lines += ["", f"{'rank':>4}  {'action':<{width}}  probability"]
        lines += [f"{i:>4}  {e['label']:<{width}}  {e['probability']:.4f}" for i, e in enumerate(self.top, 1)]
        if self.fused_top and self.variant != "sa":
            best = self.fused_top[0]
            lines.append(f"fused (mean of the stream heads): {best['label']} {best['probability']:.4f}")
        lines += [f"{kind}: {path}" for kind, path in self.outputs.items()]
        return "\n".join(lines)


def _top(probs: np.ndarray, classes: list[str], k: int) -> list[dict]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"label": classes[i], "probability": float(probs[i])} for i in order]


def predict_video(video: str | Path, model_path: str | Path | None = None, *,
                  estimator: str | PoseEstimator | None = None, pose_options: dict | None = None,
                  top: int = 5, json_path: str | Path | None = None, sheet_path: str | Path | None = None,
                  mp4_path: str | Path | None = None, mp4_fps: float = 2.0, display_size: int = 224,
                  device: str = "cpu", render: bool = False, pose_short_side: int | None = POSE_SHORT_SIDE,
                  low_score: float = LOW_SCORE) -> Prediction:
    """Predict the actions in ``video`` with the model ``model_path``: a checkpoint path, a zoo
    entry's name, or None for the zoo's default entry (pipeline.zoo).

    estimator: None (the checkpoint's, see choose_estimator), a backend name, or a ready
    PoseEstimator object; it runs on frames of the video's own size with the short side at most
    ``pose_short_side`` (None: no cap). Images are rendered when ``sheet_path`` or ``mp4_path`` is
    given or ``render`` is true, people scored under ``low_score`` faded; ``json_path`` receives
    Prediction.to_json(). Raises PredictError."""
    torch_device = _check_arguments(top, mp4_fps, display_size, device, pose_short_side)
    entry, model, classes, run, clip = _load_model(model_path, torch_device)
    video = Path(video)
    if not video.exists():
        raise PredictError(f"{video}: file not found")
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="parnet-predict-") as tmp:
        frames = _decode(video, Path(tmp), run["decode"], model.uses_frames, pose_short_side)
        posed = (_pose(video, frames, model, run, estimator, pose_options, warnings) if model.uses_poses
                 else _Posed())
        dataset, item = _build_clip(frames, posed, model, clip)
        out = _run_model(model, item, torch_device)
        result = _prediction(video, entry, classes, run, model, frames, posed, item, out, top, warnings,
                             estimator_given=estimator is not None, default_model=model_path is None)
        if render or sheet_path or mp4_path:
            _render(result, frames, posed, dataset, item, out, model.config.num_persons, display_size, low_score)
    _write_outputs(result, json_path=json_path, sheet_path=sheet_path, mp4_path=mp4_path, mp4_fps=mp4_fps)
    return result


def _check_arguments(top: int, mp4_fps: float, display_size: int, device: str,
                     pose_short_side: int | None) -> torch.device:
    """predict_video's arguments checked (PredictError naming the bad one); the torch device."""
    if top < 1:
        raise PredictError(f"--top must be at least 1, got {top}")
    if not mp4_fps > 0:
        raise PredictError(f"the MP4 frame rate must be positive, got {mp4_fps}")
    if display_size < 16 or display_size % 2:
        raise PredictError(f"display size must be an even number of pixels >= 16, got {display_size}")
    try:
        torch_device = pick_device(device, "--device")
    except RuntimeError as err:
        raise PredictError(str(err)) from None
    if pose_short_side is not None and pose_short_side < 16:
        raise PredictError(f"the pose resolution (short side) must be at least 16 pixels, got {pose_short_side}")
    return torch_device


def _load_model(model_path: str | Path | None, device: torch.device):
    """(zoo entry, model, class names, the run settings, the clip spec its clips are made with) of a
    checkpoint path, a zoo entry's name or None (the zoo's default)."""
    try:
        entry = zoo.resolve_model(model_path)
    except zoo.ZooError as err:
        raise PredictError(str(err)) from None
    model, ckpt, run, clip = load_checkpoint(entry.path, device)
    return entry, model, list(ckpt["classes"]), run, clip


@dataclass
class _Frames:
    """The video decoded into a temporary folder: at the pose resolution in ``pose_dir``; the
    model's frames (the same frames at the checkpoint's decode size) in ``frames_root``/VIDEO_ID,
    which is ``pose_dir`` itself for a model that sees no frames."""
    pose_dir: Path
    frames_root: Path
    num_frames: int
    fps: float
    pose_size: tuple[int, int]
    size: tuple[int, int]          # of the model's frames


def _decode(video: Path, tmp: Path, decode: dict, uses_frames: bool, pose_short_side: int | None) -> _Frames:
    pose_dir = tmp / "pose" / VIDEO_ID
    frames_root = tmp / "model"
    video_dir = frames_root / VIDEO_ID
    pose_dir.mkdir(parents=True)
    video_dir.mkdir(parents=True)
    quality = int(decode.get("jpeg_quality", 3))
    try:
        short = pose_resolution(*source_size(video), pose_short_side)
        decoded = decode_to_frames(video, pose_dir, short_side=short, fps=decode.get("fps"), jpeg_quality=quality)
        pose_size = (decoded.width, decoded.height)
        if not uses_frames:
            return _Frames(pose_dir, pose_dir.parent, decoded.num_frames, decoded.fps, pose_size, pose_size)
        model_frames = decode_to_frames(pose_dir, video_dir, short_side=int(decode["short_side"]),
                                        jpeg_quality=quality)
        if model_frames.num_frames != decoded.num_frames:
            raise DecodeError(f"{video}: {model_frames.num_frames} model frames from "
                              f"{decoded.num_frames} decoded ones")
    except DecodeError as err:
        raise PredictError(f"cannot decode the video: {err}") from None
    return _Frames(pose_dir, frames_root, decoded.num_frames, decoded.fps, pose_size,
                   (model_frames.width, model_frames.height))


@dataclass
class _Posed:
    """The people of every decoded frame (None for a model that sees no poses)."""
    poses: np.ndarray | None = None      # [F, N, 14, 3] normalised to the frame
    scores: np.ndarray | None = None     # [F, N] person scores
    estimator: str | None = None
    head_estimated: bool = False


def _pose(video: Path, frames: _Frames, model, run: dict, estimator, pose_options: dict | None,
          warnings: list[str]) -> _Posed:
    """Every decoded frame posed as the pose stage posed the training videos (the settings the
    checkpoint records), with the estimator ``estimator`` chooses (see choose_estimator)."""
    settings, note = recorded_settings(run["pose"])
    if note:
        warnings.append(note)
    pose_estimator, name = _make_estimator(estimator, run["pose"], pose_options, model.config.num_persons,
                                           warnings, settings.estimators)
    layout = getattr(pose_estimator, "layout", None)
    head_estimated = estimator_head_estimated(name, layout if isinstance(layout, str) else None)
    width, height = frames.pose_size
    try:
        poses, scores = detect_people(pose_estimator, frames.pose_dir, num_frames=frames.num_frames, width=width,
                                      height=height, max_persons=model.config.num_persons, settings=settings)
    except (ValueError, OSError, RuntimeError) as err:
        raise PredictError(f"{video}: pose estimator {name} failed: {err}") from None
    return _Posed(poses, scores, name, head_estimated)


def _build_clip(frames: _Frames, posed: _Posed, model, clip: ClipSpec) -> tuple[ClipDataset, dict]:
    """The test clip of the video as evaluation builds one (TSN segments, middle frame of each,
    ``ClipDataset`` in test mode, made as the checkpoint's ClipSpec says): (dataset, its one item)."""
    lo, hi = segment_bounds(0, frames.num_frames, clip.num_segments)
    index = pd.DataFrame([{"video_id": VIDEO_ID, "label_id": 0, "seg_start": lo.tolist(),
                           "seg_end": hi.tolist(), "mid": middle_frames(lo, hi).tolist()}])
    dataset = ClipDataset(index, frames_dir=frames.frames_root if model.uses_frames else None,
                          poses=None if posed.poses is None else {VIDEO_ID: posed.poses},
                          sizes={VIDEO_ID: frames.size}, max_persons=model.config.num_persons, train=False,
                          seed=0, **clip.dataset_settings())
    return dataset, dataset[0]


@dataclass
class _Outputs:
    """What the model made of the clip, as numpy arrays."""
    concat: np.ndarray                   # [C] the concat head's softmax (what evaluation ranks)
    fused: np.ndarray                    # [C] the mean of the stream heads' softmaxes
    person_weights: np.ndarray | None    # [T, N] TMP's person attention (models that see poses)
    attention: np.ndarray | None         # [T, h, w] the PA module's maps


def _run_model(model, item: dict, device: torch.device) -> _Outputs:
    batch = {k: v.unsqueeze(0) if torch.is_tensor(v) else v for k, v in item.items()}
    with torch.no_grad():
        out = model(*to_model_inputs(batch, model, device))
    return _Outputs(concat=softmax(out.logits["concat"].float().cpu().numpy())[0],
                    fused=fused_probabilities(out)[0].float().cpu().numpy(),
                    person_weights=out.person_weights[0].float().cpu().numpy() if model.uses_poses else None,
                    attention=None if out.spatial_attention is None else
                    out.spatial_attention[0].float().cpu().numpy())


def _prediction(video: Path, entry, classes: list[str], run: dict, model, frames: _Frames, posed: _Posed,
                item: dict, out: _Outputs, top: int, warnings: list[str], *, estimator_given: bool,
                default_model: bool) -> Prediction:
    """The Prediction of the model's outputs: top-k of the concat head and of the fused stream
    heads, people per step, person weights and attention maps, with a warning for what is missing."""
    k = min(top, len(classes))
    variant = model.config.variant
    persons_per_step = no_person = None
    if model.uses_poses:
        mask = item["person_mask"].numpy()
        persons_per_step = [int(c) for c in mask.sum(1)]
        no_person = not mask.any()
        if no_person:
            warnings.append(f"no person detected in the {len(item['frame_indices'])} sampled frames: "
                            + ("the prediction rests on appearance alone" if model.uses_frames else
                               f"variant {variant} sees only poses, so the prediction is not meaningful"))
    else:
        warnings.append(f"variant {variant} uses no poses: no skeletons or person weights"
                        + (" (the pose estimator option is ignored)" if estimator_given else ""))
    if out.attention is None:
        warnings.append(f"variant {variant} has no pose-aware attention (PA) module: no attention map")
    width, height = frames.size
    return Prediction(
        video=str(video), model=str(entry.path), model_name=entry.name, model_source=entry.source,
        run=str(run.get("name", "")), variant=variant, num_frames=frames.num_frames, fps=frames.fps,
        width=width, height=height, sampled_frames=[int(f) for f in item["frame_indices"]],
        top=_top(out.concat, classes, k), fused_top=_top(out.fused, classes, k), estimator=posed.estimator,
        persons_per_step=persons_per_step, no_person_detected=no_person,
        person_weights=None if out.person_weights is None else np.round(out.person_weights, 4).tolist(),
        attention_size=None if out.attention is None else list(out.attention.shape[1:]), warnings=warnings,
        pose_size=list(frames.pose_size) if model.uses_poses else None, default_model=default_model,
        attention=out.attention, poses=posed.poses)


def _render(result: Prediction, frames: _Frames, posed: _Posed, dataset: ClipDataset, item: dict, out: _Outputs,
            num_persons: int, display_size: int, low_score: float) -> None:
    """result.frames and result.tiles (and the sampled steps' person scores): drawn from the
    pose-resolution frames, the model's view box scaled to them."""
    width, height = frames.size
    pose_width, pose_height = frames.pose_size
    view = dataset.view_for(width, height, None)
    sx, sy = pose_width / width, pose_height / height
    x0, y0, x1, y1 = view.box
    pose_view = View((x0 * sx, y0 * sy, x1 * sx, y1 * sy), view.size, view.flip)
    steps = np.minimum(item["frame_indices"].numpy(), frames.num_frames - 1)
    points = None if posed.poses is None else apply_view_points(
        posed.poses[steps, :num_persons], pose_width, pose_height, pose_view)
    if posed.scores is not None:
        result.person_scores = posed.scores[steps]
    result.frames, result.tiles = render_steps(
        frames.pose_dir, result.sampled_frames, pose_view, display_size, points=points,
        person_weights=out.person_weights, attention=out.attention, person_scores=result.person_scores,
        low_score=low_score, head_estimated=posed.head_estimated)


def _write_outputs(result: Prediction, *, json_path, sheet_path, mp4_path, mp4_fps: float) -> None:
    """The contact sheet (PNG), the MP4 and the JSON asked for; their paths in result.outputs."""
    if sheet_path:
        sheet = visualize.contact_sheet(result.tiles, sheet_lines(result, result.attention is not None))
        visualize.save_png(sheet_path, sheet)
        result.outputs["sheet"] = str(sheet_path)
    if mp4_path:
        best = result.top[0]
        head = f"{best['label']} {best['probability']:.1%}"
        if result.no_person_detected:
            head += " | no person detected"
        visualize.write_mp4(mp4_path, [visualize.with_header(t, head) for t in result.tiles], mp4_fps)
        result.outputs["mp4"] = str(mp4_path)
    if json_path:
        result.outputs["json"] = str(json_path)
        write_json(json_path, result.to_json())


def _make_estimator(estimator, trained: dict, options: dict | None, max_persons: int,
                    warnings: list[str], known: dict | None = None) -> tuple[PoseEstimator, str]:
    if estimator is not None and not isinstance(estimator, str):
        return estimator, str(getattr(estimator, "name", type(estimator).__name__))
    choice = choose_estimator(trained, estimator, options, known)
    if choice.note:
        warnings.append(choice.note)
    try:
        return build_estimator(choice.name, choice.options, max_persons), choice.name
    except (ValueError, TypeError, OSError, ImportError) as err:
        raise PredictError(f"pose estimator {choice.name} could not start: {err}") from None


def render_steps(video_dir: Path, frames: list[int], view: View, display: int, *,
                 points: np.ndarray | None, person_weights: np.ndarray | None,
                 attention: np.ndarray | None, person_scores: np.ndarray | None = None,
                 low_score: float = LOW_SCORE, head_estimated: bool = False
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(plain, annotated) images ``display`` wide of the sampled frames: the model's view (the
    same box, resampled from the decoded frame at display size), with the heat map of each step's
    attention (scaled by the clip's maximum, so steps compare) and the skeletons ``points``
    [T, N, 14, 3] (normalised to the view) in their slot's colour, as wide as ``person_weights``
    [T, N] and labelled with it, faded under ``low_score`` of ``person_scores`` [T, N]."""
    out_w, out_h = view.out_size
    size = (display, 2 * round(display * out_h / out_w / 2))    # the view's aspect, even sides (mp4)
    display_view = View(view.box, size, view.flip)
    vmax = float(attention.max()) if attention is not None else None
    plain, tiles = [], []
    for t, f in enumerate(frames):
        image = np.asarray(apply_view_image(read_frame(video_dir, f), display_view))
        pts = None
        if points is not None:
            pts = points[t].copy()
            pts[..., :2] *= size
        labels = faded = None
        if pts is not None:
            weights = person_weights[t] if person_weights is not None else np.ones(len(pts))
            sc = person_scores[t] if person_scores is not None else np.full(len(pts), np.nan)
            faded = [bool(np.isfinite(v) and v < low_score) for v in sc]
            labels = [f"#{n} w{weights[n]:.2f}" + (f" s{sc[n]:.2f}" if np.isfinite(sc[n]) else "")
                      for n in range(len(pts))]
        tile = visualize.render_tile(
            image, points=pts, weights=None if person_weights is None else person_weights[t],
            attention=None if attention is None else attention[t], attention_max=vmax,
            caption=f"t{t + 1} frame {f}", labels=labels, faded=faded, head_estimated=head_estimated)
        plain.append(image)
        tiles.append(tile)
    return plain, tiles


def sheet_lines(result: Prediction, has_attention: bool) -> list[str]:
    """The contact sheet's two header lines: the top classes, then the legend and warnings."""
    best = ", ".join(f"{e['label']} {e['probability']:.1%}" for e in result.top[:3])
    first = f"{best}   ({Path(result.video).name}; {result.model_name}, {result.variant})"
    notes = []
    if result.no_person_detected:
        notes.append("NO PERSON DETECTED")
    if result.person_weights is not None:
        notes.append("skeleton: colour = person slot, width = person attention; red core right limbs, "
                     "blue left; faded: low estimator score")
    else:
        notes.append("no poses in this variant")
    notes.append("heat map: pose-aware attention" if has_attention else "no attention map (no PA module)")
    return [first, "; ".join(notes)]
