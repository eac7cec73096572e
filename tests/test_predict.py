"""Prediction on a user's video (issue 7): a tiny trained-model checkpoint, a synthetic video and a
fake pose estimator; output structure, agreement with an independent TSN/transform computation,
the rendered attention images, the MP4, warnings and errors (library and CLI)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipeline import visualize
from pipeline import data as clip_data  # its `test_view` must not be imported here: pytest would collect it
from pipeline.data import apply_view_image, apply_view_points, normalize_frames
from pipeline.pose_inputs import PoseInputParams, clean_video, clip_inputs
from pipeline.io import read_json
from pipeline.keypoints import INDEX
from pipeline.model import ModelConfig, build_model
from pipeline.pose.base import Detections
from pipeline.pose.schema import rank_and_limit
from pipeline.predict import PredictError, choose_estimator, predict_video
from pipeline.segments import middle_frames, segment_bounds
from pipeline.model_io import load_model, save_model, softmax
from pipeline.video import decode_to_frames, read_frame, read_video_rgb

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["wave", "jump", "walk", "clap", "sit", "run"]
SHORT_SIDE, INPUT, RESIZE_SHORT, T, N, DISPLAY = 64, 64, 72, 16, 2, 224
TRACK_FILTER = {"max_frames": 3, "max_score": 0.2, "max_motion": float("inf")}   # params.yaml's
RUN = {"name": "toy_1", "dataset": "toy", "split": "1",
       "pose": {"estimator": "groundtruth", "options": {"noise_std": 0.01, "drop_prob": 0.0, "seed": 0},
                "max_persons": N, "tracking": True, "track_filter": TRACK_FILTER,
                "estimators": {"blazepose": {"track": True, "tile_every": 5}, "openpose": {}, "mmpose": {}}},
       "decode": {"fps": None, "short_side": SHORT_SIDE, "jpeg_quality": 3, "workers": 1},
       "input_size": INPUT, "resize_short": RESIZE_SHORT, "num_segments": T,
       "pose_inputs": dataclasses.asdict(PoseInputParams())}


def _checkpoint(path: Path, variant: str = "parnet", run: dict = RUN) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(num_classes=len(CLASSES), variant=variant, backbone="resnet_tiny", backbone_width=4,
                         hidden_size=8, pose_dim=8, appearance_dim=8, part_hidden=8, part_dim=8,
                         num_persons=N, window=2, pretrained=None, joint_visibility=False, pa_joint_map=False)
    model = build_model(config)
    if model.pa is not None:  # a peaked attention map, as a trained model's, so the heat map shows
        with torch.no_grad():
            model.pa.attention.score.weight.mul_(40.0)
    save_model(path, model, config, SimpleNamespace(classes=CLASSES), run, {"top1": 0.5, "epoch": 1})
    return path


def _person(cx: float, cy: float, height: float) -> np.ndarray:
    """An upright stick figure [14, 3] in pixels (all joints visible)."""
    s = height / 2
    joints = {"head_top": (0, -1.0), "neck": (0, -0.7), "right_shoulder": (-0.25, -0.65),
              "left_shoulder": (0.25, -0.65), "right_elbow": (-0.35, -0.3), "left_elbow": (0.35, -0.3),
              "right_wrist": (-0.4, 0.0), "left_wrist": (0.4, 0.0), "right_hip": (-0.15, 0.05),
              "left_hip": (0.15, 0.05), "right_knee": (-0.18, 0.5), "left_knee": (0.18, 0.5),
              "right_ankle": (-0.2, 1.0), "left_ankle": (0.2, 1.0)}
    kp = np.zeros((14, 3), np.float32)
    for name, (dx, dy) in joints.items():
        kp[INDEX[name]] = (cx + dx * s, cy + dy * s, 1.0)
    return kp


class FakeEstimator:
    """Three people in every frame (the third, lowest-scored, is over the N = 2 limit)."""
    name, version = "fake", "1"

    def __init__(self, empty: bool = False):
        self.empty, self.calls, self.sizes = empty, 0, set()

    def __call__(self, frame: np.ndarray) -> Detections:
        self.calls += 1
        self.sizes.add(frame.shape[1::-1])
        if self.empty:
            return Detections.empty()
        h, w = frame.shape[:2]
        kps = np.stack([_person(0.7 * w, 0.5 * h, 0.5 * h), _person(0.4 * w, 0.5 * h, 0.8 * h),
                        _person(0.1 * w, 0.3 * h, 0.2 * h)])
        return Detections(kps, np.array([0.6, 0.9, 0.1], np.float32))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    video = root / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=10", "-frames:v", "30", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(video)], check=True)
    return SimpleNamespace(root=root, video=video, model=_checkpoint(root / "model.pt"))


@pytest.fixture(scope="module")
def result(files):
    out = files.root / "out"
    estimator = FakeEstimator()
    res = predict_video(files.video, files.model, estimator=estimator, json_path=out / "r.json",
                        sheet_path=out / "sheet.png", mp4_path=out / "r.mp4", mp4_fps=4.0)
    assert estimator.calls == 30  # poses on every decoded frame, as the pose stage poses a video
    return SimpleNamespace(res=res, out=out)


def _independent_probabilities(files, model_path=None, frame_size=None) -> np.ndarray:
    """The concat softmax from pipeline primitives, the way ClipDataset builds a test clip: the
    model's frames come from the pose-resolution frames (the video's own 160x120) brought to the
    checkpoint's short side; poses are normalised, so the same at either size."""
    native_dir, frames_dir = files.root / "independent_native", files.root / "independent"
    native_dir.mkdir(exist_ok=True)
    frames_dir.mkdir(exist_ok=True)
    decode_to_frames(files.video, native_dir, short_side=120)
    info = decode_to_frames(native_dir, frames_dir, short_side=SHORT_SIDE)
    mid = middle_frames(*segment_bounds(0, info.num_frames, T))
    view = (clip_data.center_view(info.width, info.height, INPUT, RESIZE_SHORT) if frame_size is None
            else clip_data.frame_view(info.width, info.height, frame_size))
    frames = np.stack([np.asarray(apply_view_image(read_frame(frames_dir, f), view)) for f in mid])
    points = np.full((info.num_frames, N, 14, 3), np.nan, np.float32)
    points[..., 2] = 0
    for f in range(info.num_frames):   # the estimator on every frame; its people stay where they are
        det = FakeEstimator()(np.asarray(read_frame(frames_dir, f)))
        kps, _ = rank_and_limit(det.keypoints, det.scores, N)
        points[f, :len(kps)] = kps / np.array([info.width, info.height, 1.0], np.float32)
    points = clean_video(points, PoseInputParams())[mid]
    poses, visibility, mask = clip_inputs(apply_view_points(points, info.width, info.height, view),
                                          PoseInputParams())
    model, _ = load_model(model_path or files.model)
    with torch.no_grad():
        out = model(normalize_frames(torch.from_numpy(frames).permute(0, 3, 1, 2))[None],
                    torch.from_numpy(poses)[None], torch.from_numpy(mask)[None],
                    torch.from_numpy(visibility)[None])
    return softmax(out.logits["concat"].numpy())[0]


