"""The helpers of bench/pose_speed.py that have logic (no timing here)."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from bench.pose_speed import (OPENPOSE_PERSON_KEYS, fit_exact, frame_people, openpose_json, parse_size,
                              spaced, split_frames, to_body25, to_float16)
from pipeline.io import write_parquet
from pipeline.keypoints import to_aic14
from pipeline.pose.schema import build_table


def _people(p=2, seed=0):
    rng = np.random.default_rng(seed)
    kps = np.stack([rng.uniform(0, 640, (p, 14)), rng.uniform(0, 480, (p, 14)), rng.uniform(0.05, 1, (p, 14))],
                   -1).astype(np.float32)
    kps[0, 4] = (np.nan, np.nan, 0.0)        # a missing joint
    return kps


def test_openpose_json_has_openpose_structure_and_round_trips():
    people = _people()
    text = openpose_json(people)
    assert "\n" not in text and " " not in text          # OpenPose writes it not human-readable
    assert text.startswith('{"version":1.3,"people":[{"person_id":[-1],"pose_keypoints_2d":[')
    data = json.loads(text)
    assert data["version"] == 1.3 and len(data["people"]) == 2
    for person, kps in zip(data["people"], people):
        assert tuple(person) == OPENPOSE_PERSON_KEYS
        assert person["person_id"] == [-1]
        assert all(person[k] == [] for k in OPENPOSE_PERSON_KEYS[2:])
        back = np.array(person["pose_keypoints_2d"], np.float32).reshape(14, 3)
        ok = kps[:, 2] > 0
        np.testing.assert_allclose(back[ok], kps[ok], rtol=1e-5)   # 6 significant digits
        assert (back[~ok] == 0).all()                                # missing: 0,0,0
    assert "0,0,0" in text
    assert openpose_json(np.zeros((0, 14, 3), np.float32)) == '{"version":1.3,"people":[]}'


def test_openpose_json_prints_numbers_as_cpp_ostream():
    kps = np.array([[[582.349, 1e-5, 0.845918], [100.0, 2.5, 1.0]]], np.float32)
    text = openpose_json(kps)
    assert '"pose_keypoints_2d":[582.349,1e-05,0.845918,100,2.5,1]' in text


def test_to_body25_maps_back_to_our_14_keypoints():
    people = _people(3, seed=1)
    people[1, 12] = (np.nan, np.nan, 0.0)      # no head top: nose, eyes and ears go missing
    body25 = to_body25(people)
    assert body25.shape == (3, 25, 3)
    back = to_aic14(body25, "body25")          # the project's own BODY_25 mapping
    ok = people[..., 2] > 0
    np.testing.assert_allclose(back[ok][:, :2], people[ok][:, :2], rtol=1e-4, atol=1e-3)
    # confidences come back, except the head top's: it went through the nose, min(head top, neck)
    expected = people[..., 2].copy()
    expected[:, 12] = np.minimum(people[:, 12, 2], people[:, 13, 2])
    np.testing.assert_allclose(back[..., 2], expected, rtol=1e-6)
    assert np.isnan(back[~ok][:, :2]).all()
    assert (body25[1, [0, 15, 16, 17, 18], 2] == 0).all()
    np.testing.assert_allclose(body25[0, 8, :2], people[0, [6, 9], :2].mean(0), rtol=1e-5)   # MidHip
    np.testing.assert_array_equal(body25[0, 19], people[0, 11])   # left toe copies the left ankle
    assert json.loads(openpose_json(body25))["people"][0]["pose_keypoints_2d"].__len__() == 75


def test_to_float16_equals_what_the_stage_writes_with_dtype_float16(tmp_path):
    frames = [(f, _people(2, seed=f), np.array([0.9, 0.5], np.float32)) for f in range(3)]
    f32 = build_table("v", frames, width=640, height=480, dtype="float32")
    f16 = build_table("v", frames, width=640, height=480, dtype="float16")
    assert to_float16(f32).equals(f16)


def test_frame_people_gives_every_frame_in_pixels_best_slot_first(tmp_path):
    people = _people(2)
    frames = [(0, people, np.array([0.9, 0.5], np.float32)), (2, people[:1], np.array([0.7], np.float32))]
    path = tmp_path / "p.parquet"
    write_parquet(path, build_table("v", frames, width=640, height=480, dtype="float32"))
    out = list(frame_people(pq.read_table(path), [("v", 4)], 640, 480))
    assert [(v, f, p.shape[0]) for v, f, p in out] == [("v", 0, 2), ("v", 1, 0), ("v", 2, 1), ("v", 3, 0)]
    ok = people[..., 2] > 0
    np.testing.assert_allclose(out[0][2][ok], people[ok], rtol=1e-5)


def test_frame_selection_and_sizes():
    assert split_frames(60, [74, 83, 164, 240, 251]) == [12] * 5
    assert split_frames(10, [2, 100, 100]) == [2, 4, 4]
    assert sum(split_frames(500, [10, 20])) == 30
    assert spaced(3, 10) == [0, 4, 9] and spaced(0, 10) == []
    assert parse_size("640x480") == (640, 480)
    with pytest.raises(Exception):
        parse_size("640")


def test_fit_exact_scales_to_cover_and_cuts_the_centre():
    img = Image.new("RGB", (160, 90), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 90))     # a blue band on the left: cut away by a 4:3 crop
    out = fit_exact(img, 320, 240)
    assert out.size == (320, 240)
    assert np.asarray(out)[:, :5].mean(axis=(0, 1))[0] > 200     # red at the left edge, blue gone
    assert fit_exact(out, 320, 240) is out
