import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline import paths
from pipeline.datasets.base import Manifest
from pipeline.draw_poses import (SLOT_COLOURS, DrawPosesError, PoseVideo, draw_pose_video,
                                 estimator_head_estimated, from_estimator, from_pose_stage, render_frame)
from pipeline.keypoints import INDEX
from pipeline.pose import runner
from pipeline.pose.base import Detections
from pipeline.pose.runner import PoseSettings, run_pose_stage
from pipeline.video import read_video_rgb
from pipeline.visualize import LEFT_COLOUR, MP4_HEADER, RIGHT_COLOUR, label_size, write_mp4
from stages import draw_poses as cli

W, H, F = 160, 120, 4


def _person(cx: float, top: float, height: float) -> np.ndarray:
    """An upright stick person [14, 3] in pixels: head top at ``top``, ankles at ``top + height``."""
    kp = np.zeros((14, 3), np.float32)
    rows = {"head_top": 0.0, "neck": 0.15, "shoulder": 0.18, "elbow": 0.35, "wrist": 0.5, "hip": 0.55,
            "knee": 0.78, "ankle": 1.0}
    for name in INDEX:
        frac = rows[name.split("_")[-1] if "_" in name and name != "head_top" else name]
        side = -1 if name.startswith("right_") else 1 if name.startswith("left_") else 0
        kp[INDEX[name]] = (cx + side * 0.12 * height, top + frac * height, 1.0)
    return kp


