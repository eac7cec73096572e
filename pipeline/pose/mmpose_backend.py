"""OpenMMLab MMPose as a pose backend, two ways (``mode``):

* ``topdown``: person boxes, then a top-down model (RTMPose, HRNet, ...) on each box, given what
  ``mmpose.apis.inference_topdown`` would give it. Boxes (``boxes``): ``blazepose`` (default: the project's own
  person finding, BlazePose detector on the frame and tiles + landmark check, optionally with HOG;
  offline, no detector weights), ``hog`` (OpenCV's HOG people detector alone), ``mmdet`` (an MMDetection
  detector from ``detector_config`` + ``detector_checkpoint``, e.g. RTMDet) or ``frame`` (the whole
  frame is one box). ``frame_fallback``: when the box source finds nobody, the whole frame is tried.
* ``bottomup``: a one-stage multi-person model (RTMO) on the whole frame, given what
  ``mmpose.apis.inference_bottomup`` would give it.

``config`` is a config .py file, or the name of one that ships inside the mmpose package
(``mmpose/.mim/configs``): its file name with or without ``.py``
(``rtmpose-m_8xb256-420e_aic-coco-256x192``) or its path under configs/. ``checkpoint`` is a local
.pth file or an http(s) URL, downloaded once into torch's hub cache (``~/.cache/torch/hub/checkpoints``,
where mmengine keeps them too). The official checkpoint of each config is the ``Weights:`` URL in the
model-zoo .yml beside it. Offline machines copy the .pth over and name its path.

Checkpoints are loaded here, not by ``init_model``: mmengine 0.10.7 calls ``torch.load`` without
``weights_only``, which torch >= 2.6 turns into a weights-only load that refuses the numpy arrays in
mmpose's checkpoint metadata. We load with ``weights_only=True`` plus numpy's array types allowed;
anything else needs ``trust_checkpoint: true`` (a full pickle load: only for files you trust).

Keypoints: the model's keypoint names (its ``dataset_meta``, from the checkpoint, else the config)
give the layout: COCO-17 (also the first 17 joints of Halpe-26 and COCO-WholeBody models) or AI
Challenger 14 (``layout: auto``), mapped to the project's 14 with ``pipeline.keypoints.to_aic14``
(head top and neck of COCO-17 are derived there). ``layout: coco17 | aic14`` overrides the names (a
checkpoint without metadata). A keypoint's confidence is MMPose's keypoint score clipped to [0, 1];
below ``keypoint_min_score`` the joint is missing (NaN, confidence 0).

Person score (Detections.scores, used for ranking) = box score x the mean confidence of the 14
keypoints (missing ones count 0). Box score: the BlazePose person score, sigmoid of the HOG margin,
the detector's score, or 1 for a whole-frame box; for ``bottomup`` the model's instance score.
People without any of the 14, or under ``min_score``, are dropped; the best ``max_persons`` stay.

Batches (``estimate_frames``, what the pose stage calls for a video): the person crops (top-down) or
frames (bottom-up) of consecutive frames go through the model together, at least ``batch_size`` at
a time, while a thread reads the next frames, finds their person boxes and runs MMPose's transforms.
BlazePose boxes follow the people through the video there (``blazepose: {track: true, tile_every: 5}``).
The people are those of the frame-by-frame path (``__call__``) up to floating-point rounding.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import pickle
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import urlparse

import numpy as np

from pipeline.keypoints import KEYPOINT_NAMES, LAYOUT_SIZES, to_aic14
from pipeline.io import sha256_prefix
from pipeline.parallel import prefetched
from pipeline.pose.base import MIN_FRAME_SIDE, Detections, validate_frame

NAME = "mmpose"
ALGORITHM_VERSION = "1"
MODES = ("topdown", "bottomup")
BOX_SOURCES = ("blazepose", "hog", "mmdet", "frame")
LAYOUTS = ("auto", "coco17", "aic14")

# Keypoint names as MMPose's dataset_meta spells them (configs/_base_/datasets/coco.py, aic.py).
COCO17_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")

EXAMPLE_CONFIG = "rtmpose-m_8xb256-420e_aic-coco-256x192"
EXAMPLE_CHECKPOINT = ("https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"
                      "rtmpose-m_simcc-aic-coco_pt-aic-coco_420e-256x192-63eb25f7_20230126.pth")

INSTALL_HINT = (
    "Install, in this environment: (1) `pip install --no-deps -r requirements-mmpose.txt` (mmpose "
    "1.3.2, mmengine, mmdet, mmcv-lite and their small dependencies, pinned); (2) mmcv with its "
    "compiled ops in place of mmcv-lite: `pip uninstall -y mmcv-lite`, then `pip install -U openmim "
    "&& mim install mmcv==2.1.0` (a prebuilt wheel where OpenMMLab publishes one for your torch and "
    "CUDA, e.g. `pip install mmcv==2.1.0 -f https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/"
    "index.html`; otherwise it builds from source, about half an hour); (3) torchvision built for "
    "the same torch, from the same index as your torch (e.g. `--index-url "
    "https://download.pytorch.org/whl/cpu` for a CPU torch). Then set pose.mmpose.checkpoint to a "
    f".pth file or URL (e.g. {EXAMPLE_CHECKPOINT} for {EXAMPLE_CONFIG}).")


def import_mmpose():
    """``mmpose.apis``; an ImportError that says what to install when it does not import."""
    try:
        from mmpose import apis
    except ImportError as error:
        missing = getattr(error, "name", None) or str(error)
        if "mmcv._ext" in str(error) or "mmcv.ops" in str(error):
            what = "mmcv's compiled ops (mmcv.ops; mmcv-lite has none)"
        elif "torchvision" in missing:
            what = "torchvision"
        elif "pkg_resources" in missing:
            what = "pkg_resources (mmengine imports it: setuptools<81, pinned in requirements-mmpose.txt)"
        else:
            what = missing
        raise ImportError(f"the mmpose pose backend cannot import MMPose: {what} is missing "
                          f"({error}). {INSTALL_HINT}") from error
    return apis


# -- files ----------------------------------------------------------------------------------------

def is_url(value: str | None) -> bool:
    return isinstance(value, str) and urlparse(value).scheme in ("http", "https")


def package_dir(package: str, *parts: str) -> Path | None:
    """A folder inside an installed package (found without importing it), or None."""
    import importlib.util
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return folder if folder.is_dir() else None


def resolve_config(config: str | Path | None, search_dirs: list[Path], what: str) -> Path:
    """A config file: ``config`` itself when it is a file, else a config of that name (with or
    without .py, or a path under one of ``search_dirs``) inside the installed packages."""
    if not config:
        raise ValueError(f"{what} is not set: give a config .py file or the name of a config that "
                         f"ships with mmpose (e.g. {EXAMPLE_CONFIG})")
    path = Path(config).expanduser()
    if path.is_file():
        return path
    name = str(config) if str(config).endswith(".py") else f"{config}.py"
    for root in search_dirs:
        if (root / name).is_file():
            return root / name
    base = Path(name).name
    matches = sorted({p for root in search_dirs for p in root.rglob(base)})
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = ", ".join(str(m) for m in matches)
        raise ValueError(f"{what} {config!r} names several configs ({listed}): give the path under "
                         "configs/ or a file")
    names = sorted({p.stem for root in search_dirs for p in root.rglob("*.py")})
    close = difflib.get_close_matches(Path(name).stem, names, n=3, cutoff=0.5)
    raise FileNotFoundError(
        f"{what} {str(config)!r} not found: it is not a file, nor a config in "
        f"{', '.join(str(d) for d in search_dirs) or '(no config folder installed)'}"
        + (f"; close names: {', '.join(close)}" if close else "")
        + ". Give the path of a config .py file or the name of a shipped config.")


def checkpoint_cache_dir() -> Path:
    """torch's hub cache folder for checkpoints, where mmengine keeps downloaded ones too."""
    import torch
    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_checkpoint(checkpoint: str | Path, what: str, zoo_hint: str = "") -> Path:
    """The local file of a checkpoint: the path itself, or a URL downloaded once into the cache."""
    if is_url(str(checkpoint)):
        url = str(checkpoint)
        target = checkpoint_cache_dir() / Path(urlparse(url).path).name
        if not target.is_file():
            import torch
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(url, str(target), progress=False)
            except Exception as error:    # URLError, HTTPError, timeouts: all mean "not downloaded"
                raise OSError(f"{what}: could not download {url} ({error}). On a machine without "
                              f"internet, download it elsewhere, copy it to {target} (or anywhere) "
                              f"and set {what} to that path") from None
        return target
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what}: checkpoint {path} not found. Download the checkpoint of "
                                f"your config (the `Weights:` URL{zoo_hint}) and set {what} to its "
                                "path, or to the URL itself on a machine with internet")
    return path


