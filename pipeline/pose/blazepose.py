"""The default offline pose backend: MediaPipe's BlazePose models (the person detector and the full
landmark model that the mediapipe 0.10.21 wheel ships, Apache-2.0) run with ai-edge-litert, behind
a multi-person front end that MediaPipe's own single-person graphs lack.

Per frame:

1. Person candidates. The BlazePose detector runs on the whole frame (letterboxed to a square) and
   on a grid of overlapping square tiles (``tile_fraction`` of the short side), so that people too
   small for the whole-frame pass are seen at a usable resolution. Each detection carries two
   alignment points (hip centre and a point on the full-body circle) that define a rotated square
   region of interest (ROI). Optional extra sources: OpenCV's HOG people detector (upright ROIs
   around its boxes, ``hog=True``) and detector passes over the frame with the people already
   found blacked out (``mask_rounds``).
2. Landmarks per candidate, best detector score first, at most ``max_candidates``: the landmark
   model runs on the ROI crop; its own two auxiliary alignment points give a refined ROI on which
   it runs again (MediaPipe's tracking step, done at once; skipped when the ROI is already where
   the model puts it). A candidate is a person when the model's pose-presence probability reaches
   ``min_score``. Candidates that fall on a person already found are skipped.
3. Duplicates go: two people are one when their keypoint boxes overlap (IoU > ``person_iou``) or
   their body masks do (the landmark model's person segmentation); a person whose mask lies inside
   a much larger one's is a limb read as a body and goes, otherwise the higher person score stays.
4. The 33 landmarks are projected back into the frame and mapped to the project's 14 keypoints
   with ``pipeline.keypoints.to_aic14(..., 'blazepose33')``.

Keypoint confidence = sigmoid(visibility) x sigmoid(presence) of the landmark (a derived joint
takes the smallest of its sources). A landmark whose presence probability is under
``min_joint_presence`` (the model's "outside the image" signal) or that lies more than
``frame_margin`` of the frame size outside the frame is missing: NaN, confidence 0.

Person score (Detections.scores, used for ranking) = the landmark model's pose-presence probability
x the mean confidence of the 14 keypoints (missing ones count 0): sure, fully visible people rank
first. People without any of the 14 keypoints are dropped.

Coordinates are continuous pixel coordinates (x / width is MediaPipe's normalised x).

Videos (``estimate_frames``, what the pose stage calls): frame by frame as above by default. With
``track: true`` the people of the previous frame are candidates too (their last ROI, scored by their
pose presence, as MediaPipe's tracking does), and with ``tile_every: k`` the tiles run on every k-th
frame only, and on any other frame where the whole frame and the tracked people give nobody: tiles
find the small people once, tracking keeps them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from pipeline.keypoints import NUM_KEYPOINTS, to_aic14
from pipeline.io import sha256_prefix
from pipeline.pose import blazepose_geometry as geo
from pipeline.pose.base import MIN_FRAME_SIDE, Detections, validate_frame
from pipeline.pose.blazepose_models import (DETECTOR_FILE, LANDMARK_FILE, NUM_LANDMARKS, Detector,
                                            Landmarker, locate_models)

NAME = "blazepose"
ALGORITHM_VERSION = "1"


@dataclass
class Candidate:
    roi: geo.Roi
    score: float
    source: str


@dataclass
class Person:
    """One person found: 33 landmarks [33, 3] (frame x, y, confidence; NaN when missing), the pose
    presence probability, the person score, the 14 keypoints, the keypoint box of the present
    landmarks, the ROI of the final landmark pass and the person mask of that crop."""
    landmarks: np.ndarray
    presence: float
    score: float
    keypoints: np.ndarray
    box: np.ndarray
    roi: geo.Roi
    mask: np.ndarray
    source: str = ""
    passes: int = 0
    extra: dict = field(default_factory=dict)


class BlazePoseEstimator:
    """Multi-person BlazePose (see the module docstring). ``__call__(frame_rgb) -> Detections``.

    Constructor options:

    max_persons: most people returned per frame (best person scores first).
    min_score: least pose-presence probability (landmark model) for a candidate to be a person.
    num_threads: interpreter threads (1: the pipeline runs one estimator per worker process).
    model_dir: folder holding pose_detection.tflite and pose_landmark_full.tflite (flat or in
        MediaPipe's modules/<name>/ layout); None: the files inside the installed mediapipe.
    detector_score: least detector score for a candidate (MediaPipe's own threshold).
    upright_detector_score: least detector score for a candidate whose body axis is within
        ``upright_degrees`` of vertical. People seen from behind or side-on get low detector
        scores (the detector keys on the face), while its low-score false detections are mostly
        tilted (objects on the ground, limbs read as bodies): upright ones get this lower bar.
    tiles, tile_fraction, min_tile_pixels: also run the detector on overlapping square tiles of
        side tile_fraction x the frame's short side, unless that is under min_tile_pixels.
    hog: also take candidates from OpenCV's HOG people detector (slow on big frames).
    mask_rounds: extra whole-frame detector passes with the people found so far blacked out.
    max_candidates: most candidates that get the landmark model (default 2 x max_persons + 2).
    refine_passes: most landmark passes on ROIs re-derived from the model's alignment points.
    heatmap_refine: move landmarks to the centroid of their heatmap (as MediaPipe does).
    person_iou: keypoint-box IoU above which two people are one.
    duplicate_fraction: two people are also one when this fraction of one's body mask lies on
        the other's.
    min_joint_presence, frame_margin: when a landmark counts as missing (module docstring).
    track, tile_every: in videos (``estimate_frames``), the previous frame's people are
        candidates; the tiles run every tile_every-th frame, or when nobody else is found.
    """
    name = NAME

    def __init__(self, max_persons: int = 4, min_score: float = 0.5, num_threads: int = 1,
                 model_dir: str | None = None, detector_score: float = 0.5,
                 upright_detector_score: float = 0.2, upright_degrees: float = 45.0,
                 tiles: bool = True, tile_fraction: float = 0.6, min_tile_pixels: int = 96,
                 hog: bool = False, mask_rounds: int = 0, max_candidates: int | None = None,
                 refine_passes: int = 1, heatmap_refine: bool = True, person_iou: float = 0.5,
                 duplicate_fraction: float = 0.5, min_joint_presence: float = 0.5,
                 frame_margin: float = 0.1, track: bool = False, tile_every: int = 1):
        if int(max_persons) < 1:
            raise ValueError(f"max_persons must be >= 1, got {max_persons}")
        self.max_persons = int(max_persons)
        self.min_score = float(min_score)
        self.detector_score = float(detector_score)
        self.upright_detector_score = min(float(upright_detector_score), self.detector_score)
        self.upright_radians = math.radians(float(upright_degrees))
        self.tiles = bool(tiles)
        self.tile_fraction = float(tile_fraction)
        self.min_tile_pixels = int(min_tile_pixels)
        self.hog = bool(hog)
        self.mask_rounds = int(mask_rounds)
        self.max_candidates = (int(max_candidates) if max_candidates is not None
                               else 2 * self.max_persons + 2)
        self.refine_passes = int(refine_passes)
        self.heatmap_refine = bool(heatmap_refine)
        self.person_iou = float(person_iou)
        self.duplicate_fraction = float(duplicate_fraction)
        self.min_joint_presence = float(min_joint_presence)
        self.frame_margin = float(frame_margin)
        self.track = bool(track)
        if int(tile_every) < 1:
            raise ValueError(f"tile_every must be >= 1, got {tile_every}")
        self.tile_every = int(tile_every)

        self._load_models(model_dir, num_threads)

    def _load_models(self, model_dir: str | None, num_threads: int) -> None:
        """The detector and landmark interpreters, the detector's anchors and the version string."""
        paths = locate_models(model_dir)
        self.model_paths = paths
        self.detector = Detector(paths[DETECTOR_FILE], num_threads)
        self.landmarker = Landmarker(paths[LANDMARK_FILE], num_threads)
        self.anchors = geo.ssd_anchors(self.detector.input_size)
        if len(self.anchors) != self.detector.num_anchors:
            raise RuntimeError(f"{DETECTOR_FILE} has {self.detector.num_anchors} anchors, the anchor "
                               f"generator makes {len(self.anchors)}: not the BlazePose detector")
        self.version = (f"{ALGORITHM_VERSION}+det-{sha256_prefix(paths[DETECTOR_FILE])}"
                        f"+lmk-{sha256_prefix(paths[LANDMARK_FILE])}")

    # ------------------------------------------------------------------ person candidates
    def _detect(self, frame: np.ndarray, x0: int, y0: int, side: int) -> list[Candidate]:
        """Detector pass over the square [x0, x0 + side) x [y0, y0 + side) of the frame."""
        image, square = geo.crop_upright(frame, x0, y0, side, self.detector.input_size)
        out = self.detector(image)
        det = geo.decode_detections(out.boxes, out.scores, self.anchors, self.upright_detector_score,
                                    self.detector.input_size)
        det = geo.weighted_nms(det)
        cands = []
        for kps, score in zip(det.keypoints, det.scores):
            p = square.to_frame(kps[:2])
            roi = geo.roi_from_alignment(p[0], p[1])
            if roi.width < 4:
                continue
            if score < self.detector_score and abs(roi.rotation) > self.upright_radians:
                continue
            cands.append(Candidate(roi, float(score), "detector"))
        return cands

    def _squares(self, h: int, w: int, tiles: bool | None = None) -> list[tuple[int, int, int]]:
        """(x0, y0, side) of the detector passes: the whole frame letterboxed, then overlapping tiles
        (neighbours share at least a quarter of a tile; none when ``tiles`` is False)."""
        long_side = max(h, w)
        out = [((w - long_side) // 2, (h - long_side) // 2, long_side)]
        side = int(round(self.tile_fraction * min(h, w)))
        if not (self.tiles if tiles is None else tiles) or side < self.min_tile_pixels:
            return out
        overlap = 0.25 * side
        nx = max(1, math.ceil((w - overlap) / (side - overlap)))
        ny = max(1, math.ceil((h - overlap) / (side - overlap)))
        xs = np.linspace(0, w - side, nx) if nx > 1 else [(w - side) / 2]
        ys = np.linspace(0, h - side, ny) if ny > 1 else [(h - side) / 2]
        out += [(int(round(x)), int(round(y)), side) for y in ys for x in xs]
        return out

    def _hog_candidates(self, frame: np.ndarray) -> list[Candidate]:
        from pipeline.pose.person_boxes import hog_people
        boxes, weights = hog_people(frame)
        # HOG boxes hold the whole person with a margin; the landmark model wants the body to fill
        # about 1 / 1.25 of its crop. Score: the SVM margin squashed into (0, 1).
        return [Candidate(geo.roi_from_box(b, 1.1), float(1 / (1 + math.exp(-w))), "hog")
                for b, w in zip(boxes, weights)]

    # ------------------------------------------------------------------ landmarks
    def _landmarks(self, frame: np.ndarray, roi: geo.Roi):
        out = self.landmarker(geo.crop(frame, roi, self.landmarker.input_size))
        uv = out.landmarks[:, :2] / self.landmarker.input_size
        if self.heatmap_refine:
            uv = geo.refine_with_heatmap(uv, out.heatmap)
        xy = roi.to_frame(uv)
        return xy, geo.sigmoid(out.landmarks[:, 3]), geo.sigmoid(out.landmarks[:, 4]), out.presence, out.mask

    def _person(self, frame: np.ndarray, cand: Candidate) -> Person | None:
        h, w = frame.shape[:2]
        roi = cand.roi
        xy, vis, pres, flag, mask = self._landmarks(frame, roi)
        passes = 1
        for _ in range(self.refine_passes):
            if flag < self.min_score:
                return None
            nxt = geo.roi_from_alignment(xy[NUM_LANDMARKS], xy[NUM_LANDMARKS + 1])
            if nxt.width < 4 or _same_roi(roi, nxt):
                break
            roi = nxt
            xy, vis, pres, flag, mask = self._landmarks(frame, roi)
            passes += 1
        if flag < self.min_score:
            return None
        xy, vis, pres = xy[:NUM_LANDMARKS], vis[:NUM_LANDMARKS], pres[:NUM_LANDMARKS]
        mx, my = self.frame_margin * w, self.frame_margin * h
        inside = (xy[:, 0] >= -mx) & (xy[:, 0] <= w + mx) & (xy[:, 1] >= -my) & (xy[:, 1] <= h + my)
        ok = (pres >= self.min_joint_presence) & inside
        pts = np.concatenate([xy, (vis * pres)[:, None]], axis=1).astype(np.float32)
        pts[~ok] = (np.nan, np.nan, 0.0)
        k14 = to_aic14(pts, "blazepose33")
        present = np.isfinite(k14[:, 0])
        if not present.any():
            return None
        good = pts[ok]
        box = np.array([good[:, 0].min(), good[:, 1].min(), good[:, 0].max(), good[:, 1].max()])
        score = float(flag) * float(k14[:, 2].mean())
        return Person(pts, float(flag), score, k14, box, roi, mask, cand.source, passes)

    # ------------------------------------------------------------------ frame
    def find_people(self, frame: np.ndarray, tiles: bool | None = None,
                    tracked: Iterable[Person] = ()) -> list[Person]:
        """Everyone found in an RGB uint8 frame (before the max_persons limit), best score first.
        ``tiles`` False: the tiles run only when nobody is found without them (None: ``self.tiles``).
        ``tracked``: people of the previous frame, whose ROIs are candidates too."""
        h, w = frame.shape[:2]
        squares = self._squares(h, w, tiles)
        cands = [Candidate(p.roi, p.presence, "track") for p in tracked]
        for x0, y0, side in squares:
            cands += self._detect(frame, x0, y0, side)
        if self.hog:
            cands += self._hog_candidates(frame)
        people: list[Person] = []
        budget = [self.max_candidates]
        self._consume(frame, cands, people, budget)
        if not people and self.tiles and tiles is False:
            late = [c for square in self._squares(h, w, True)[1:] for c in self._detect(frame, *square)]
            self._consume(frame, late, people, budget)
        for _ in range(self.mask_rounds):
            if budget[0] <= 0 or not people:
                break
            masked = frame.copy()
            for p in people:
                x0, y0, x1, y1 = np.round(_grow(p.box, 0.1)).astype(int)
                masked[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0
            more = self._detect(masked, *squares[0])
            if not more:
                break
            self._consume(frame, more, people, budget)
        people.sort(key=lambda p: -p.score)
        return people

    def _consume(self, frame, cands: list[Candidate], people: list[Person], budget: list[int]):
        for cand in _merge_candidates(cands):
            if budget[0] <= 0:
                break
            if any(_taken(p, cand.roi) for p in people):
                continue
            budget[0] -= 1
            person = self._person(frame, cand)
            if person is None:
                continue
            verdicts = [self._duplicate(p, person) for p in people]
            if "new" in verdicts:
                continue
            people[:] = [p for p, v in zip(people, verdicts) if v != "old"]
            people.append(person)

    def _duplicate(self, old: Person, new: Person) -> str:
        """Which of two people to drop: "" (keep both), "new" or "old". Two are the same person when
        their keypoint boxes overlap (IoU > person_iou) or their body masks do (the smaller one lies
        at least ``duplicate_fraction`` on the other). A mask at least 1.5 times the other's area and
        covering at least 80 % of it is the whole person and the smaller one a part of it (a limb
        read as a body): the whole one stays. Otherwise the higher person score stays."""
        in_old, in_new = _containment(new, old), _containment(old, new)
        same = max(in_old, in_new) >= self.duplicate_fraction
        if not same and geo.box_iou(old.box, new.box)[0, 0] <= self.person_iou:
            return ""
        area_old, area_new = _mask_area(old), _mask_area(new)
        if area_old >= 1.5 * area_new and in_old >= 0.8:
            return "new"
        if area_new >= 1.5 * area_old and in_new >= 0.8:
            return "old"
        return "new" if old.score >= new.score else "old"

    def __call__(self, frame_rgb: np.ndarray) -> Detections:
        frame = validate_frame(frame_rgb)
        if min(frame.shape[:2]) < MIN_FRAME_SIDE:
            return Detections.empty()
        return self._detections(self.find_people(frame))

    def estimate_frames(self, frames: Iterable[np.ndarray]) -> Iterator[Detections]:
        """Detections of a video's frames, in order (``track``, ``tile_every``: module docstring)."""
        for _, people in self.people_in_video(frames):
            yield self._detections(people)

    def people_in_video(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, list[Person]]]:
        """(frame, everyone found in it) for each frame of a video, in order: ``find_people`` with the
        previous frame's people as candidates (``track``) and tiles every ``tile_every`` frames."""
        previous: list[Person] = []
        for i, frame_rgb in enumerate(frames):
            frame = validate_frame(frame_rgb)
            if min(frame.shape[:2]) < MIN_FRAME_SIDE:
                previous = []
                yield frame, []
                continue
            tiles = None if i % self.tile_every == 0 else False
            people = self.find_people(frame, tiles=tiles, tracked=previous if self.track else ())
            previous = people[: self.max_persons]
            yield frame, people

    def _detections(self, people: list[Person]) -> Detections:
        people = people[: self.max_persons]
        if not people:
            return Detections.empty()
        kps = np.stack([p.keypoints for p in people]).astype(np.float32)
        scores = np.array([p.score for p in people], np.float32)
        assert kps.shape[1:] == (NUM_KEYPOINTS, 3)
        return Detections(kps, scores)


def _same_roi(a: geo.Roi, b: geo.Roi) -> bool:
    """Two ROIs differ by less than the model's own jitter: centres within 5 % of the size, sizes
    within 10 %, rotations within 10 degrees."""
    size = max(a.width, 1e-6)
    turn = abs((a.rotation - b.rotation + math.pi) % (2 * math.pi) - math.pi)
    return (math.hypot(a.cx - b.cx, a.cy - b.cy) <= 0.05 * size and abs(b.width / size - 1) <= 0.1
            and turn <= math.radians(10))


def _taken(person: Person, roi: geo.Roi) -> bool:
    """A candidate ROI is a person already found when it is about that person's ROI: centres within
    a quarter of the size, sizes within a factor 1.6."""
    ratio = roi.width / max(person.roi.width, 1e-6)
    near = math.hypot(roi.cx - person.roi.cx, roi.cy - person.roi.cy) <= 0.25 * person.roi.width
    return near and 1 / 1.6 <= ratio <= 1.6


def _mask_area(p: Person) -> float:
    """Area in frame pixels of a person's segmentation mask."""
    m = p.mask
    return float(m.sum()) * (p.roi.width / m.shape[1]) * (p.roi.height / m.shape[0])


def _containment(a: Person, b: Person) -> float:
    """Fraction of a's mask that lies on b's mask (each mask lives in its own rotated ROI)."""
    ma, mb = a.mask, b.mask
    rows, cols = np.nonzero(ma)
    if len(rows) == 0:
        return 0.0
    uv = np.stack([(cols + 0.5) / ma.shape[1], (rows + 0.5) / ma.shape[0]], axis=1)
    ij = np.floor(b.roi.from_frame(a.roi.to_frame(uv)) * np.array([mb.shape[1], mb.shape[0]])).astype(int)
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < mb.shape[1]) & (ij[:, 1] >= 0) & (ij[:, 1] < mb.shape[0])
    hits = np.zeros(len(uv), bool)
    hits[inside] = mb[ij[inside, 1], ij[inside, 0]]
    return float(hits.mean())


def _grow(box, frac):
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * frac, (y1 - y0) * frac
    return np.array([x0 - dx, y0 - dy, x1 + dx, y1 + dy])


def _merge_candidates(cands: list[Candidate]) -> list[Candidate]:
    """Candidates of one person from several detector passes: keep the best of each group of ROIs
    overlapping by IoU > 0.5 (axis-aligned bounds), best score first."""
    kept: list[Candidate] = []
    for c in sorted(cands, key=lambda c: -c.score):
        b = c.roi.bounds()
        if any(geo.box_iou(k.roi.bounds(), b)[0, 0] > 0.5 for k in kept):
            continue
        kept.append(c)
    return kept