def test_json_structure_and_probabilities(files, result):
    data = read_json(result.out / "r.json")
    assert data == json.loads(json.dumps(result.res.to_json()))
    assert {"video", "model", "variant", "top", "fused_top", "sampled_frames", "estimator",
            "no_person_detected", "person_weights", "attention_size", "warnings", "outputs"} <= set(data)
    top = data["top"]
    assert len(top) == 5 and all(set(e) == {"label", "probability"} for e in top)
    probs = [e["probability"] for e in top]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
    assert len({e["label"] for e in top}) == 5 and {e["label"] for e in top} <= set(CLASSES)
    expected = _independent_probabilities(files)
    for e in top:
        assert e["probability"] == pytest.approx(float(expected[CLASSES.index(e["label"])]), abs=1e-5)
    assert len(data["fused_top"]) == 5
    assert data["estimator"] == "fake" and data["no_person_detected"] is False
    assert data["persons_per_step"] == [N] * T and len(data["sampled_frames"]) == T
    weights = np.array(data["person_weights"])
    assert weights.shape == (T, N) and np.allclose(weights.sum(1), 1.0, atol=1e-3)
    assert data["attention_size"] == [INPUT // 16, INPUT // 16]
    assert set(data["outputs"]) == {"json", "sheet", "mp4"}
    # Same inputs, same answer.
    again = predict_video(files.video, files.model, estimator=FakeEstimator())
    assert again.top == result.res.top


def test_sheet_and_tile_sizes(result):
    from PIL import Image
    with Image.open(result.out / "sheet.png") as sheet:
        assert sheet.size == (4 * DISPLAY, visualize.SHEET_HEADER + 4 * DISPLAY)
    res = result.res
    assert len(res.tiles) == len(res.frames) == T
    assert all(t.shape == (DISPLAY, DISPLAY, 3) and t.dtype == np.uint8 for t in res.tiles + res.frames)


def test_a_whole_frame_model_sees_and_shows_the_whole_frame(files, tmp_path):
    model = _checkpoint(tmp_path / "frame.pt", run={**RUN, "view": "frame", "frame_size": [64, 48]})
    res = predict_video(files.video, model, estimator=FakeEstimator(), render=True)
    expected = _independent_probabilities(files, model, frame_size=(64, 48))
    for e in res.top:
        assert e["probability"] == pytest.approx(float(expected[CLASSES.index(e["label"])]), abs=1e-5)
    assert res.attention_size == [48 // 16, 64 // 16]
    assert all(t.shape == (DISPLAY * 48 // 64, DISPLAY, 3) for t in res.tiles + res.frames)   # the video's 4:3


def test_attention_overlay_differs_where_attention_is_high(files, result):
    grey = np.full((DISPLAY, DISPLAY, 3), 128, np.uint8)
    amap = np.full((4, 4), 0.01, np.float32)
    amap[1, 2] = 0.85
    change = np.abs(visualize.blend_attention(grey, amap).astype(int) - grey).sum(-1)
    cell = DISPLAY // 4
    assert change[cell:2 * cell, 2 * cell:3 * cell].mean() > 60 and change[3 * cell:, :cell].mean() < 10
    # On the predicted clip (no people, so nothing but the heat map and the top-left caption is
    # drawn): in the step of the strongest attention its cell is recoloured far more than the
    # weakest cell of that step (bilinear upsampling spreads the heat a little).
    res = predict_video(files.video, files.model, estimator=FakeEstimator(empty=True), render=True)
    att = res.attention
    assert att.shape == (T, 4, 4) and np.allclose(att.sum((1, 2)), 1.0, atol=1e-4)
    t = int(att.reshape(T, -1).max(1).argmax())
    diff = np.abs(res.tiles[t].astype(int) - res.frames[t]).sum(-1)
    diff[:20] = 0                                              # the caption
    cells = diff.reshape(4, cell, 4, cell).mean((1, 3))
    hot, cold = np.unravel_index(att[t].argmax(), (4, 4)), np.unravel_index(att[t].argmin(), (4, 4))
    assert cells[hot] > 25 and cells[hot] > 2 * cells[cold]
    assert all(np.abs(a.astype(int) - b).sum() > 0 for a, b in zip(res.tiles, res.frames))


def test_higher_weight_draws_a_thicker_skeleton():
    person = _person(112, 112, 150)[None]
    inked = {}
    for w in (0.1, 0.9):
        img = visualize.draw_skeletons(np.zeros((224, 224, 3), np.uint8), person, np.array([w]),
                                       label_weights=False)
        inked[w] = int((img.max(-1) > 40).sum())
    assert inked[0.9] > 1.5 * inked[0.1]
    assert visualize.weight_style(0.9, 224)[0] > visualize.weight_style(0.1, 224)[0]
    assert visualize.weight_style(0.9, 224)[1] != visualize.weight_style(0.1, 224)[1]


def test_mp4_frame_count_and_size(result):
    frames, fps = read_video_rgb(result.out / "r.mp4")
    assert frames.shape == (T, DISPLAY + visualize.MP4_HEADER, DISPLAY, 3)
    assert fps == pytest.approx(4.0)


def test_no_person_still_predicts_and_warns(files):
    res = predict_video(files.video, files.model, estimator=FakeEstimator(empty=True), render=True)
    data = res.to_json()
    assert data["no_person_detected"] is True and data["persons_per_step"] == [0] * T
    assert any("no person detected" in w for w in data["warnings"])
    assert len(data["top"]) == 5 and np.isfinite([e["probability"] for e in data["top"]]).all()
    assert np.allclose(data["person_weights"], 0.0) and len(res.tiles) == T


def test_estimator_choice():
    fallback = choose_estimator(RUN["pose"])
    assert fallback.name == "blazepose" and fallback.options == {} and "groundtruth" in fallback.note
    # with the pose section the model was trained with: its blazepose options (video mode)
    known = {"blazepose": {"track": True, "tile_every": 5}}
    assert choose_estimator(RUN["pose"], known=known).options == {"track": True, "tile_every": 5}
    assert choose_estimator(RUN["pose"], "blazepose", {"min_score": 0.3}, known).options == {
        "track": True, "tile_every": 5, "min_score": 0.3}
    trained = {"estimator": "openpose", "options": {"model": "body25"}}
    assert choose_estimator(trained) == choose_estimator(trained, "openpose")
    assert choose_estimator(trained).options == {"model": "body25"}
    assert choose_estimator(trained, "blazepose", {"min_score": 0.3}).options == {"min_score": 0.3}
    with pytest.raises(PredictError, match="groundtruth"):
        choose_estimator(trained, "groundtruth")


def test_missing_and_undecodable_video(files):
    with pytest.raises(PredictError, match="nope.mp4: file not found"):
        predict_video(files.root / "nope.mp4", files.model, estimator=FakeEstimator())
    bad = files.root / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    with pytest.raises(PredictError, match="bad.mp4"):
        predict_video(bad, files.model, estimator=FakeEstimator())


def test_incompatible_checkpoints(files, tmp_path):
    ckpt = torch.load(files.model, weights_only=True)
    cases = {
        "format.pt": ({**ckpt, "format": 99}, "checkpoint format 99"),
        "shape.pt": ({**ckpt, "model_config": {**ckpt["model_config"], "hidden_size": 12}}, "does not fit"),
        "norun.pt": ({**ckpt, "run": {"name": "old"}}, "does not record"),
    }
    for name, (state, message) in cases.items():
        torch.save(state, tmp_path / name)
        with pytest.raises(PredictError, match=message):
            predict_video(files.video, tmp_path / name, estimator=FakeEstimator())
    (tmp_path / "junk.pt").write_bytes(b"junk" * 10)
    with pytest.raises(PredictError, match="junk.pt: not a checkpoint"):
        predict_video(files.video, tmp_path / "junk.pt")
    with pytest.raises(PredictError, match="absent.pt: no trained model"):
        predict_video(files.video, tmp_path / "absent.pt")


def test_a_checkpoint_older_than_a_model_field_loads_without_it(files, tmp_path):
    """Fields added later (LEGACY) take the value of the models written before them, not today's
    default (params.yaml's, e.g. joint_visibility: true)."""
    from pipeline.model_config import LEGACY
    ckpt = torch.load(files.model, weights_only=True)
    old = {k: v for k, v in ckpt["model_config"].items() if k not in LEGACY}
    torch.save({**ckpt, "model_config": old}, tmp_path / "old.pt")
    model, _ = load_model(tmp_path / "old.pt")
    assert {k: getattr(model.config, k) for k in LEGACY} == LEGACY


def test_cli_variant_without_poses(files, tmp_path, capsys):
    from stages.predict import main
    model = _checkpoint(tmp_path / "sa.pt", variant="sa")
    code = main([str(files.video), "--model", str(model), "--json", str(tmp_path / "o.json"),
                 "--sheet", str(tmp_path / "s.png"), "--top", "3", "--display-size", "96"])
    out = capsys.readouterr().out
    assert code == 0 and "rank" in out and "uses no poses" in out and "no pose-aware attention" in out
    data = read_json(tmp_path / "o.json")
    assert len(data["top"]) == 3 and data["estimator"] is None and data["person_weights"] is None
    assert data["no_person_detected"] is None and data["attention_size"] is None
    from PIL import Image
    with Image.open(tmp_path / "s.png") as sheet:
        assert sheet.size == (4 * 96, visualize.SHEET_HEADER + 4 * 96)


def test_cli_error_exit_without_traceback(files, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stages.predict", str(tmp_path / "missing.mp4"), "--model",
                           str(files.model)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert "missing.mp4: file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_the_estimator_sees_the_video_at_its_own_size_not_the_models(files):
    estimator = FakeEstimator()
    res = predict_video(files.video, files.model, estimator=estimator)
    assert estimator.sizes == {(160, 120)}                 # the checkpoint decodes at 64: 85x64
    assert res.pose_size == [160, 120] and "on 160x120 frames" in res.text()
    capped = FakeEstimator()
    again = predict_video(files.video, files.model, estimator=capped, pose_short_side=80)
    assert capped.sizes == {(106, 80)}
    with pytest.raises(PredictError, match="at least 16"):
        predict_video(files.video, files.model, estimator=FakeEstimator(), pose_short_side=8)
    assert [e["label"] for e in again.top] and np.isfinite([e["probability"] for e in again.top]).all()


@pytest.fixture
def zoo_project(files, tmp_path, monkeypatch):
    """A project with a one-entry zoo (the toy checkpoint, the default) and one user model."""
    from pipeline import zoo
    (tmp_path / "zoo" / "toy").mkdir(parents=True)
    (tmp_path / "zoo" / "toy" / "model.pt").write_bytes(files.model.read_bytes())
    (tmp_path / "zoo" / "registry.yaml").write_text(
        "default: toy\nmodels:\n  toy: {path: zoo/toy/model.pt, summary: a toy model}\n"
        "  gone: {path: zoo/gone/model.pt}\n")
    (tmp_path / "models" / "mine_1").mkdir(parents=True)
    (tmp_path / "models" / "mine_1" / "model.pt").write_bytes(files.model.read_bytes())
    monkeypatch.setattr(zoo, "REGISTRY", tmp_path / "zoo" / "registry.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_model_the_zoo_default_is_used_and_said(files, zoo_project):
    res = predict_video(files.video, estimator=FakeEstimator())
    assert res.model_name == "toy" and res.model_source == "zoo" and res.default_model
    assert res.model == str(zoo_project / "zoo" / "toy" / "model.pt")
    text = res.text()
    assert "model: toy (model zoo" in text and "the default model" in text
    by_name = predict_video(files.video, "toy", estimator=FakeEstimator())
    assert by_name.top == res.top and not by_name.default_model
    mine = predict_video(files.video, "models/mine_1/model.pt", estimator=FakeEstimator())
    assert mine.model_name == "mine_1" and mine.model_source == "yours" and "your model" in mine.text()
    with pytest.raises(PredictError, match="zoo/gone/model.pt"):
        predict_video(files.video, "gone", estimator=FakeEstimator())
    (zoo_project / "zoo" / "toy" / "model.pt").unlink()
    with pytest.raises(PredictError, match="default zoo model toy is missing"):
        predict_video(files.video, estimator=FakeEstimator())


def test_list_models_shows_the_zoo_and_your_models(zoo_project, capsys):
    from stages.predict import main
    assert main(["--list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    toy = next(line for line in lines if line.startswith("toy "))
    assert "[zoo, default]" in toy
    assert any(line.startswith("gone ") and "MISSING" in line for line in lines)
    assert any(line.startswith("mine_1 ") and "[yours]" in line for line in lines)
    assert any("a toy model" in line for line in lines)


class Ghost:
    """Video mode only (``estimate_frames``, like BlazePose with ``track``; frame by frame fails):
    one person walking right in every frame and, in frame ``at`` only, a low-score second one (a
    false person on an object) that pose.track_filter drops."""
    name, version = "ghost", "1"

    def __init__(self, at: int):
        self.at = at

    def __call__(self, frame):
        raise AssertionError("the pose stage runs an estimator with a video mode on the whole video")

    def estimate_frames(self, frames):
        for f, frame in enumerate(frames):
            h, w = frame.shape[:2]
            people, scores = [_person((0.3 + 0.01 * f) * w, 0.5 * h, 0.6 * h)], [0.9]
            if f == self.at:
                people.append(_person(0.8 * w, 0.4 * h, 0.3 * h))
                scores.append(0.05)
            yield Detections(np.stack(people), np.array(scores, np.float32))


def test_a_track_the_pose_stage_filters_out_is_absent_in_predict_too(files, tmp_path, monkeypatch):
    import pandas as pd
    import pyarrow.parquet as pq
    from pipeline.datasets.base import Manifest
    from pipeline.pose import runner
    from pipeline.pose.schema import to_dense
    (tmp_path / "frames" / "v").mkdir(parents=True)
    info = decode_to_frames(files.video, tmp_path / "frames" / "v", short_side=120)  # predict's pose frames
    mid = middle_frames(*segment_bounds(0, info.num_frames, T))
    ghost_at, step = int(mid[5]), 5                  # a sampled frame
    # the pose stage, with params.yaml's track filter
    Manifest("toy", ["a"], ["1"], pd.DataFrame({"video_id": ["v"], "path": ["v.mp4"], "label_id": 0,
                                                "label_name": "a", "group": "", "split_1": "train"})
             ).save(tmp_path / "m.parquet")
    pd.DataFrame({"video_id": ["v"], "status": ["ok"], "error": [""], "num_frames": [info.num_frames],
                  "width": [info.width], "height": [info.height], "fps": [10.0], "path": [""]}
                 ).to_parquet(tmp_path / "frames.parquet")
    monkeypatch.setattr(runner, "cached_estimator", lambda *a: Ghost(ghost_at))
    settings = runner.PoseSettings(estimator="ghost", options={}, max_persons=N, dtype="float32",
                                   frames_dir=str(tmp_path / "frames"),
                                   track_filter={f"filter_{k}": v for k, v in TRACK_FILTER.items()})
    runner.run_pose_stage(tmp_path / "m.parquet", tmp_path / "frames.parquet", tmp_path / "p.parquet",
                          tmp_path / "pv.parquet", tmp_path / "parts", settings=settings, workers=1, strict=True)
    stage = to_dense(pq.read_table(tmp_path / "p.parquet"), {"v": info.num_frames}, N)["v"]
    assert (stage[ghost_at, 1, :, 2] == 0).all() and (stage[:, 0, :, 2] > 0).all()
    assert pd.read_parquet(tmp_path / "pv.parquet")["tracks_filtered"].tolist() == [1]
    # predict with a model whose checkpoint records that filter: the same poses, no ghost
    res = predict_video(files.video, files.model, estimator=Ghost(ghost_at))
    np.testing.assert_array_equal(res.poses, stage)
    assert res.persons_per_step == [1] * T and res.warnings == []   # the record read, no fallback note
    # the same model recording no filter (max_frames 0) keeps the ghost: the check can fail
    unfiltered = _checkpoint(tmp_path / "unfiltered.pt", run={
        **RUN, "pose": {**RUN["pose"], "track_filter": {**TRACK_FILTER, "max_frames": 0}}})
    res = predict_video(files.video, unfiltered, estimator=Ghost(ghost_at))
    assert (res.poses[ghost_at, 1, :, 2] > 0).all() and res.persons_per_step[step] == 2


def test_training_records_the_pose_stage_settings_and_an_older_checkpoint_falls_back(files, tmp_path, capsys):
    from pipeline.params import load_params
    from pipeline.pose.video_pose import recorded_settings
    from pipeline.runs import run_spec
    from stages.predict import main
    params = load_params(ROOT / "params.yaml", ["pose.track_filter.max_frames=7", "pose.blazepose.tile_every=3"])
    pose = run_spec(params, "synth_1", num_classes=len(CLASSES)).info()["pose"]
    settings, note = recorded_settings(pose)
    assert note == "" and settings.tracking is True and settings.track_filter["filter_max_frames"] == 7
    assert choose_estimator(pose, known=settings.estimators).options["tile_every"] == 3
    # a checkpoint from before the record: params.yaml's pose section, and a printed note
    other = tmp_path / "params.yaml"
    other.write_text((ROOT / "params.yaml").read_text().replace("max_frames: 3 ", "max_frames: 9 "))
    old = {k: v for k, v in RUN["pose"].items() if k not in ("tracking", "track_filter", "estimators")}
    settings, note = recorded_settings(old, other)
    assert settings.track_filter["filter_max_frames"] == 9 and "params.yaml's pose section" in note
    assert settings.estimators["blazepose"]["tile_every"] == 5
    model = _checkpoint(tmp_path / "old.pt", run={**RUN, "pose": old})
    res = predict_video(files.video, model, estimator=FakeEstimator())
    assert any("does not record how the pose stage posed" in w for w in res.warnings)