def _numpy_safe_globals() -> list:
    """What numpy arrays and scalars in a checkpoint's metadata unpickle through."""
    from numpy.core import multiarray
    dtypes = (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8,
              np.bool_)
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *(type(np.dtype(t)) for t in dtypes)]


def load_checkpoint_file(path: Path, what: str, trust: bool) -> dict:
    """torch.load a checkpoint: weights-only (tensors, containers, numpy arrays) unless ``trust``
    allows a full pickle load after the weights-only one fails."""
    import torch
    unreadable = (pickle.UnpicklingError, RuntimeError, EOFError, OSError)
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except unreadable as error:
        # Only "Unsupported global" is a real checkpoint with other Python objects in it; any other
        # failure (bad operand, truncated zip) is a file that is no checkpoint at all.
        if "unsupported global" not in str(error).lower():
            raise ValueError(f"{what}: {path} is not a readable PyTorch checkpoint "
                             f"({str(error).splitlines()[0]})") from None
        if not trust:
            detail = next(line.strip() for line in str(error).splitlines()
                          if "unsupported global" in line.lower())
            raise ValueError(f"{what}: {path} holds Python objects that a weights-only load refuses "
                             f"({detail}). If you trust this file, set pose.mmpose.trust_checkpoint: "
                             "true (a full pickle load, as mmengine did before torch 2.6)") from None
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        except unreadable as error:
            raise ValueError(f"{what}: {path} is not a readable PyTorch checkpoint ({error})") from None
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{what}: {path} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    return checkpoint


