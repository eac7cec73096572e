"""OpenPose as a pose backend, two ways:

* ``backend="opencv"``: OpenPose's own BODY_25 or COCO Caffe model run through OpenCV's DNN module
  (``cv2.dnn.readNetFromCaffe``: present in OpenCV 4.x, gone in 5), with the part-affinity-field
  grouping in ``pipeline.pose.paf_grouping``. Needs only opencv-python and the model files.
* ``backend="pyopenpose"``: OpenPose's own Python API, which the user builds from source.

Either way the people are mapped from BODY_25 / COCO-18 to the project's 14 keypoints.

The model folder is OpenPose's ``models/`` folder (the one ``models/getModels.sh`` fills), holding
``pose/body_25/pose_deploy.prototxt`` + ``pose/body_25/pose_iter_584000.caffemodel`` and
``pose/coco/pose_deploy_linevec.prototxt`` + ``pose/coco/pose_iter_440000.caffemodel``. The root
of an OpenPose checkout (with ``models/`` inside) is accepted too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.keypoints import to_aic14
from pipeline.pose.base import Detections
from pipeline.pose.paf_grouping import (GROUPING_VERSION, HEATMAPS_FIRST, MODELS, OUTPUT_LAYOUTS,
                                        GroupingParams, PafModel, group_people)

# Model files inside the models folder, per model.
MODEL_FILES = {
    "body25": ("pose/body_25/pose_deploy.prototxt", "pose/body_25/pose_iter_584000.caffemodel"),
    "coco": ("pose/coco/pose_deploy_linevec.prototxt", "pose/coco/pose_iter_440000.caffemodel"),
}
PYOPENPOSE_MODEL_NAMES = {"body25": "BODY_25", "coco": "COCO"}
BACKENDS = ("opencv", "pyopenpose")
STRIDE = 8   # the networks' output stride

# OpenPose's own input normalisation for these (VGG-based) models: x / 256 - 0.5, BGR.
# (OpenCV's openpose sample uses x / 255 with no mean: a shifted input the models were not trained
# on; pass input_scale=1/255, input_mean=0 to reproduce it.)
DEFAULT_INPUT_SCALE = 1.0 / 256.0
DEFAULT_INPUT_MEAN = 128.0

GET_MODELS_HINT = ("download the OpenPose models with models/getModels.sh from "
                   "https://github.com/CMU-Perceptual-Computing-Lab/openpose (it fetches the "
                   ".caffemodel files next to the prototxts), then point pose.openpose.model_dir "
                   "at that models/ folder")
PYOPENPOSE_HINT = (
    "pyopenpose (OpenPose's Python API) is not importable. Build OpenPose from source with "
    "`cmake -DBUILD_PYTHON=ON ..` and `make` (see doc/03_python_api.md in "
    "https://github.com/CMU-Perceptual-Computing-Lab/openpose), then put the folder holding the "
    "built pyopenpose module (build/python/openpose, or the install's python/openpose) on "
    "PYTHONPATH. Or use backend='opencv', which needs only OpenCV 4.x and the model files.")


def normalize_model_name(model: str) -> str:
    key = str(model).lower().replace("_", "").replace("-", "")
    aliases = {"body25": "body25", "coco": "coco", "coco18": "coco"}
    if key not in aliases:
        raise ValueError(f"unknown OpenPose model {model!r}: one of body25, coco")
    return aliases[key]


def resolve_model_files(model_dir: str | Path | None, model: str) -> tuple[Path, Path]:
    """(prototxt, caffemodel) of ``model`` in ``model_dir``; a clear error naming what is missing."""
    model = normalize_model_name(model)
    if model_dir is None:
        raise FileNotFoundError(f"OpenPose needs a model folder (pose.openpose.model_dir is not set): "
                                f"{GET_MODELS_HINT}")
    root = Path(model_dir).expanduser()
    prototxt, weights = MODEL_FILES[model]
    if not (root / prototxt).is_file() and (root / "models" / prototxt).is_file():
        root = root / "models"                     # the OpenPose checkout itself was given
    missing = [str(root / rel) for rel in (prototxt, weights) if not (root / rel).is_file()]
    if missing:
        raise FileNotFoundError(f"OpenPose {model} model file(s) missing: {', '.join(missing)}; "
                                f"{GET_MODELS_HINT}")
    return root / prototxt, root / weights


def import_pyopenpose():
    """The pyopenpose module, as OpenPose installs it (``openpose.pyopenpose``) or as its build
    folder exposes it (``pyopenpose``); an ImportError that says how to build it otherwise."""
    try:
        from openpose import pyopenpose  # type: ignore[import-not-found]
        return pyopenpose
    except ImportError:
        pass
    try:
        import pyopenpose  # type: ignore[import-not-found]
        return pyopenpose
    except ImportError as error:
        raise ImportError(PYOPENPOSE_HINT) from error


def net_input_size(frame_height: int, frame_width: int, input_height: int) -> tuple[int, int]:
    """(height, width) of the network input: ``input_height`` rows and the frame's aspect ratio,
    the width rounded to a multiple of the stride."""
    width = max(STRIDE, int(round(frame_width * input_height / frame_height / STRIDE)) * STRIDE)
    return input_height, width


def maps_to_frame(points: np.ndarray, map_size: tuple[int, int], frame_size: tuple[int, int]
                  ) -> np.ndarray:
    """Pixel coordinates on maps of ``map_size`` (h, w) -> pixels of a frame of ``frame_size``
    (h, w). Pixel centres align: the maps and the frame cover the same field of view (the network
    input is the whole frame resized, the stride-8 maps cover it cell by cell)."""
    out = np.array(points, dtype=np.float32, copy=True)
    out[..., 0] = (out[..., 0] + 0.5) * (frame_size[1] / map_size[1]) - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * (frame_size[0] / map_size[0]) - 0.5
    return out


def _finish(keypoints: np.ndarray, scores: np.ndarray, layout: str, max_persons: int) -> Detections:
    """Source-layout people in frame pixels -> Detections: mapped to the 14, people without any of
    the 14 dropped, ranked by score, at most max_persons."""
    if len(keypoints) == 0:
        return Detections.empty()
    mapped = to_aic14(keypoints, layout)
    mapped[..., 2] = np.clip(mapped[..., 2], 0.0, 1.0)
    keep = (mapped[..., 2] > 0).any(-1)
    mapped, scores = mapped[keep], np.asarray(scores, dtype=np.float32)[keep]
    order = np.argsort(-scores, kind="stable")[:max_persons]
    return Detections(mapped[order].astype(np.float32), scores[order].astype(np.float32))


class OpenPoseEstimator:
    """OpenPose BODY_25 / COCO people in a frame, mapped to the 14 keypoints.

    model_dir: OpenPose's models/ folder (see the module docstring). model: body25 | coco.
    backend: opencv | pyopenpose. input_height: rows of the network input (a multiple of 8; the
    width follows the frame's aspect ratio). max_persons: the best people kept. num_threads:
    OpenCV's threads (process-wide). output_layout: see paf_grouping (the shipped models are
    heatmaps_first). input_scale, input_mean: blob = (BGR - mean) * scale. upsample: group on the
    maps resized to the network input, as OpenPose does (False: on the stride-8 maps, faster,
    coarser). dnn_target: cpu | cuda (an OpenCV built with CUDA). grouping: GroupingParams fields.
    pyopenpose_params: extra OpenPose flags for the pyopenpose backend.
    """
    name = "openpose"

    def __init__(self, model_dir: str | Path | None = None, model: str = "body25",
                 backend: str = "opencv", input_height: int = 368, max_persons: int = 4,
                 num_threads: int = 1, output_layout: str = HEATMAPS_FIRST,
                 input_scale: float = DEFAULT_INPUT_SCALE, input_mean: float = DEFAULT_INPUT_MEAN,
                 upsample: bool = True, dnn_target: str = "cpu", grouping: dict | None = None,
                 pyopenpose_params: dict | None = None):
        self.model = normalize_model_name(model)
        self.spec: PafModel = MODELS[self.model]
        if backend not in BACKENDS:
            raise ValueError(f"unknown OpenPose backend {backend!r}: one of {', '.join(BACKENDS)}")
        if output_layout not in OUTPUT_LAYOUTS:
            raise ValueError(f"unknown output_layout {output_layout!r}: one of {OUTPUT_LAYOUTS}")
        if input_height < STRIDE or input_height % STRIDE:
            raise ValueError(f"input_height must be a positive multiple of {STRIDE}, got {input_height}")
        if max_persons < 1:
            raise ValueError(f"max_persons must be >= 1, got {max_persons}")
        self.backend = backend
        self.input_height = int(input_height)
        self.max_persons = int(max_persons)
        self.output_layout = output_layout
        self.input_scale = float(input_scale)
        self.input_mean = float(input_mean)
        self.upsample = bool(upsample)
        self.grouping = GroupingParams(**(grouping or {}))
        if backend == "opencv":
            self._init_opencv(model_dir, num_threads, dnn_target)
        else:
            self._init_pyopenpose(model_dir, pyopenpose_params or {})

    # -- OpenCV DNN -------------------------------------------------------------------------------

    def _init_opencv(self, model_dir, num_threads: int, dnn_target: str) -> None:
        import cv2
        if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromCaffe"):
            raise ImportError(f"this OpenCV ({cv2.__version__}) has no cv2.dnn.readNetFromCaffe "
                              "(removed in OpenCV 5): install opencv-python 4.x, or use "
                              "backend='pyopenpose'")
        prototxt, weights = resolve_model_files(model_dir, self.model)
        cv2.setNumThreads(int(num_threads))
        self._cv2 = cv2
        self._net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
        if dnn_target == "cuda":
            self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CUDA)
        elif dnn_target == "cpu":
            self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        else:
            raise ValueError(f"unknown dnn_target {dnn_target!r}: cpu or cuda")
        self.version = (f"{self.model}/opencv-dnn-{cv2.__version__}/{weights.name}/h{self.input_height}"
                        f"/grouping-{GROUPING_VERSION}")

    def forward(self, frame_rgb: np.ndarray) -> np.ndarray:
        """The network's raw output [C, h, w] for one RGB frame (opencv backend)."""
        cv2 = self._cv2
        frame_h, frame_w = frame_rgb.shape[:2]
        net_h, net_w = net_input_size(frame_h, frame_w, self.input_height)
        bgr = np.ascontiguousarray(frame_rgb[..., ::-1])
        shrinking = net_h * net_w < frame_h * frame_w
        resized = cv2.resize(bgr, (net_w, net_h),
                             interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
        blob = cv2.dnn.blobFromImage(resized, scalefactor=self.input_scale, size=(net_w, net_h),
                                     mean=(self.input_mean,) * 3, swapRB=False, crop=False)
        self._net.setInput(blob)
        output = self._net.forward()
        return np.asarray(output[0], dtype=np.float32)

    def decode(self, output: np.ndarray, net_size: tuple[int, int], frame_size: tuple[int, int]
               ) -> Detections:
        """Raw output [C, h, w] of a network fed a ``net_size`` (h, w) input made from a frame of
        ``frame_size`` (h, w) -> Detections in frame pixels."""
        heat, pafs = self.spec.split_output(output, self.output_layout)
        if self.upsample:
            heat, pafs = (self._resize_maps(m, net_size) for m in (heat, pafs))
        keypoints, scores = group_people(heat, pafs, self.spec, self.grouping)
        keypoints[..., :2] = maps_to_frame(keypoints[..., :2], heat.shape[1:], frame_size)
        return _finish(keypoints, scores, self.spec.layout, self.max_persons)

    def _resize_maps(self, maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """[C, h, w] -> [C, *size], bicubic (cv2.resize takes up to 512 channels at once)."""
        hwc = np.ascontiguousarray(maps.transpose(1, 2, 0))
        resized = self._cv2.resize(hwc, (size[1], size[0]), interpolation=self._cv2.INTER_CUBIC)
        return np.ascontiguousarray(resized.reshape(size[0], size[1], -1).transpose(2, 0, 1))

    # -- pyopenpose -------------------------------------------------------------------------------

    def _init_pyopenpose(self, model_dir, extra: dict) -> None:
        op = import_pyopenpose()
        resolve_model_files(model_dir, self.model)   # fail early, with the same clear message
        root = Path(model_dir).expanduser()
        if not (root / MODEL_FILES[self.model][0]).is_file():
            root = root / "models"
        params = {"model_folder": str(root) + "/", "model_pose": PYOPENPOSE_MODEL_NAMES[self.model],
                  "net_resolution": f"-1x{self.input_height}", "render_pose": 0, **extra}
        self._op = op
        self._wrapper = op.WrapperPython()
        self._wrapper.configure(params)
        self._wrapper.start()
        self.version = (f"{self.model}/pyopenpose-{getattr(op, '__version__', 'unknown')}"
                        f"/h{self.input_height}")

    def _call_pyopenpose(self, frame_rgb: np.ndarray) -> Detections:
        op = self._op
        datum = op.Datum()
        datum.cvInputData = np.ascontiguousarray(frame_rgb[..., ::-1])
        if hasattr(op, "VectorDatum"):               # OpenPose >= 1.7
            self._wrapper.emplaceAndPop(op.VectorDatum([datum]))
        else:
            self._wrapper.emplaceAndPop([datum])
        people = datum.poseKeypoints
        if people is None or np.ndim(people) != 3 or len(people) == 0:
            return Detections.empty()
        people = np.array(people, dtype=np.float32)  # [P, J, 3], missing parts are (0, 0, 0)
        # Rank like the opencv path favours complete people: mean confidence over all J parts.
        scores = people[..., 2].mean(-1)
        return _finish(people, scores, self.spec.layout, self.max_persons)

    # -- both -------------------------------------------------------------------------------------

    def __call__(self, frame_rgb: np.ndarray) -> Detections:
        frame_rgb = np.asarray(frame_rgb)
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(f"expected a uint8 [H, W, 3] RGB frame, got {frame_rgb.dtype} "
                             f"{frame_rgb.shape}")
        if self.backend == "pyopenpose":
            return self._call_pyopenpose(frame_rgb)
        output = self.forward(frame_rgb)
        net_size = net_input_size(frame_rgb.shape[0], frame_rgb.shape[1], self.input_height)
        return self.decode(output, net_size, frame_rgb.shape[:2])