class TwoPeople:
    """Person A (score 0.9) left, person B (score 0.5) right; a weak third one the N limit drops."""
    name, version = "fake", "1"

    def __call__(self, frame):
        kps = np.stack([_person(40, 10, 90), _person(115, 20, 80), _person(80, 5, 20)])
        return Detections(kps, np.array([0.9, 0.5, 0.1], np.float32))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with one dataset 'toy' after the pose stage (frames decoded, poses stored)."""
    ids = ["toy_walk_01", "toy_walk_02"]
    videos = pd.DataFrame({"video_id": ids, "path": [f"{v}.mp4" for v in ids], "label_id": 0,
                           "label_name": "walk", "group": "", "split_1": "train"})
    Manifest("toy", ["walk"], ["1"], videos).save(tmp_path / paths.manifest("toy"))
    for vid in ids:
        d = tmp_path / paths.frames_dir("toy") / vid
        d.mkdir(parents=True)
        for f in range(F):
            Image.fromarray(np.full((H, W, 3), 40, np.uint8)).save(d / f"{f:06d}.jpg")
    pd.DataFrame({"video_id": ids, "path": "", "status": "ok", "error": "", "num_frames": F, "fps": 12.5,
                  "width": W, "height": H}).to_parquet(tmp_path / paths.frames_table("toy"))
    monkeypatch.setattr(runner, "cached_estimator", lambda *a: TwoPeople())
    settings = PoseSettings(estimator="fake", options={}, max_persons=2, dtype="float32",
                            frames_dir=str(tmp_path / paths.frames_dir("toy")))
    run_pose_stage(tmp_path / paths.manifest("toy"), tmp_path / paths.frames_table("toy"),
                   tmp_path / paths.poses("toy"), tmp_path / paths.pose_videos("toy"),
                   tmp_path / paths.pose_parts("toy"), settings=settings, workers=1, strict=True)
    return tmp_path


def test_pose_stage_output_comes_back_in_pixels_of_the_frames(project):
    pose = from_pose_stage("toy", "toy_walk_01", root=project)
    assert pose.points.shape == (F, 2, 14, 3) and (pose.width, pose.height) == (W, H)
    assert pose.fps == 12.5 and pose.estimator == "fake"
    np.testing.assert_allclose(pose.points[2, 0], _person(40, 10, 90), atol=1e-3)
    np.testing.assert_allclose(pose.points[2, 1], _person(115, 20, 80), atol=1e-3)
    np.testing.assert_allclose(pose.scores[0], [0.9, 0.5])


def test_unknown_video_and_missing_pose_output_say_what_to_do(project):
    with pytest.raises(DrawPosesError, match="did you mean toy_walk_01"):
        from_pose_stage("toy", "toy_wlak_01", root=project)
    with pytest.raises(DrawPosesError, match=r"dvc repro pose@other"):
        from_pose_stage("other", "x", root=project)


def _colour_near(image, xy, colour, radius=2):
    x, y = int(round(xy[0])), int(round(xy[1])) + MP4_HEADER
    patch = image[y - radius:y + radius + 1, x - radius:x + radius + 1].reshape(-1, 3).astype(int)
    return (np.abs(patch - np.array(colour)).max(-1) <= 40).any()


def test_each_slot_is_drawn_in_its_colour_on_its_limbs(project):
    pose = from_pose_stage("toy", "toy_walk_01", root=project)
    image = render_frame(pose, 1)
    assert image.shape == (H + MP4_HEADER, W, 3)
    for slot in (0, 1):
        hip = (pose.points[1, slot, INDEX["right_hip"], :2] + pose.points[1, slot, INDEX["right_knee"], :2]) / 2
        assert _colour_near(image, hip, SLOT_COLOURS[slot])
        assert not _colour_near(image, hip, SLOT_COLOURS[1 - slot], radius=1)
    # the background far from both people is untouched
    assert (image[MP4_HEADER + H - 3, W // 2] == 40).all()


def test_pngs_every_kth_frame_and_an_mp4_with_as_many_frames(project, tmp_path):
    pose = from_pose_stage("toy", "toy_walk_02", root=project)
    summary = draw_pose_video(pose, png_dir=tmp_path / "png", mp4_path=tmp_path / "o.mp4", every=2)
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["frame_000000.png", "frame_000002.png"]
    assert summary["frames_drawn"] == 2 and summary["frames_with_person"] == 2
    frames, fps = read_video_rgb(tmp_path / "o.mp4")
    assert len(frames) == 2 and fps == pytest.approx(12.5 / 2)
    with pytest.raises(DrawPosesError, match="nothing to write"):
        draw_pose_video(pose)


def test_estimator_on_a_video_file_ranks_and_limits_people(tmp_path):
    clip = [np.full((H, W, 3), 90, np.uint8)] * 3
    write_mp4(tmp_path / "clip.mp4", clip, fps=5)
    pose = from_estimator(tmp_path / "clip.mp4", TwoPeople(), max_persons=2)
    assert pose.points.shape == (3, 2, 14, 3) and pose.fps == pytest.approx(5)
    np.testing.assert_allclose(pose.scores, [[0.9, 0.5]] * 3)
    np.testing.assert_allclose(pose.points[0, 1], _person(115, 20, 80))
    with pytest.raises(DrawPosesError, match="no such video file"):
        from_estimator(tmp_path / "nope.mp4", TwoPeople(), max_persons=2)


class VideoModeWithGhost:
    """Video mode only (``estimate_frames``, as BlazePose with ``track``): person A in every frame,
    and in frame 1 a low-score one-frame person (a false person) that pose.track_filter drops."""
    name, version = "fake", "1"

    def __call__(self, frame):
        raise AssertionError("an estimator with a video mode gets the whole video, as in the pose stage")

    def estimate_frames(self, frames):
        for f, _ in enumerate(frames):
            kps = [_person(40 + 2 * f, 10, 90)] + ([_person(130, 5, 30)] if f == 1 else [])
            yield Detections(np.stack(kps), np.array([0.9, 0.05][:len(kps)], np.float32))


def test_a_video_file_is_posed_as_the_pose_stage_poses_it(tmp_path):
    write_mp4(tmp_path / "clip.mp4", [np.full((H, W, 3), 90, np.uint8)] * 3, fps=5)
    track_filter = {"filter_max_frames": 3, "filter_max_score": 0.2, "filter_max_motion": float("inf")}
    pose = from_estimator(tmp_path / "clip.mp4", VideoModeWithGhost(), max_persons=2, track_filter=track_filter)
    assert not (pose.points[..., 1, :, 2] > 0).any()                 # the false person is gone
    np.testing.assert_allclose(pose.points[2, 0], _person(44, 10, 90))
    unfiltered = from_estimator(tmp_path / "clip.mp4", VideoModeWithGhost(), max_persons=2)
    assert (unfiltered.points[1, 1, :, 2] > 0).all()


def test_frames_without_people_are_drawn_plain(tmp_path):
    points = np.full((2, 1, 14, 3), np.nan, np.float32)
    points[..., 2] = 0
    frame = np.full((H, W, 3), 7, np.uint8)
    pose = PoseVideo("empty", points, np.full((2, 1), np.nan), W, H, 10.0, "fake", lambda f: frame)
    image = render_frame(pose, 0)
    assert (image[MP4_HEADER:] == 7).all()
    assert draw_pose_video(pose, png_dir=tmp_path)["frames_with_person"] == 0


def test_cli_rejects_ambiguous_input_and_reports_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["clip.mp4", "--dataset", "toy", "--video", "v", "--mp4", "o.mp4"])
    with pytest.raises(SystemExit):
        cli.parse_args(["clip.mp4"])                     # no output asked for
    assert cli.main([str(tmp_path / "missing.mp4"), "--estimator", "blazepose", "--mp4",
                     str(tmp_path / "o.mp4")]) == 1
    assert "no such video file" in capsys.readouterr().err


def _one_person_video(width: int, height: int, score: float = 0.9, estimator: str = "fake",
                      head_estimated: bool = False) -> PoseVideo:
    s = height / 256
    points = _person(width / 2, 30 * s, 200 * s)[None, None]
    frame = np.full((height, width, 3), 128, np.uint8)
    return PoseVideo("one", points, np.array([[score]], np.float32), width, height, 10.0, estimator,
                     lambda f: frame, head_estimated)


def _shin_mid(pose: PoseVideo, side: str) -> np.ndarray:
    p = pose.points[0, 0]
    return (p[INDEX[f"{side}_knee"], :2] + p[INDEX[f"{side}_ankle"], :2]) / 2


@pytest.mark.parametrize("size", [(340, 256), (1920, 1080)])
def test_right_and_left_limbs_have_distinct_core_colours(size):
    pose = _one_person_video(*size)
    image = render_frame(pose, 0)
    top = image.shape[0] - size[1]                       # the header band
    for side, colour, other in (("right", RIGHT_COLOUR, LEFT_COLOUR), ("left", LEFT_COLOUR, RIGHT_COLOUR)):
        x, y = _shin_mid(pose, side)
        half = 3 * size[1] // 256                        # the line's half width grows with the frame
        row = image[int(round(y)) + top, int(x) - half:int(x) + half + 1].astype(int)
        near = lambda c: (np.abs(row - np.array(c)).max(-1) <= 40).any()  # noqa: E731
        assert near(colour) and not near(other), (side, row)
        assert near(SLOT_COLOURS[0])                     # the casing keeps the slot's hue
    # torso lines (hip to hip) carry no side colour
    p = pose.points[0, 0]
    x, y = (p[INDEX["right_hip"], :2] + p[INDEX["left_hip"], :2]) / 2
    col = image[int(y) + top - 3:int(y) + top + 4, int(round(x))].astype(int)
    assert not any((np.abs(col - np.array(c)).max(-1) <= 40).any() for c in (RIGHT_COLOUR, LEFT_COLOUR))


def _inked_width(image: np.ndarray, y: int, x0: int, x1: int) -> int:
    return int((np.abs(image[y, x0:x1].astype(int) - 128).max(-1) > 30).sum())


def test_line_width_label_and_header_scale_with_the_frame():
    small, large = _one_person_video(340, 256), _one_person_video(1920, 1080)
    img_s, img_l = render_frame(small, 0), render_frame(large, 0)
    top_s, top_l = img_s.shape[0] - 256, img_l.shape[0] - 1080
    x, y = _shin_mid(small, "right")
    w_s = _inked_width(img_s, int(y) + top_s, int(x) - 10, int(x) + 11)
    x, y = _shin_mid(large, "right")
    w_l = _inked_width(img_l, int(y) + top_l, int(x) - 40, int(x) + 41)
    # thin at 340x256 (a few pixels, not hiding the limb), about 1080/256 times wider at 1080p
    assert 3 <= w_s <= 7 and 2.5 * w_s <= w_l <= 6 * w_s, (w_s, w_l)
    assert label_size(1920, 1080) >= 3.5 * label_size(340, 256)
    assert top_s == MP4_HEADER and top_l >= 2 * MP4_HEADER


def test_low_score_people_are_faded_and_marked():
    strong = render_frame(_one_person_video(340, 256, score=0.9), 0)
    weak = render_frame(_one_person_video(340, 256, score=0.2), 0)
    pose = _one_person_video(340, 256)
    x, y = _shin_mid(pose, "right")
    y = int(y) + MP4_HEADER
    strong_ink = np.abs(strong[y, int(x) - 4:int(x) + 5].astype(int) - 128).sum()
    weak_ink = np.abs(weak[y, int(x) - 4:int(x) + 5].astype(int) - 128).sum()
    assert 0 < weak_ink < 0.6 * strong_ink
    # a threshold below the score draws it in full (the limbs; the label prints another score)
    full = render_frame(_one_person_video(340, 256, score=0.2), 0, low_score=0.1)
    assert (full[y - 20:y + 20] == strong[y - 20:y + 20]).all()


def test_estimated_head_top_is_a_ring_not_a_dot():
    detected = render_frame(_one_person_video(1920, 1080), 0)
    estimated = render_frame(_one_person_video(1920, 1080, head_estimated=True), 0)
    pose = _one_person_video(1920, 1080)
    x, y = pose.points[0, 0, INDEX["head_top"], :2]
    top = detected.shape[0] - 1080
    centre = lambda img: img[int(round(y)) + top, int(round(x))].astype(int)  # noqa: E731
    assert np.abs(centre(detected) - SLOT_COLOURS[0]).max() <= 40      # a filled dot in the slot colour
    assert np.abs(centre(estimated) - 128).max() <= 10                 # the ring's centre shows the frame
    assert estimator_head_estimated("blazepose") and estimator_head_estimated("openpose")
    assert estimator_head_estimated("mmpose", version="mmpose-1.3.2/rtmo/abc/coco17")
    assert not estimator_head_estimated("mmpose", version="mmpose-1.3.2/hrnet/abc/aic14")
    assert not estimator_head_estimated("groundtruth") and not estimator_head_estimated("fake")


def test_cli_refuses_a_dataset_name_that_is_a_path(tmp_path, capsys):
    # issue 28, point 0: --dataset is a folder name under data/, never a path out of it
    assert cli.main(["--dataset", "../../etc", "--video", "v", "--mp4", str(tmp_path / "o.mp4")]) == 1
    err = capsys.readouterr().err
    assert "--dataset '../../etc' is not a safe name" in err and "letters, digits, _ and -" in err