def load_weights(model, checkpoint: dict, source: str, config: Path) -> None:
    """Copy a checkpoint's state dict into ``model`` with ``load_state_dict`` (so MMPose's own
    pre-hooks convert pre-1.0 checkpoints, e.g. ``keypoint_head.*`` to ``head.*``): an error when it
    does not fit the config (weights of another shape, or most of them missing), a warning for a
    few stray keys."""
    from collections import OrderedDict
    state = checkpoint.get("state_dict", checkpoint)
    metadata = getattr(state, "_metadata", None)           # module versions the pre-hooks read
    state = OrderedDict((k[len("module."):] if k.startswith("module.") else k, v)
                        for k, v in state.items())
    if metadata is not None:
        state._metadata = metadata
    total = len(model.state_dict())
    advice = ("Use the checkpoint listed for this config in mmpose's model zoo, or the config the "
              "checkpoint was trained with")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:                          # shape mismatches raise even non-strict
        lines = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        raise ValueError(f"checkpoint {source} does not fit config {config}: {len(lines)} weights of "
                         f"another shape (e.g. {lines[0] if lines else error}). {advice}") from None
    missing, unused = result.missing_keys, result.unexpected_keys
    if len(missing) > total // 2:
        raise ValueError(f"checkpoint {source} does not fit config {config}: {len(missing)} of "
                         f"{total} weights missing (e.g. {', '.join(missing[:3])}). {advice}")
    if missing or unused:
        warnings.warn(f"checkpoint {source}: {len(missing)} weights missing and {len(unused)} unused "
                      f"for config {config.name}", stacklevel=2)


