"""The project's 14-keypoint layout (AI Challenger order, as in the official PARNet code) and the
mappings into it from every other layout the pipeline reads.

A pose is an array ``[..., K, 3]`` of ``(x, y, confidence)``. A missing joint has confidence 0 and
NaN coordinates: never zeros that would look like a point in the corner of the frame.
"""
from __future__ import annotations

import numpy as np

KEYPOINT_NAMES = (
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "head_top", "neck",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
LAYOUT_NAME = "aic14"
INDEX = {name: i for i, name in enumerate(KEYPOINT_NAMES)}


def _mirror(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


# Index permutation applied after a horizontal flip: joint i of the flipped pose is joint FLIP_PERM[i]
# of the original. Derived from the names; equals the official [3,4,5,0,1,2,9,10,11,6,7,8,12,13].
FLIP_PERM = tuple(INDEX[_mirror(name)] for name in KEYPOINT_NAMES)

# Body parts of the part encoder (paper Fig. 2b, eq. 11) as grouped by the official code: four limbs
# share one encoder, the body part (head top, neck, both shoulders) has its own.
LIMB_PARTS = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11))
BODY_PART = (12, 13, 0, 3)

# Skeleton edges for drawing.
EDGES = ((12, 13), (13, 0), (13, 3), (0, 1), (1, 2), (3, 4), (4, 5), (0, 6), (3, 9), (6, 9),
         (6, 7), (7, 8), (9, 10), (10, 11))

# Layouts without a head-top joint estimate it by extrapolating the nose away from the neck:
# head_top = nose + HEAD_TOP_FROM_NOSE * (nose - neck). 0.6 puts it near the crown for an upright
# person; this is the one place that defines it for every such layout.
HEAD_TOP_FROM_NOSE = 0.6


def _mapping(source_names: dict[str, int], derived: dict[str, dict[int, float]] | None = None):
    """Rows of a [14 x J] weight matrix: each target joint is a weighted sum of source joints."""
    rows = []
    for name in KEYPOINT_NAMES:
        if derived and name in derived:
            rows.append(derived[name])
        else:
            rows.append({source_names[name]: 1.0})
    return tuple(rows)


def _neck_and_head(l_sho: int, r_sho: int, nose: int) -> dict[str, dict[int, float]]:
    k = HEAD_TOP_FROM_NOSE
    return {
        "neck": {l_sho: 0.5, r_sho: 0.5},
        "head_top": {nose: 1.0 + k, l_sho: -k / 2, r_sho: -k / 2},
    }


def _limbs(rs, re, rw, ls, le, lw, rh, rk, ra, lh, lk, la) -> dict[str, int]:
    return {
        "right_shoulder": rs, "right_elbow": re, "right_wrist": rw,
        "left_shoulder": ls, "left_elbow": le, "left_wrist": lw,
        "right_hip": rh, "right_knee": rk, "right_ankle": ra,
        "left_hip": lh, "left_knee": lk, "left_ankle": la,
    }


LAYOUTS: dict[str, tuple[dict[int, float], ...]] = {
    "aic14": tuple({i: 1.0} for i in range(NUM_KEYPOINTS)),
    # COCO-17: nose, eyes, ears, then L/R pairs of shoulder, elbow, wrist, hip, knee, ankle.
    "coco17": _mapping(_limbs(6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15), _neck_and_head(5, 6, 0)),
    # MediaPipe BlazePose 33 landmarks.
    "blazepose33": _mapping(_limbs(12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27),
                            _neck_and_head(11, 12, 0)),
    # OpenPose BODY_25 (has a neck at 1) and OpenPose COCO-18 (neck at 1).
    "body25": _mapping({**_limbs(2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14), "neck": 1},
                       {"head_top": {0: 1.0 + HEAD_TOP_FROM_NOSE, 1: -HEAD_TOP_FROM_NOSE}}),
    "coco18": _mapping({**_limbs(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13), "neck": 1},
                       {"head_top": {0: 1.0 + HEAD_TOP_FROM_NOSE, 1: -HEAD_TOP_FROM_NOSE}}),
    # Penn Action 13: head, then R/L pairs of shoulder, elbow, wrist, hip, knee, ankle (right first:
    # checked on the labels against their view field; the dataset README's left-first order is
    # wrong). Its head point stands for the head top; neck = shoulder midpoint.
    "penn13": _mapping({**_limbs(1, 3, 5, 2, 4, 6, 7, 9, 11, 8, 10, 12), "head_top": 0},
                       {"neck": {1: 0.5, 2: 0.5}}),
    # JHMDB 15 (puppet joints): neck, belly, face, R/L shoulder, R/L hip, R/L elbow, R/L knee,
    # R/L wrist, R/L ankle. The face point stands for the head top.
    "jhmdb15": _mapping({**_limbs(3, 7, 11, 4, 8, 12, 5, 9, 13, 6, 10, 14), "neck": 0, "head_top": 2}),
    # NTU RGB+D / Kinect v2 25 joints; 2 is the neck, 3 the head.
    "ntu25": _mapping({**_limbs(8, 9, 10, 4, 5, 6, 16, 17, 18, 12, 13, 14), "neck": 2, "head_top": 3}),
}
LAYOUT_SIZES = {"aic14": 14, "coco17": 17, "blazepose33": 33, "body25": 25, "coco18": 18,
                "penn13": 13, "jhmdb15": 15, "ntu25": 25}


