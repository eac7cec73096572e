import numpy as np
import pytest

from pipeline import keypoints as K


def test_layout_is_ai_challenger_order_and_flip_table_matches_official():
    assert K.KEYPOINT_NAMES[0] == "right_shoulder" and K.KEYPOINT_NAMES[12] == "head_top"
    assert K.KEYPOINT_NAMES[13] == "neck" and K.NUM_KEYPOINTS == 14
    assert K.FLIP_PERM == (3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8, 12, 13)
    # The flip permutation is an involution that maps every left joint to a right one.
    assert all(K.FLIP_PERM[K.FLIP_PERM[i]] == i for i in range(14))
    for i, j in enumerate(K.FLIP_PERM):
        a, b = K.KEYPOINT_NAMES[i], K.KEYPOINT_NAMES[j]
        assert a.replace("left", "X").replace("right", "X") == b.replace("left", "X").replace("right", "X")


def test_parts_cover_every_joint():
    covered = set(sum(K.LIMB_PARTS, ())) | set(K.BODY_PART)
    assert covered == set(range(14))


def _skeleton(layout_names, positions):
    """Build a pose in a source layout from a dict name -> (x, y)."""
    pts = np.full((len(layout_names), 3), np.nan, np.float32)
    pts[:, 2] = 0
    for i, name in enumerate(layout_names):
        if name in positions:
            pts[i] = (*positions[name], 1.0)
    return pts


COCO17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle"]
BODY25 = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
          "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
          "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "lbt", "lst", "lh", "rbt", "rst", "rh"]
COCO18 = BODY25[:8] + ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                       "right_eye", "left_eye", "right_ear", "left_ear"]
BLAZE33 = ["nose", "lei", "left_eye", "leo", "rei", "right_eye", "reo", "left_ear", "right_ear", "ml", "mr",
           "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
           "lp", "rp", "li", "ri", "lt", "rt", "left_hip", "right_hip", "left_knee", "right_knee",
           "left_ankle", "right_ankle", "lhe", "rhe", "lfi", "rfi"]
NTU25 = ["base", "mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "lhand", "right_shoulder",
         "right_elbow", "right_wrist", "rhand", "left_hip", "left_knee", "left_ankle", "lfoot", "right_hip",
         "right_knee", "right_ankle", "rfoot", "spine", "lht", "lth", "rht", "rth"]
PENN13 = ["head", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow", "right_wrist", "left_wrist",
          "right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle"]
JHMDB15 = ["neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_elbow",
           "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist", "right_ankle", "left_ankle"]

# A person facing the camera: their right side is on the image left.
BODY = {"nose": (50, 20), "right_shoulder": (40, 30), "left_shoulder": (60, 30), "right_elbow": (35, 45),
        "left_elbow": (65, 45), "right_wrist": (33, 60), "left_wrist": (67, 60), "right_hip": (44, 60),
        "left_hip": (56, 60), "right_knee": (44, 80), "left_knee": (56, 80), "right_ankle": (44, 100),
        "left_ankle": (56, 100), "neck": (50, 30), "head": (50, 10), "face": (50, 12), "mid_hip": (50, 60)}


@pytest.mark.parametrize("layout,names", [("coco17", COCO17), ("body25", BODY25), ("coco18", COCO18),
                                          ("blazepose33", BLAZE33), ("ntu25", NTU25), ("penn13", PENN13),
                                          ("jhmdb15", JHMDB15)])
def test_every_layout_maps_limbs_to_the_same_side(layout, names):
    out = K.to_aic14(_skeleton(names, BODY), layout)
    for name in K.KEYPOINT_NAMES[:12]:
        np.testing.assert_allclose(out[K.INDEX[name], :2], BODY[name])
    np.testing.assert_allclose(out[K.INDEX["neck"], :2], BODY["neck"])
    assert out[K.INDEX["head_top"], 1] < out[K.INDEX["neck"], 1]  # head top above the neck
    assert (out[:, 2] == 1).all()


def test_head_top_rule_for_layouts_without_one():
    out = K.to_aic14(_skeleton(COCO17, BODY), "coco17")
    nose, neck = np.array(BODY["nose"]), np.array(BODY["neck"])
    np.testing.assert_allclose(out[12, :2], nose + K.HEAD_TOP_FROM_NOSE * (nose - neck))


def test_missing_source_joint_makes_derived_joint_missing():
    body = dict(BODY)
    del body["left_shoulder"]
    out = K.to_aic14(_skeleton(COCO17, body), "coco17")
    for name in ("left_shoulder", "neck", "head_top"):
        assert out[K.INDEX[name], 2] == 0 and np.isnan(out[K.INDEX[name], :2]).all()
    assert out[K.INDEX["right_shoulder"], 2] == 1


def test_wrong_shape_and_unknown_layout_are_clear_errors():
    with pytest.raises(ValueError, match="expects"):
        K.to_aic14(np.zeros((14, 3)), "coco17")
    with pytest.raises(ValueError, match="unknown keypoint layout"):
        K.to_aic14(np.zeros((17, 3)), "coco99")


def test_flip_swaps_sides_and_keeps_missing_missing():
    pose = K.to_aic14(_skeleton(COCO17, BODY), "coco17") / np.array([100, 100, 1], np.float32)
    pose[K.INDEX["left_wrist"]] = (np.nan, np.nan, 0)
    flipped = K.flip_horizontal(pose)
    # The mirrored right shoulder is the original left shoulder at x -> 1 - x.
    np.testing.assert_allclose(flipped[0, 0], 1 - pose[3, 0])
    assert flipped[K.INDEX["right_wrist"], 2] == 0 and np.isnan(flipped[K.INDEX["right_wrist"], :2]).all()
    np.testing.assert_allclose(K.flip_horizontal(flipped), pose, equal_nan=True)