def config_digest(cfg) -> str:
    """A hash of the merged config (its _base_ files and cfg_options included)."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolve_device(device: str) -> str:
    import torch
    device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"pose.mmpose.device is {device!r} but this torch sees no GPU "
                             "(torch.cuda.is_available() is False): use cpu or auto")
        return device
    if device != "cpu":
        raise ValueError(f"unknown pose.mmpose.device {device!r}: auto, cpu or cuda[:N]")
    return device


def infer_layout(names: list[str]) -> str | None:
    """coco17 or aic14 from a model's keypoint names, None for anything else. A model whose first
    17 joints are COCO's (Halpe-26, COCO-WholeBody) is coco17 on those 17."""
    names = tuple(names)
    if names == KEYPOINT_NAMES:
        return "aic14"
    if names[:len(COCO17_NAMES)] == COCO17_NAMES:
        return "coco17"
    return None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _grow(boxes: np.ndarray, fraction: float) -> np.ndarray:
    """xyxy boxes grown by ``fraction`` of their width/height on each side."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    d = (boxes[:, 2:] - boxes[:, :2]) * fraction
    return np.concatenate([boxes[:, :2] - d, boxes[:, 2:] + d], axis=1)


# -- person boxes from MMDetection ----------------------------------------------------------------

def load_mmdet_detector(config: Path, checkpoint: Path, device: str, trust: bool):
    """An MMDetection detector as ``detect(bgr) -> (boxes xyxy [N, 4], scores [N], labels [N])``."""
    try:
        from mmdet.apis import inference_detector, init_detector
    except ImportError as error:
        raise ImportError(f"boxes: mmdet needs MMDetection with mmcv's compiled ops ({error}). "
                          f"{INSTALL_HINT}") from error
    from mmengine.config import Config
    cfg = Config.fromfile(str(config))
    with warnings.catch_warnings():          # "checkpoint is None": the weights are loaded below
        warnings.simplefilter("ignore", UserWarning)
        model = init_detector(cfg, None, device="cpu")
    ckpt = load_checkpoint_file(checkpoint, "pose.mmpose.detector_checkpoint", trust)
    load_weights(model, ckpt, str(checkpoint), config)
    model.to(device).eval()

    def detect(bgr: np.ndarray):
        inst = inference_detector(model, bgr).pred_instances
        return (inst.bboxes.cpu().numpy().astype(np.float32),
                inst.scores.cpu().numpy().astype(np.float32),
                inst.labels.cpu().numpy().astype(np.int64))
    return detect


# -- options --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MMPoseOptions:
    """The mmpose backend's options: params.yaml's ``pose.mmpose`` section, typed and checked here
    (``from_params``; a bad one is a ValueError naming ``pose.mmpose.<key>``).

    config, checkpoint: the pose model (checkpoint null only with random_weights, for tests and
    timing). mode: topdown | bottomup. layout: auto | coco17 | aic14. device: auto | cpu | cuda[:N].
    boxes: blazepose | hog | mmdet | frame (topdown). frame_fallback: a whole-frame box when the box
    source finds nobody. max_boxes: most boxes given to the pose model, best first (null: 2 x
    max_persons + 2). box_margin: BlazePose keypoint boxes grow by this fraction on each side
    (MMPose pads every box by 1.25 on top). blazepose: BlazePoseEstimator options for its person
    finding (e.g. {hog: true}). detector_config, detector_checkpoint, detector_score,
    detector_labels: the mmdet detector, its least score, its person class ids (COCO: 0).
    min_score: least person score kept. keypoint_min_score: least keypoint score for a joint to be
    present. cfg_options: overrides merged into the config (mmengine keys, e.g.
    {"model.test_cfg.flip_test": false}). trust_checkpoint: allow a full pickle load.
    random_weights: no checkpoint (tests, timing). num_threads: torch threads (process-wide; 0
    leaves them). batch_size: least model inputs (person crops, or frames bottom-up) per forward
    pass of ``estimate_frames``.
    """
    config: str | None = EXAMPLE_CONFIG
    checkpoint: str | None = None
    mode: str = "topdown"
    layout: str = "auto"
    device: str = "auto"
    boxes: str = "blazepose"
    frame_fallback: bool = False
    max_boxes: int | None = None
    box_margin: float = 0.1
    blazepose: dict = field(default_factory=dict)
    detector_config: str | None = None
    detector_checkpoint: str | None = None
    detector_score: float = 0.5
    detector_labels: tuple[int, ...] = (0,)
    min_score: float = 0.1
    keypoint_min_score: float = 0.3
    cfg_options: dict = field(default_factory=dict)
    trust_checkpoint: bool = False
    random_weights: bool = False
    num_threads: int = 1
    batch_size: int = 16

    @classmethod
    def from_params(cls, section: Mapping | None) -> "MMPoseOptions":
        """The options of a ``pose.mmpose`` section (absent keys take the defaults above)."""
        section = dict(section or {})
        known = [f.name for f in fields(cls)]
        for key in section:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                raise ValueError(f"pose.mmpose.{key}: unknown option"
                                 + (f" (did you mean {close[0]}?)" if close else "")
                                 + f"; known: {', '.join(known)}")
        return cls(**section)

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _checked(f.name, getattr(self, f.name), f.type))
        for key, value, allowed in (("mode", self.mode, MODES), ("boxes", self.boxes, BOX_SOURCES),
                                    ("layout", self.layout, LAYOUTS)):
            if value not in allowed:
                raise ValueError(f"unknown pose.mmpose.{key} {value!r}: one of {', '.join(allowed)}")
        for key, least in (("batch_size", 1), ("max_boxes", 1), ("num_threads", 0)):
            value = getattr(self, key)
            if value is not None and value < least:
                raise ValueError(f"pose.mmpose.{key} must be >= {least}, got {value}")
        if self.checkpoint is None and not self.random_weights:
            raise ValueError("pose.mmpose.checkpoint is not set: give the .pth file of the config's "
                             "trained weights or its URL (the `Weights:` of the config in mmpose's "
                             f"model zoo; e.g. {EXAMPLE_CHECKPOINT} for {EXAMPLE_CONFIG})")
        if self.mode == "topdown" and self.boxes == "mmdet" and not (self.detector_config and
                                                                      self.detector_checkpoint):
            raise ValueError("pose.mmpose.boxes is mmdet: set detector_config (e.g. "
                             "rtmdet_m_640-8xb32_coco-person, shipped with mmpose) and "
                             "detector_checkpoint (its .pth or URL, e.g. https://download.openmmlab."
                             "com/mmpose/v1/projects/rtmposev1/rtmdet_m_8xb32-100e_coco-obj365-person"
                             "-235e8209.pth)")


def _checked(key: str, value, kind: str):
    """``value`` of option ``key`` as its declared type ``kind`` (a field's annotation), or a
    ValueError naming pose.mmpose.<key>. Paths become str, a list of class ids a tuple, a null
    dict an empty one, an int a float where a float is wanted."""
    optional = kind.endswith(" | None")
    base = kind.removesuffix(" | None")
    if value is None and (optional or base == "dict"):
        return {} if base == "dict" else None
    plain_int = isinstance(value, int) and not isinstance(value, bool)
    if base == "str" and isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "int" and plain_int:
        return value
    if base == "float" and (plain_int or isinstance(value, float)):
        return float(value)
    if base == "dict" and isinstance(value, Mapping):
        return dict(value)
    if base == "tuple[int, ...]" and isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    want = {"str": "a string", "bool": "true or false", "int": "a whole number", "float": "a number",
            "dict": "a mapping", "tuple[int, ...]": "a list of whole numbers"}[base]
    raise ValueError(f"pose.mmpose.{key} must be {want}{' or null' if optional else ''}, got {value!r}")


# -- the estimator --------------------------------------------------------------------------------

class MMPoseEstimator:
    """MMPose people in a frame, mapped to the 14 keypoints (see the module docstring), with the
    backend's ``options`` (MMPoseOptions; from params: ``MMPoseOptions.from_params(pose.mmpose)``)
    and at most ``max_persons`` people per frame."""
    name = NAME

    def __init__(self, options: MMPoseOptions, max_persons: int = 4):
        if int(max_persons) < 1:
            raise ValueError(f"max_persons must be >= 1, got {max_persons}")
        self.options = options
        self.mode = options.mode
        self.boxes = options.boxes
        self.max_persons = int(max_persons)
        self.max_boxes = options.max_boxes if options.max_boxes is not None else 2 * self.max_persons + 2
        self.frame_fallback = options.frame_fallback
        self.box_margin = options.box_margin
        self.detector_score = options.detector_score
        self.detector_labels = options.detector_labels
        self.min_score = options.min_score
        self.keypoint_min_score = options.keypoint_min_score
        self.batch_size = options.batch_size
        self._transforms = None

        apis = import_mmpose()
        import mmpose
        import torch
        if options.num_threads:
            torch.set_num_threads(options.num_threads)
        self._apis = apis
        self.device = resolve_device(options.device)
        config_dirs = [d for d in [package_dir("mmpose", ".mim", "configs")] if d]
        self.config_path = resolve_config(options.config, config_dirs, "pose.mmpose.config")
        self.model, cfg = self._build_model(options.cfg_options, options.checkpoint, options.trust_checkpoint)
        self.layout = self._model_layout(options.layout)
        boxes_tag = "/" + self._init_boxes(options) if self.mode == "topdown" else ""
        weights_tag = f"ckpt-{sha256_prefix(self.checkpoint_path)}" if self.checkpoint_path else "random"
        self.version = (f"{ALGORITHM_VERSION}/mmpose-{mmpose.__version__}/{self.mode}/"
                        f"{self.config_path.stem}-{config_digest(cfg)}/{weights_tag}/{self.layout}"
                        f"{boxes_tag}")

    def _model_layout(self, layout: str) -> str:
        """The keypoint layout of the model (from its keypoint names when ``layout`` is auto)."""
        names = [self.model.dataset_meta["keypoint_id2name"][i]
                 for i in range(self.model.dataset_meta["num_keypoints"])]
        found = infer_layout(names) if layout == "auto" else layout
        if found is None:
            raise ValueError(
                f"{self.config_path.name}: the model's {len(names)} keypoints "
                f"({self.model.dataset_meta.get('dataset_name', '?')}: {', '.join(names[:6])}, ...) "
                "are neither COCO-17 nor AI Challenger 14: take a COCO or AIC model, or set "
                "pose.mmpose.layout (coco17 | aic14) if its joints are in one of those orders")
        if len(names) < LAYOUT_SIZES[found]:
            raise ValueError(f"pose.mmpose.layout {found} needs {LAYOUT_SIZES[found]} "
                             f"keypoints, {self.config_path.name} has {len(names)}")
        return found

    def _build_model(self, cfg_options, checkpoint, trust):
        from mmengine.config import Config
        cfg = Config.fromfile(str(self.config_path))
        if cfg_options:
            cfg.merge_from_dict(dict(cfg_options))
        expected = "BottomupPoseEstimator" if self.mode == "bottomup" else "TopdownPoseEstimator"
        if cfg.model.get("type") != expected:
            raise ValueError(f"{self.config_path.name} builds a {cfg.model.get('type')}, not a "
                             f"{expected}: set pose.mmpose.mode to "
                             f"{'topdown' if self.mode == 'bottomup' else 'bottomup'} or pick "
                             f"a {self.mode} config")
        # No checkpoint and no cfg_options: init_model drops the backbone's pretrained init_cfg, so
        # nothing is downloaded; the weights come from load_weights below.
        model = self._apis.init_model(cfg, None, device="cpu")
        self.checkpoint_path = None
        if checkpoint is not None:
            zoo = next(iter(sorted(self.config_path.parent.glob("*.yml"))), None)
            hint = f" in {zoo}" if zoo else " in mmpose's model zoo"
            self.checkpoint_path = fetch_checkpoint(checkpoint, "pose.mmpose.checkpoint", hint)
            ckpt = load_checkpoint_file(self.checkpoint_path, "pose.mmpose.checkpoint", trust)
            load_weights(model, ckpt, str(checkpoint), self.config_path)
            meta = (ckpt.get("meta") or {}).get("dataset_meta") or {}
            if "keypoint_id2name" in meta:             # init_model's priority: checkpoint > config
                model.dataset_meta = meta
        model.to(self.device).eval()
        return model, cfg

    def _init_boxes(self, options: MMPoseOptions) -> str:
        if self.boxes == "blazepose":
            from pipeline.pose.blazepose import BlazePoseEstimator
            blazepose = {"num_threads": max(options.num_threads, 1), **options.blazepose}
            self._blazepose = BlazePoseEstimator(max_persons=self.max_boxes, **blazepose)
            return f"boxes-blazepose-{self._blazepose.version}-m{self.box_margin:g}"
        if self.boxes == "mmdet":
            dirs = [d for d in (package_dir("mmpose", ".mim", "demo", "mmdetection_cfg"),
                                package_dir("mmdet", ".mim", "configs")) if d]
            det_config = resolve_config(options.detector_config, dirs, "pose.mmpose.detector_config")
            det_checkpoint = fetch_checkpoint(options.detector_checkpoint, "pose.mmpose.detector_checkpoint",
                                              " of the detector in its model zoo")
            self._detect = load_mmdet_detector(det_config, det_checkpoint, self.device,
                                               options.trust_checkpoint)
            return (f"boxes-mmdet-{det_config.stem}-{sha256_prefix(det_config)}"
                    f"-ckpt-{sha256_prefix(det_checkpoint)}")
        return f"boxes-{self.boxes}"

    # -- per frame --------------------------------------------------------------------------------

    def person_boxes(self, frame_rgb: np.ndarray, people: list | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes [B, 4] (x0, y0, x1, y1 frame pixels) and box scores [B] for the top-down model,
        best first, at most max_boxes (before frame_fallback). ``people``: BlazePose's people of
        this frame when already found (in a video)."""
        h, w = frame_rgb.shape[:2]
        if self.boxes == "frame":
            boxes, scores = np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)
        elif self.boxes == "blazepose":
            if people is None:
                people = self._blazepose.find_people(np.ascontiguousarray(frame_rgb))
            boxes = _grow(np.array([p.box for p in people], np.float32), self.box_margin)
            scores = np.array([p.score for p in people], np.float32)
        elif self.boxes == "hog":
            from pipeline.pose.person_boxes import hog_people
            boxes, margins = hog_people(frame_rgb)
            scores = _sigmoid(margins).astype(np.float32)
        else:
            boxes, scores, labels = self._detect(np.ascontiguousarray(frame_rgb[..., ::-1]))
            keep = np.isin(labels, self.detector_labels) & (scores >= self.detector_score)
            boxes, scores = boxes[keep], scores[keep]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        sized = ((boxes[:, 2] - boxes[:, 0]) >= 2) & ((boxes[:, 3] - boxes[:, 1]) >= 2)
        boxes, scores = boxes[sized], scores[sized]
        order = np.argsort(-scores, kind="stable")[: self.max_boxes]
        return boxes[order], scores[order]

    def transforms(self):
        """MMPose's test-time transforms of the model (what inference_topdown/bottomup apply)."""
        if self._transforms is None:
            from mmengine.dataset import Compose
            from mmengine.registry import DefaultScope
            # Built in the model's registry scope, which is left as it was for an mmdet detector.
            with DefaultScope.overwrite_default_scope(self.model.cfg.get("default_scope", "mmpose")):
                self._transforms = Compose(self.model.cfg.test_dataloader.dataset.pipeline)
        return self._transforms

    def prepare(self, frame_rgb: np.ndarray, people: list | None = None) -> tuple[list, np.ndarray | None]:
        """One frame's model inputs (its person crops, or the frame bottom-up) and box scores (None
        bottom-up): all the CPU work before the model. ``people``: see ``person_boxes``."""
        frame = validate_frame(frame_rgb)
        if min(frame.shape[:2]) < MIN_FRAME_SIDE:
            return [], np.zeros(0, np.float32)
        bgr = np.ascontiguousarray(frame[..., ::-1])       # MMPose models take cv2's BGR
        meta, transforms = self.model.dataset_meta, self.transforms()
        if self.mode == "bottomup":
            return [transforms({"img": bgr, **meta})], None
        # (one argument when there are no people: tests stand in for person_boxes with one)
        boxes, box_scores = self.person_boxes(frame) if people is None else self.person_boxes(frame, people)
        if len(boxes) == 0 and self.frame_fallback:
            h, w = frame.shape[:2]
            boxes, box_scores = np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)
        inputs = [transforms({"img": bgr, "bbox": box[None], "bbox_score": np.ones(1, np.float32), **meta})
                  for box in boxes]
        return inputs, np.asarray(box_scores, np.float32)

    def forward(self, inputs: list) -> list:
        """The model on a batch of prepared inputs: one PoseDataSample per input."""
        if not inputs:
            return []
        import torch
        from mmengine.dataset import pseudo_collate
        with torch.no_grad():
            return self.model.test_step(pseudo_collate(inputs))

    def raw(self, samples: list, box_scores: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MMPose's raw people of one frame: keypoints [P, K, 2] frame pixels, keypoint scores [P, K]
        and box (or instance) scores [P], in the model's own K-joint layout."""
        if not samples:
            k = self.model.dataset_meta["num_keypoints"]
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32), np.zeros(0, np.float32)
        inst = [s.pred_instances for s in samples]
        keypoints = np.concatenate([np.asarray(i.keypoints, np.float32) for i in inst])
        scores = np.concatenate([np.asarray(i.keypoint_scores, np.float32) for i in inst])
        if box_scores is None:
            box_scores = np.concatenate([np.asarray(i.bbox_scores, np.float32).reshape(-1) for i in inst])
        return keypoints, scores, np.asarray(box_scores, np.float32)

    def predict(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MMPose's raw people of one frame (see ``raw``)."""
        inputs, box_scores = self.prepare(frame_rgb)
        return self.raw(self.forward(inputs), box_scores)

    def estimate_frames(self, frames: Iterable[np.ndarray]) -> Iterator[Detections]:
        """Detections of every frame, in order, the model running on ``batch_size`` or more inputs
        at once while a thread reads and prepares the frames that come next."""
        batch, size = [], 0
        if self.mode == "topdown" and self.boxes == "blazepose":
            # BlazePose follows the people through the video (its track and tile_every options).
            prepared = (self.prepare(frame, people) for frame, people in self._blazepose.people_in_video(frames))
        else:
            prepared = map(self.prepare, frames)
        for inputs, box_scores in prefetched(prepared, depth=2 * self.batch_size):
            batch.append((inputs, box_scores))
            size += len(inputs)
            if size >= self.batch_size:
                yield from self._finish_batch(batch)
                batch, size = [], 0
        yield from self._finish_batch(batch)

    def _finish_batch(self, batch: list) -> Iterator[Detections]:
        samples = self.forward([x for inputs, _ in batch for x in inputs])
        start = 0
        for inputs, box_scores in batch:
            yield self.finish(*self.raw(samples[start:start + len(inputs)], box_scores))
            start += len(inputs)

    def finish(self, keypoints: np.ndarray, scores: np.ndarray, box_scores: np.ndarray) -> Detections:
        """Raw people -> Detections: mapped to the 14, weak joints missing, person score = box score
        x mean keypoint confidence, ranked, at most max_persons."""
        if len(keypoints) == 0:
            return Detections.empty()
        k = LAYOUT_SIZES[self.layout]
        conf = np.clip(np.nan_to_num(scores[:, :k], nan=0.0), 0.0, 1.0)
        points = np.concatenate([keypoints[:, :k], conf[..., None]], axis=-1).astype(np.float32)
        weak = (conf < self.keypoint_min_score) | ~np.isfinite(keypoints[:, :k]).all(-1)
        points[weak] = (np.nan, np.nan, 0.0)
        mapped = to_aic14(points, self.layout)
        person = np.asarray(box_scores, np.float32) * mapped[..., 2].mean(-1)
        keep = (mapped[..., 2] > 0).any(-1) & (person >= self.min_score)
        mapped, person = mapped[keep], person[keep]
        order = np.argsort(-person, kind="stable")[: self.max_persons]
        return Detections(mapped[order].astype(np.float32), person[order].astype(np.float32))

    def __call__(self, frame_rgb: np.ndarray) -> Detections:
        return self.finish(*self.predict(frame_rgb))