def to_aic14(points: np.ndarray, layout: str) -> np.ndarray:
    """Map ``[..., J, 3]`` (x, y, conf) in ``layout`` to ``[..., 14, 3]``.

    A target joint made of several source joints is missing when any of them is missing, and its
    confidence is the smallest of theirs.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown keypoint layout {layout!r}; known: {sorted(LAYOUTS)}")
    points = np.asarray(points, dtype=np.float32)
    expected = LAYOUT_SIZES[layout]
    if points.ndim < 2 or points.shape[-2:] != (expected, 3):
        raise ValueError(f"layout {layout!r} expects [..., {expected}, 3], got {points.shape}")
    xy, conf = points[..., :2], points[..., 2]
    present = (conf > 0) & np.isfinite(xy).all(-1)
    out = np.full(points.shape[:-2] + (NUM_KEYPOINTS, 3), np.nan, dtype=np.float32)
    for target, row in enumerate(LAYOUTS[layout]):
        src = list(row)
        weights = np.array([row[s] for s in src], dtype=np.float32)
        ok = present[..., src].all(-1)
        out[..., target, :2] = np.einsum("...jc,j->...c", np.nan_to_num(xy[..., src, :]), weights)
        out[..., target, 2] = conf[..., src].min(-1)
        out[..., target, :2][~ok] = np.nan
        out[..., target, 2][~ok] = 0.0
    return out


def flip_horizontal(points: np.ndarray, width: float = 1.0) -> np.ndarray:
    """Mirror ``[..., 14, C]`` poses: x -> width - x and left/right joints swapped. Missing joints
    (NaN) stay missing."""
    flipped = np.array(points, dtype=np.float32, copy=True)[..., FLIP_PERM, :]
    flipped[..., 0] = width - flipped[..., 0]
    return flipped


def from_aic14(points: np.ndarray, layout: str) -> np.ndarray:
    """``[..., 14, 3]`` -> ``[..., J, 3]`` in ``layout``, the inverse of :func:`to_aic14` where it has
    one: joints a layout shares with the 14 are copied; a joint that only a derived target uses (the
    nose, under head_top) is solved from that target and the other joints it is made of, so that
    ``to_aic14`` gives the same head top back; other joints (eyes, ears, feet, a mid-hip) are
    missing, except BODY_25's mid-hip (8), the mean of the hips. Missing: NaN, confidence 0."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown keypoint layout {layout!r}; known: {sorted(LAYOUTS)}")
    points = np.asarray(points, dtype=np.float32)
    if points.shape[-2:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"expected [..., {NUM_KEYPOINTS}, 3], got {points.shape}")
    size = LAYOUT_SIZES[layout]
    out = np.full(points.shape[:-2] + (size, 3), np.nan, dtype=np.float32)
    out[..., 2] = 0.0
    filled = set()
    for target, row in enumerate(LAYOUTS[layout]):
        if len(row) == 1 and next(iter(row.values())) == 1.0:
            j = next(iter(row))
            out[..., j, :] = points[..., target, :]
            filled.add(j)
    for target, row in enumerate(LAYOUTS[layout]):
        unknown = [j for j in row if j not in filled]
        if len(row) == 1 or len(unknown) != 1:
            continue
        j = unknown[0]
        rest = np.zeros(points.shape[:-2] + (2,), np.float32)
        conf = points[..., target, 2]
        for i, w in row.items():
            if i != j:
                rest += w * out[..., i, :2]
                conf = np.minimum(conf, out[..., i, 2])
        out[..., j, :2] = (points[..., target, :2] - rest) / row[j]
        out[..., j, 2] = np.where(np.isfinite(out[..., j, :2]).all(-1), points[..., target, 2], 0.0)
        filled.add(j)
    if layout == "body25":
        hips = out[..., [9, 12], :]
        ok = (hips[..., 2] > 0).all(-1)
        out[..., 8, :2] = np.where(ok[..., None], hips[..., :2].mean(-2), np.nan)
        out[..., 8, 2] = np.where(ok, hips[..., 2].min(-1), 0.0)
    bad = ~(out[..., 2] > 0) | ~np.isfinite(out[..., :2]).all(-1)
    out[..., :2][bad] = np.nan
    out[..., 2][bad] = 0.0
    return out


def head_top_estimated(layout: str) -> bool:
    """Whether ``layout`` has no head-top joint of its own (to_aic14 extrapolates it from the nose,
    which in profile lands in front of the face rather than on the crown)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown keypoint layout {layout!r}; known: {sorted(LAYOUTS)}")
    return len(LAYOUTS[layout][INDEX["head_top"]]) > 1
