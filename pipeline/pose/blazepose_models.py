"""The two BlazePose models (Apache-2.0) that the mediapipe wheel ships, run with the ai-edge-litert
interpreter: the person detector (pose_detection.tflite) and the full landmark model
(pose_landmark_full.tflite). The files are found inside the installed mediapipe package, or in a
folder the caller names (``model_dir``) for offline copies.

Tensor layouts are read from the interpreter (by shape), not assumed from output order.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
# Where the files sit inside the mediapipe package.
PACKAGE_SUBDIRS = {DETECTOR_FILE: ("modules", "pose_detection"), LANDMARK_FILE: ("modules", "pose_landmark")}

NUM_LANDMARKS = 33        # the BlazePose body landmarks
NUM_AUX = 2               # then two alignment points (hip centre, full-body circle point) for the next ROI
LANDMARK_VALUES = 5       # x, y, z, visibility logit, presence logit


class BlazePoseModelError(RuntimeError):
    pass


def _mediapipe_dir() -> Path | None:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def locate_models(model_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of the two model files: in ``model_dir`` when given (flat, or with MediaPipe's
    modules/<name>/ layout), otherwise inside the installed mediapipe package."""
    found, tried = {}, []
    if model_dir is not None:
        root = Path(model_dir).expanduser()
        if not root.is_dir():
            raise BlazePoseModelError(f"blazepose model_dir {str(root)!r} is not a folder")
        for name, sub in PACKAGE_SUBDIRS.items():
            for cand in (root / name, root.joinpath(*sub, name)):
                tried.append(str(cand))
                if cand.is_file():
                    found[name] = cand
                    break
        where = f"model_dir {str(root)!r}"
    else:
        pkg = _mediapipe_dir()
        if pkg is None:
            raise BlazePoseModelError(
                "the blazepose pose estimator needs the mediapipe package (pip install mediapipe==0.10.21), "
                "which ships its model files, or model_dir pointing to a folder holding "
                f"{DETECTOR_FILE} and {LANDMARK_FILE}")
        for name, sub in PACKAGE_SUBDIRS.items():
            cand = pkg.joinpath(*sub, name)
            tried.append(str(cand))
            if cand.is_file():
                found[name] = cand
        where = f"the mediapipe package at {str(pkg)!r}"
    missing = [n for n in PACKAGE_SUBDIRS if n not in found]
    if missing:
        raise BlazePoseModelError(
            f"BlazePose model file(s) {', '.join(missing)} not found in {where} (looked for: "
            f"{', '.join(tried)}). Copy {DETECTOR_FILE} and {LANDMARK_FILE} from a mediapipe 0.10.21 "
            "wheel (mediapipe/modules/pose_detection/, mediapipe/modules/pose_landmark/) into that folder.")
    return found


def _interpreter(path: Path, num_threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BlazePoseModelError("the blazepose pose estimator needs ai-edge-litert "
                                  "(pip install ai-edge-litert==1.2.0)") from e
    try:
        it = Interpreter(model_path=str(path), num_threads=int(num_threads))
        it.allocate_tensors()
    except Exception as e:
        raise BlazePoseModelError(f"cannot load the tflite model {str(path)!r}: {e}") from e
    return it


def _check_input(it, path: Path, size: int):
    (inp,) = it.get_input_details()
    if tuple(inp["shape"]) != (1, size, size, 3) or inp["dtype"] != np.float32:
        raise BlazePoseModelError(f"{path.name}: expected a float32 [1, {size}, {size}, 3] input, "
                                  f"got {inp['dtype'].__name__} {list(inp['shape'])}")
    return inp["index"]


@dataclass
class DetectorOutput:
    boxes: np.ndarray      # [A, 12] raw box + keypoint regressions
    scores: np.ndarray     # [A] logits


class Detector:
    """pose_detection.tflite: NHWC float input in [-1, 1]; outputs [1, A, 12] regressions and
    [1, A, 1] score logits."""
    input_size = 224

    def __init__(self, path: Path, num_threads: int = 1):
        self.path = path
        self.it = _interpreter(path, num_threads)
        self.input_index = _check_input(self.it, path, self.input_size)
        outs = self.it.get_output_details()
        reg = [o for o in outs if len(o["shape"]) == 3 and o["shape"][2] == 12]
        cls = [o for o in outs if len(o["shape"]) == 3 and o["shape"][2] == 1]
        if len(reg) != 1 or len(cls) != 1 or reg[0]["shape"][1] != cls[0]["shape"][1]:
            raise BlazePoseModelError(f"{path.name}: unexpected outputs "
                                      f"{[list(o['shape']) for o in outs]} (want [1, A, 12] and [1, A, 1])")
        self.num_anchors = int(reg[0]["shape"][1])
        self.reg_index, self.cls_index = reg[0]["index"], cls[0]["index"]

    def __call__(self, image_uint8: np.ndarray) -> DetectorOutput:
        x = image_uint8.astype(np.float32)[None] * (2.0 / 255.0) - 1.0
        self.it.set_tensor(self.input_index, x)
        self.it.invoke()
        return DetectorOutput(self.it.get_tensor(self.reg_index)[0].copy(),
                              self.it.get_tensor(self.cls_index)[0, :, 0].copy())


@dataclass
class LandmarkOutput:
    landmarks: np.ndarray  # [35, 5]: x, y (input pixels), z, visibility logit, presence logit
    presence: float        # pose presence flag, probability
    heatmap: np.ndarray    # [64, 64, 39] logits
    mask: np.ndarray       # [64, 64] bool person segmentation of the crop (logit > 0, subsampled 4x)


class Landmarker:
    """pose_landmark_full.tflite: NHWC float input in [0, 1] of a 256 x 256 crop; outputs
    [1, 195] = 39 x 5 landmark values, [1, 1] pose presence (a probability), [1, 256, 256, 1]
    segmentation logits, [1, 64, 64, 39] heatmaps and [1, 117] world landmarks."""
    input_size = 256

    def __init__(self, path: Path, num_threads: int = 1):
        self.path = path
        self.it = _interpreter(path, num_threads)
        self.input_index = _check_input(self.it, path, self.input_size)
        outs = self.it.get_output_details()
        shapes = {tuple(o["shape"]): o["index"] for o in outs}
        try:
            self.lm_index = shapes[(1, 195)]
            self.flag_index = shapes[(1, 1)]
            self.hm_index = shapes[(1, 64, 64, 39)]
            self.seg_index = shapes[(1, 256, 256, 1)]
        except KeyError:
            raise BlazePoseModelError(f"{path.name}: unexpected outputs {sorted(shapes)} (want [1, 195] "
                                      "landmarks, [1, 1] presence, [1, 64, 64, 39] heatmaps, "
                                      "[1, 256, 256, 1] segmentation)")

    def __call__(self, image_uint8: np.ndarray) -> LandmarkOutput:
        x = image_uint8.astype(np.float32)[None] * (1.0 / 255.0)
        self.it.set_tensor(self.input_index, x)
        self.it.invoke()
        lm = self.it.get_tensor(self.lm_index)[0].reshape(-1, LANDMARK_VALUES)[:NUM_LANDMARKS + NUM_AUX]
        flag = float(self.it.get_tensor(self.flag_index)[0, 0])
        seg = self.it.get_tensor(self.seg_index)[0, :, :, 0]
        mask = seg.reshape(64, 4, 64, 4).mean(axis=(1, 3)) > 0
        return LandmarkOutput(lm.copy(), flag, self.it.get_tensor(self.hm_index)[0].copy(), mask)
