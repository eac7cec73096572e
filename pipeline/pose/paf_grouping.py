"""Bottom-up multi-person grouping with part affinity fields (Cao et al., "Realtime Multi-Person 2D
Pose Estimation using Part Affinity Fields", CVPR 2017), for the output of OpenPose's networks.

Steps: peaks of every keypoint heat map (non-maximum suppression with a max filter, a threshold and
optional sub-pixel refinement); every candidate limb between two peaks scored by the line integral of
its PAF along the segment; a greedy one-to-one matching per limb type in order of score; people
assembled from the accepted limbs, merging partial skeletons that share no part; people with too few
parts or too low a mean score dropped.

Everything here works in the pixel coordinates of the maps it is given (pixel centres at integers).

Network output layout (the one place it is defined)
---------------------------------------------------
OpenPose's Caffe models end in a ``net_output`` Concat layer whose channels are, in order:

* ``heatmaps_first`` (the layout of both shipped models, read from their prototxts):
  - BODY_25 ``pose/body_25/pose_deploy.prototxt``: Concat(``Mconv7_stage1_L1`` = 26 heat maps,
    ``Mconv7_stage3_L2`` = 52 PAF channels) -> 78 channels;
  - COCO ``pose/coco/pose_deploy_linevec.prototxt``: Concat(``Mconv7_stage6_L2`` = 19 heat maps,
    ``Mconv7_stage6_L1`` = 38 PAF channels) -> 57 channels.
  The heat maps are the J body parts followed by one background map. OpenPose's C++ connector reads
  the PAFs at ``numberBodyPartsAndBackground + mapIndex``, i.e. after the heat maps, for both models.
* ``pafs_first``: the PAFs then the heat maps, for a re-exported network concatenated the other way.

Within the PAF block, limb k uses channels ``paf_channels[k] = (x, y)``: OpenPose's
``POSE_MAP_INDEX`` (the x component first). The limb order is OpenPose's ``POSE_BODY_PART_PAIRS``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Bump when the grouping's results change for the same maps (goes into the estimator's version).
GROUPING_VERSION = "1"

HEATMAPS_FIRST = "heatmaps_first"
PAFS_FIRST = "pafs_first"
OUTPUT_LAYOUTS = (HEATMAPS_FIRST, PAFS_FIRST)


@dataclass(frozen=True)
class PafModel:
    """One OpenPose keypoint model: its parts, limbs and where each limb's PAF lives."""
    name: str
    layout: str                                   # the pipeline.keypoints layout of its parts
    part_names: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]            # (part a, part b), in OpenPose's processing order
    paf_channels: tuple[tuple[int, int], ...]     # (x, y) channel of each limb inside the PAF block

    @property
    def num_parts(self) -> int:
        return len(self.part_names)

    @property
    def num_heatmaps(self) -> int:
        return self.num_parts + 1                  # + background

    @property
    def num_pafs(self) -> int:
        return 2 * len(self.limbs)

    @property
    def num_channels(self) -> int:
        return self.num_heatmaps + self.num_pafs

    def split_output(self, output: np.ndarray, layout: str = HEATMAPS_FIRST
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``output`` [C, H, W] of the network -> (part heat maps [J, H, W] without the background,
        PAFs [2L, H, W] in the model's own channel order)."""
        if layout not in OUTPUT_LAYOUTS:
            raise ValueError(f"unknown output layout {layout!r}; one of {OUTPUT_LAYOUTS}")
        if output.ndim != 3 or output.shape[0] != self.num_channels:
            raise ValueError(f"the {self.name} network should output [{self.num_channels}, H, W] "
                             f"({self.num_heatmaps} heat maps + {self.num_pafs} PAF channels), "
                             f"got {tuple(output.shape)}")
        if layout == HEATMAPS_FIRST:
            heat = output[:self.num_parts]
            pafs = output[self.num_heatmaps:]
        else:
            pafs = output[:self.num_pafs]
            heat = output[self.num_pafs:self.num_pafs + self.num_parts]
        return heat, pafs


def _pairs(flat: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple(zip(flat[0::2], flat[1::2]))


BODY_25 = PafModel(
    name="body25",
    layout="body25",
    part_names=("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
                "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
                "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
                "right_small_toe", "right_heel"),
    limbs=_pairs((1, 8, 1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 10, 11, 8, 12, 12, 13,
                  13, 14, 1, 0, 0, 15, 15, 17, 0, 16, 16, 18, 2, 17, 5, 18, 14, 19, 19, 20, 14, 21,
                  11, 22, 22, 23, 11, 24)),
    paf_channels=_pairs((0, 1, 14, 15, 22, 23, 16, 17, 18, 19, 24, 25, 26, 27, 6, 7, 2, 3, 4, 5,
                         8, 9, 10, 11, 12, 13, 30, 31, 32, 33, 36, 37, 34, 35, 38, 39, 20, 21,
                         28, 29, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51)),
)

COCO_18 = PafModel(
    name="coco",
    layout="coco18",
    part_names=("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear"),
    limbs=_pairs((1, 2, 1, 5, 2, 3, 3, 4, 5, 6, 6, 7, 1, 8, 8, 9, 9, 10, 1, 11, 11, 12, 12, 13,
                  1, 0, 0, 14, 14, 16, 0, 15, 15, 17, 2, 16, 5, 17)),
    paf_channels=_pairs((12, 13, 20, 21, 14, 15, 16, 17, 22, 23, 24, 25, 0, 1, 2, 3, 4, 5, 6, 7,
                         8, 9, 10, 11, 28, 29, 30, 31, 34, 35, 32, 33, 36, 37, 18, 19, 26, 27)),
)

MODELS = {"body25": BODY_25, "coco": COCO_18}


@dataclass(frozen=True)
class GroupingParams:
    """Defaults follow OpenPose's own (non-COCO-challenge) defaults."""
    peak_threshold: float = 0.05      # heat-map value a peak must exceed
    nms_window: int = 3               # side of the max filter (pixels of the maps)
    subpixel: bool = True             # refine peaks with a parabola through the log of 3 values
    max_peaks: int = 128              # strongest peaks kept per part
    num_samples: int = 10             # points of the PAF line integral
    paf_threshold: float = 0.05       # a sample counts when PAF . limb direction exceeds it
    min_above_fraction: float = 0.95  # fraction of samples that must count
    max_limb_fraction: float = 0.5    # limbs longer than this x map height are penalised
    min_parts: int = 3                # people with fewer parts are dropped
    min_mean_score: float = 0.4       # ... and those whose (part + limb scores) / parts is lower

    def __post_init__(self):
        if self.nms_window < 1 or self.nms_window % 2 == 0:
            raise ValueError(f"nms_window must be a positive odd number, got {self.nms_window}")
        if self.num_samples < 2:
            raise ValueError(f"num_samples must be >= 2, got {self.num_samples}")


# ------------------------------------------------------------------------------------------------
# Peaks

def _parabola_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Offset of the vertex of the parabola through the logs of three neighbouring values (exact
    for a Gaussian peak), clipped to half a pixel."""
    floor = np.maximum(centre, 1e-12) * 1e-6
    ll, lc, lr = (np.log(np.maximum(v, floor)) for v in (left, centre, right))
    denom = ll - 2.0 * lc + lr
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(denom < 0, 0.5 * (ll - lr) / denom, 0.0)
    return np.clip(np.nan_to_num(offset), -0.5, 0.5)


def find_peaks(heatmaps: np.ndarray, params: GroupingParams = GroupingParams()) -> list[np.ndarray]:
    """Peaks of every map of ``heatmaps`` [J, H, W]: a list of J float32 arrays [n, 3] of
    (x, y, score), strongest first. score is the map's value at the peak pixel."""
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    num_parts, height, width = heatmaps.shape
    w = params.nms_window
    local_max = ndimage.maximum_filter(heatmaps, size=(1, w, w), mode="nearest")
    is_peak = (heatmaps >= local_max) & (heatmaps > params.peak_threshold)
    eight_connected = np.ones((3, 3), dtype=bool)
    peaks = []
    for j in range(num_parts):
        ys, xs = np.nonzero(is_peak[j])
        values = heatmaps[j, ys, xs]
        if len(ys) > 1:
            # A plateau makes several touching, equal maxima: keep one pixel of each.
            labels, _ = ndimage.label(is_peak[j], structure=eight_connected)
            _, first = np.unique(labels[ys, xs], return_index=True)
            ys, xs, values = ys[first], xs[first], values[first]
        order = np.argsort(-values, kind="stable")[:params.max_peaks]
        ys, xs, values = ys[order], xs[order], values[order]
        fx, fy = xs.astype(np.float32), ys.astype(np.float32)
        if params.subpixel and len(ys):
            hm = heatmaps[j]
            inner_x = (xs > 0) & (xs < width - 1)
            inner_y = (ys > 0) & (ys < height - 1)
            xl, xr = np.clip(xs - 1, 0, width - 1), np.clip(xs + 1, 0, width - 1)
            yu, yd = np.clip(ys - 1, 0, height - 1), np.clip(ys + 1, 0, height - 1)
            fx = fx + np.where(inner_x, _parabola_offset(hm[ys, xl], values, hm[ys, xr]), 0.0)
            fy = fy + np.where(inner_y, _parabola_offset(hm[yu, xs], values, hm[yd, xs]), 0.0)
        peaks.append(np.stack([fx, fy, values], axis=1).astype(np.float32).reshape(-1, 3))
    return peaks


# ------------------------------------------------------------------------------------------------
# Limbs

def _bilinear(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    height, width = field.shape
    x = np.clip(x, 0.0, width - 1.0)
    y = np.clip(y, 0.0, height - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.intp), max(width - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.intp), max(height - 2, 0))
    x1 = np.minimum(x0 + 1, width - 1)
    y1 = np.minimum(y0 + 1, height - 1)
    ax, ay = x - x0, y - y0
    top = field[y0, x0] * (1 - ax) + field[y0, x1] * ax
    bottom = field[y1, x0] * (1 - ax) + field[y1, x1] * ax
    return top * (1 - ay) + bottom * ay


def score_limb_candidates(peaks_a: np.ndarray, peaks_b: np.ndarray, paf_x: np.ndarray,
                          paf_y: np.ndarray, params: GroupingParams = GroupingParams()
                          ) -> np.ndarray:
    """Every (peak of part a, peak of part b) pair that the PAF supports: float64 [n, 3] rows of
    (index in peaks_a, index in peaks_b, limb score), best first.

    The limb score is the mean over ``num_samples`` points of the segment of the PAF's projection
    on the segment's direction, plus a prior ``min(max_limb_fraction * H / length - 1, 0)`` that
    penalises limbs longer than that fraction of the map height H. A pair is kept when at least
    ``min_above_fraction`` of the samples exceed ``paf_threshold`` and the score is positive.
    """
    n, m = len(peaks_a), len(peaks_b)
    if n == 0 or m == 0:
        return np.zeros((0, 3))
    a = peaks_a[:, None, :2].astype(np.float64)
    b = peaks_b[None, :, :2].astype(np.float64)
    delta = b - a                                                      # [n, m, 2]
    length = np.sqrt((delta ** 2).sum(-1))
    unit = delta / np.maximum(length, 1e-9)[..., None]
    t = np.linspace(0.0, 1.0, params.num_samples)
    points = a[:, :, None, :] + t[None, None, :, None] * delta[:, :, None, :]   # [n, m, S, 2]
    vx = _bilinear(paf_x, points[..., 0], points[..., 1])
    vy = _bilinear(paf_y, points[..., 0], points[..., 1])
    dots = vx * unit[..., None, 0] + vy * unit[..., None, 1]
    needed = math.ceil(params.min_above_fraction * params.num_samples - 1e-9)
    above = (dots > params.paf_threshold).sum(-1)
    height = paf_x.shape[0]
    with np.errstate(divide="ignore"):
        prior = np.minimum(params.max_limb_fraction * height / np.maximum(length, 1e-9) - 1.0, 0.0)
    score = dots.mean(-1) + prior
    ok = (length > 1e-6) & (above >= needed) & (score > 0)
    ia, ib = np.nonzero(ok)
    rows = np.stack([ia, ib, score[ia, ib]], axis=1).astype(np.float64).reshape(-1, 3)
    # Best first; ties broken by the peaks' own scores.
    tie = peaks_a[ia, 2].astype(np.float64) + peaks_b[ib, 2]
    return rows[np.lexsort((-tie, -rows[:, 2]))]


def match_limbs(candidates: np.ndarray, n: int, m: int) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching: take candidates best first, each peak at most once."""
    used_a = np.zeros(n, dtype=bool)
    used_b = np.zeros(m, dtype=bool)
    matched = []
    for ia, ib, score in candidates:
        ia, ib = int(ia), int(ib)
        if used_a[ia] or used_b[ib]:
            continue
        used_a[ia] = used_b[ib] = True
        matched.append((ia, ib, float(score)))
        if len(matched) == min(n, m):
            break
    return matched


# ------------------------------------------------------------------------------------------------
# People

class _Person:
    __slots__ = ("parts", "limb_score", "alive")

    def __init__(self, num_parts: int):
        self.parts = np.full(num_parts, -1, dtype=np.intp)   # peak index per part, -1 = missing
        self.limb_score = 0.0
        self.alive = True


def _extend(people: list[_Person], owner: list[np.ndarray], who: int, part: int, peak: int,
            score: float) -> None:
    """Give person ``who`` the peak of ``part`` a limb reaches, when that part is still free."""
    person = people[who]
    if person.parts[part] < 0:
        person.parts[part] = peak
        person.limb_score += score
        owner[part][peak] = who


def _add_limb(people: list[_Person], owner: list[np.ndarray], part_a: int, part_b: int, ia: int, ib: int,
              score: float, num_parts: int) -> None:
    """Add one matched limb (peak ia of part_a to peak ib of part_b) to the people found so far."""
    pa, pb = owner[part_a][ia], owner[part_b][ib]
    if pa < 0 and pb < 0:
        person = _Person(num_parts)
        person.parts[part_a], person.parts[part_b] = ia, ib
        person.limb_score = score
        owner[part_a][ia] = owner[part_b][ib] = len(people)
        people.append(person)
    elif pa >= 0 and pb < 0:
        _extend(people, owner, pa, part_b, ib, score)
    elif pb >= 0 and pa < 0:
        _extend(people, owner, pb, part_a, ia, score)
    elif pa == pb:
        people[pa].limb_score += score
    else:
        keep, gone = people[pa], people[pb]
        if np.any((keep.parts >= 0) & (gone.parts >= 0)):
            return                                 # both have some part: two different people
        for part in np.nonzero(gone.parts >= 0)[0]:
            keep.parts[part] = gone.parts[part]
            owner[part][gone.parts[part]] = pa
        keep.limb_score += gone.limb_score + score
        gone.alive = False


def _keep_people(people: list[_Person], peaks: list[np.ndarray], model: PafModel,
                 params: GroupingParams) -> tuple[list[np.ndarray], list[float]]:
    """Keypoints [J, 3] and score of every live person with enough parts and a high enough mean."""
    num_parts = model.num_parts
    keypoints, scores = [], []
    norm = float(num_parts + len(model.limbs))
    for person in people:
        present = np.nonzero(person.parts >= 0)[0]
        if not person.alive or len(present) < params.min_parts:
            continue
        kp = np.full((num_parts, 3), np.nan, dtype=np.float32)
        kp[:, 2] = 0.0
        for part in present:
            kp[part] = peaks[part][person.parts[part]]
        total = float(kp[present, 2].sum()) + person.limb_score
        if total / len(present) < params.min_mean_score:
            continue
        keypoints.append(kp)
        scores.append(total / norm)
    return keypoints, scores


def assemble_people(peaks: list[np.ndarray], connections: list[list[tuple[int, int, float]]],
                    model: PafModel, params: GroupingParams = GroupingParams()
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Join the matched limbs into people: a limb whose ends belong to nobody starts a person; a limb
    with one end owned extends its owner when that part is still free; a limb joining two different
    people merges them when they share no part; a limb inside one person adds to its score.

    Returns (keypoints float32 [P, J, 3] of (x, y, score) with NaN, NaN, 0 for missing parts,
    scores float32 [P]), sorted by score, best first. The person score is
    (sum of part scores + sum of limb scores) / (J + L): higher for complete, confident people.
    """
    num_parts = model.num_parts
    owner = [np.full(len(p), -1, dtype=np.intp) for p in peaks]
    people: list[_Person] = []
    for (part_a, part_b), matched in zip(model.limbs, connections):
        for ia, ib, score in matched:
            _add_limb(people, owner, part_a, part_b, ia, ib, score, num_parts)
    keypoints, scores = _keep_people(people, peaks, model, params)
    if not keypoints:
        return np.zeros((0, num_parts, 3), np.float32), np.zeros((0,), np.float32)
    keypoints = np.stack(keypoints)
    scores = np.asarray(scores, dtype=np.float32)
    order = np.argsort(-scores, kind="stable")
    return keypoints[order], scores[order]


def group_people(heatmaps: np.ndarray, pafs: np.ndarray, model: PafModel,
                 params: GroupingParams = GroupingParams(), max_persons: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Part heat maps [J, H, W] and PAFs [2L, H, W] (the model's channel order) -> people, as
    ``assemble_people`` returns them, at most ``max_persons`` (None: all)."""
    if heatmaps.shape[0] != model.num_parts or pafs.shape[0] != model.num_pafs:
        raise ValueError(f"{model.name}: expected {model.num_parts} heat maps and {model.num_pafs} "
                         f"PAF channels, got {heatmaps.shape[0]} and {pafs.shape[0]}")
    if heatmaps.shape[1:] != pafs.shape[1:]:
        raise ValueError(f"heat maps {heatmaps.shape[1:]} and PAFs {pafs.shape[1:]} differ in size")
    peaks = find_peaks(heatmaps, params)
    connections = []
    for (part_a, part_b), (cx, cy) in zip(model.limbs, model.paf_channels):
        candidates = score_limb_candidates(peaks[part_a], peaks[part_b], pafs[cx], pafs[cy], params)
        connections.append(match_limbs(candidates, len(peaks[part_a]), len(peaks[part_b])))
    keypoints, scores = assemble_people(peaks, connections, model, params)
    if max_persons is not None:
        keypoints, scores = keypoints[:max_persons], scores[:max_persons]
    return keypoints, scores
