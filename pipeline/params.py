"""params.yaml as typed, validated dataclasses. Loaded once at a stage's boundary; everything below
receives plain values."""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import InputError
from pipeline.model_config import ModelParams
from pipeline.pose_augment import PoseAugmentError, PoseAugmentParams, parse_pose_augment
from pipeline.pose_inputs import PoseInputParams, PoseInputsError, parse_pose_inputs


class ParamsError(InputError, ValueError):
    """params.yaml is missing a key, has an unknown one, or a bad value."""


# Dataset and run names become folder and file names (pipeline/paths.py): no `/`, `..` or dot files.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def check_name(name: Any, where: str) -> str:
    """``name`` if it is a safe dataset or run name, else a ParamsError naming ``where``."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise ParamsError(f"{where} {name!r} is not a safe name. Fix: use only letters, digits, _ and - "
                          "(it becomes a folder name under data/ and models/)")
    return name


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ParamsError(f"params.yaml: {message}")


@dataclass(frozen=True)
class SynthParams:
    videos_per_class: int = 48
    groups: int = 8
    num_frames: int = 40
    width: int = 160
    height: int = 120
    fps: int = 15
    seed: int = 0
    workers: int = 2


@dataclass(frozen=True)
class DatasetParams:
    adapter: str
    root: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunParams:
    dataset: str
    split: str | int     # a str once parsed (split: 1 reads as a number)


@dataclass(frozen=True)
class DecodeParams:
    fps: float | None = None
    short_side: int = 128
    jpeg_quality: int = 3
    workers: int = 2
    executor: str = "local"      # local | ray (one Ray task per video; section `ray`)

    def __post_init__(self):
        _check(self.short_side >= 16, "decode.short_side must be >= 16")
        _check(self.fps is None or self.fps > 0, "decode.fps must be null or > 0")
        _check(2 <= self.jpeg_quality <= 31, "decode.jpeg_quality must be in 2..31")
        _check(self.executor in ("local", "ray"), "decode.executor must be local or ray")


@dataclass(frozen=True)
class GroundTruthParams:
    noise_std: float = 0.01
    drop_prob: float = 0.05
    seed: int = 0

    def __post_init__(self):
        _check(0 <= self.drop_prob < 1, "pose.groundtruth.drop_prob must be in [0, 1)")
        _check(self.noise_std >= 0, "pose.groundtruth.noise_std must be >= 0")


@dataclass(frozen=True)
class TrackFilterParams:
    """A track seen in at most ``max_frames`` frames, with a mean person score under ``max_score``
    and a motion of at most ``max_motion`` box heights per frame is a false person (image
    estimators; pipeline.pose.tracking.filter_tracks). Defaults from bench/tracking_filter.py."""
    max_frames: int = 3
    max_score: float = 0.2
    max_motion: float = float("inf")

    def __post_init__(self):
        _check(self.max_frames >= 0 and self.max_score >= 0 and self.max_motion >= 0,
               "pose.track_filter: max_frames, max_score and max_motion must be >= 0 (max_frames 0: no filter)")


@dataclass(frozen=True)
class PoseParams:
    estimator: str = "groundtruth"
    max_persons: int = 4
    dtype: str = "float32"
    workers: int = 2
    executor: str = "local"      # local | ray (one Ray task per video; section `ray`)
    gpus: int | str = "auto"     # local GPU workers for an estimator on the GPU: auto (every visible GPU) | n
    workers_per_gpu: int = 1
    tracking: bool = True
    track_filter: TrackFilterParams = field(default_factory=TrackFilterParams)
    groundtruth: GroundTruthParams = field(default_factory=GroundTruthParams)
    blazepose: dict = field(default_factory=dict)
    openpose: dict = field(default_factory=dict)
    mmpose: dict = field(default_factory=dict)
    import_options: dict = field(default_factory=dict)   # params.yaml `pose.import` (a keyword in Python)

    def __post_init__(self):
        _check(self.estimator in ("groundtruth", "blazepose", "openpose", "mmpose", "import"),
               f"pose.estimator {self.estimator!r} is not one of groundtruth, blazepose, openpose, mmpose, import")
        if self.estimator == "import":
            from pipeline.pose.importer import check_options
            try:
                check_options(self.import_options)
            except ValueError as err:
                raise ParamsError(str(err)) from None
        _check(self.max_persons >= 1, "pose.max_persons must be >= 1")
        _check(self.dtype in ("float32", "float16"), "pose.dtype must be float32 or float16")
        _check(self.executor in ("local", "ray"), "pose.executor must be local or ray")
        _check(self.gpus == "auto" or (isinstance(self.gpus, int) and self.gpus >= 0),
               "pose.gpus must be auto or a number of GPUs >= 0")
        _check(self.workers_per_gpu >= 1, "pose.workers_per_gpu must be >= 1")

    def track_filter_options(self) -> dict:
        """The filter_* options of pipeline.pose.tracking.track_people."""
        return {f"filter_{k}": v for k, v in dataclasses.asdict(self.track_filter).items()}

    def backend_options(self) -> dict:
        """The section of the chosen estimator (dicts for the image-based backends)."""
        section = getattr(self, "import_options" if self.estimator == "import" else self.estimator)
        return dataclasses.asdict(section) if dataclasses.is_dataclass(section) else dict(section)


@dataclass(frozen=True)
class RayTaskParams:
    num_cpus: float = 1
    num_gpus: float = 0


@dataclass(frozen=True)
class RayParams:
    """The Ray cluster behind `executor: ray` (requirements-ray.txt)."""
    address: str | None = None   # null: start Ray on this machine; auto: join the running cluster; host:port
    max_retries: int = 3
    pose: RayTaskParams = field(default_factory=RayTaskParams)
    decode: RayTaskParams = field(default_factory=RayTaskParams)

    def __post_init__(self):
        _check(self.max_retries >= 0, "ray.max_retries must be >= 0")
        for section in ("decode", "pose"):
            task = getattr(self, section)
            _check(task.num_cpus >= 0 and task.num_gpus >= 0 and task.num_cpus + task.num_gpus > 0,
                   f"ray.{section}: num_cpus and num_gpus must be >= 0, not both 0")


@dataclass(frozen=True)
class IndexParams:
    num_segments: int = 16
    val_fraction: float = 0.15

    def __post_init__(self):
        _check(self.num_segments >= 2, "index.num_segments must be >= 2")
        _check(0 <= self.val_fraction < 1, "index.val_fraction must be in [0, 1)")


@dataclass(frozen=True)
class TrainParams:
    input_size: int = 112
    resize_short: int = 128
    crop_scales: tuple = (1.0, 0.875, 0.75, 0.66)
    flip_prob: float = 0.3
    batch_size: int = 8
    epochs: int = 20
    lr: float = 1e-3
    warmup_steps: int = 30
    momentum: float = 0.9
    weight_decay: float = 4e-5
    schedule: str = "cosine"
    optimizer: str = "adamw"
    workers: int = 0
    threads: int = 2
    device: str = "auto"
    amp: bool = False
    grad_clip: float = 0.0
    cuda_graphs: bool = True
    pose_warmup_epochs: int = 15
    pose_warmup_lr: float = 0.001
    appearance_warmup_epochs: int = 0
    appearance_warmup_frames: int = 4
    appearance_warmup_lr: float = 0.0
    view: str = "crop"              # crop: square input_size crops | frame: the whole frame at frame_size
    frame_size: tuple = (128, 96)   # view frame: the model input's (width, height)
    lr_milestones: tuple = ()       # schedule: step; fractions of the training steps
    lr_decay: float = 0.1           # schedule: step; lr factor at each milestone
    partial_bn: bool = True         # model.pretrained only: freeze all backbone BN but the first
    backbone_lr_mult: float = 0.0   # model.pretrained only: backbone lr = this x train.lr
    min_steps: int = 600            # optimiser steps per phase at least (more epochs on small data; 0: off)

    def __post_init__(self):
        _check(self.input_size >= 16 and self.resize_short >= self.input_size,
               "train.resize_short must be >= train.input_size >= 16")
        _check(all(0 < s <= 1 for s in self.crop_scales) and len(self.crop_scales) > 0,
               "train.crop_scales must be a list of numbers in (0, 1]")
        _check(0 <= self.flip_prob <= 1, "train.flip_prob must be in [0, 1]")
        _check(self.batch_size >= 1 and self.epochs >= 1, "train.batch_size and train.epochs must be >= 1")
        _check(self.lr > 0, f"train.lr must be > 0, got {self.lr}. Fix: e.g. train.lr: 0.001")
        self._check_schedule()
        _check(isinstance(self.partial_bn, bool), "train.partial_bn must be true or false")
        _check(self.backbone_lr_mult >= 0,
               "train.backbone_lr_mult must be >= 0 (0: the pretrained backbone does not learn)")
        _check(self.optimizer in ("sgd", "adamw"), "train.optimizer must be sgd or adamw")
        _check(self.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda")
        _check(self.grad_clip >= 0, "train.grad_clip must be >= 0 (0: no clipping)")
        self._check_phases()
        _check(self.view in ("crop", "frame"), "train.view must be crop (square crops) or frame (the whole frame)")
        size = list(self.frame_size)
        _check(len(size) == 2 and all(isinstance(v, int) and v >= 16 for v in size),
               "train.frame_size must be [width, height] in pixels, each an integer >= 16, e.g. [128, 96]")

    def _check_schedule(self) -> None:
        _check(self.schedule in ("cosine", "constant", "step"), "train.schedule must be cosine, constant or step")
        milestones = list(self.lr_milestones)
        _check(all(isinstance(m, (int, float)) and 0 < m < 1 for m in milestones) and milestones == sorted(milestones),
               "train.lr_milestones must be increasing fractions of the training steps in (0, 1), e.g. [0.557, 0.914]")
        _check(self.schedule != "step" or milestones, "train.schedule step needs train.lr_milestones")
        _check(0 < self.lr_decay <= 1, "train.lr_decay must be in (0, 1]")

    def _check_phases(self) -> None:
        _check(isinstance(self.pose_warmup_epochs, int) and self.pose_warmup_epochs >= 0,
               "train.pose_warmup_epochs must be an integer >= 0")
        _check(self.pose_warmup_lr >= 0, "train.pose_warmup_lr must be >= 0 (0: train.lr)")
        _check(isinstance(self.appearance_warmup_epochs, int) and self.appearance_warmup_epochs >= 0,
               "train.appearance_warmup_epochs must be an integer >= 0")
        _check(isinstance(self.appearance_warmup_frames, int) and self.appearance_warmup_frames >= 1,
               "train.appearance_warmup_frames must be an integer >= 1 (frames per warm-up clip)")
        _check(self.min_steps >= 0, "train.min_steps must be an integer >= 0 (0: each phase trains its epochs as given)")
        _check(self.appearance_warmup_lr >= 0, "train.appearance_warmup_lr must be >= 0 (0: train.lr)")


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 16
    device: str = "cpu"             # cpu | cuda | auto: where the test clips run (cpu: identical on every machine)

    def __post_init__(self):
        _check(self.device in ("auto", "cpu", "cuda"), "evaluate.device must be auto, cpu or cuda")


@dataclass(frozen=True)
class GateParams:
    alpha: float = 0.01

    def __post_init__(self):
        _check(0 < self.alpha < 1, "gate.alpha must be in (0, 1), e.g. 0.01")


@dataclass(frozen=True)
class Params:
    seed: int
    strict: bool
    synth: SynthParams
    datasets: dict[str, DatasetParams]
    runs: dict[str, RunParams]
    decode: DecodeParams
    pose: PoseParams
    index: IndexParams
    model: ModelParams
    train: TrainParams
    evaluate: EvaluateParams
    gate: GateParams
    pose_augment: PoseAugmentParams = PoseAugmentParams()  # keypoint augmentation (pipeline.pose_augment)
    ray: RayParams = RayParams()
    pose_inputs: PoseInputParams = PoseInputParams()       # missing-joint filling (pipeline.pose_inputs)

    def dataset(self, name: str) -> DatasetParams:
        if name not in self.datasets:
            raise ParamsError(f"params.yaml: dataset {name!r} is not under `datasets:` "
                              f"(known: {sorted(self.datasets)})")
        return self.datasets[name]

    def run(self, name: str) -> RunParams:
        if name not in self.runs:
            raise ParamsError(f"params.yaml: run {name!r} is not under `runs:` (known: {sorted(self.runs)})")
        return self.runs[name]


def _build(cls, data: Any, where: str):
    """Instantiate dataclass ``cls`` from a mapping, naming the params.yaml section on any error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"params.yaml: `{where}` must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ParamsError(f"params.yaml: unknown key(s) {unknown} in `{where}`; allowed: {sorted(known)}")
    values = {}
    for name, value in data.items():
        f = known[name]
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING
                                    else None):
            value = _build(f.default_factory, value, f"{where}.{name}")
        else:
            value = _typed(value, f, f"{where}.{name}")
        values[name] = value
    try:
        return cls(**values)
    except TypeError as err:
        raise ParamsError(f"params.yaml: `{where}`: {err}") from None
    except ParamsError:         # the dataclass's own checks (__post_init__), naming section.key
        raise
    except ValueError as err:   # ModelParams' checks (pipeline.model_config) name model.key
        raise ParamsError(f"params.yaml: {err}") from None


_KINDS = {  # annotation -> (accepts the value, what the error asks for)
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "float": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v), "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "dict": (lambda v: isinstance(v, dict), "a mapping"),
    "None": (lambda v: v is None, "null"),
    "tuple": (lambda v: isinstance(v, (list, tuple)) and all(_KINDS["float"][0](x) for x in v), "a list of numbers"),
}


def _typed(value: Any, f: dataclasses.Field, key: str) -> Any:
    """``value`` checked against the field's annotation (``float | None``: either; an integer is a
    number) and kept as written, lists as tuples. A ParamsError naming the key otherwise."""
    kinds = [k.strip() for k in str(f.type).split("|")]
    for kind in kinds:
        accepts, _ = _KINDS[kind]
        if accepts(value):
            return tuple(value) if kind == "tuple" else value
    key = key.replace("pose.import_options", "pose.import")   # its name in params.yaml
    wanted = " or ".join(_KINDS[k][1] for k in kinds)
    example = f.default if f.default is not dataclasses.MISSING else None
    fix = f"e.g. {key}: {json.dumps(list(example) if isinstance(example, tuple) else example)}" \
        if example is not None else f"set {key} to {wanted}"
    raise ParamsError(f"params.yaml: {key} must be {wanted}, got {value!r}. Fix: {fix}")


def _pose_section(pose: Any) -> Any:
    """`pose.import` is stored as PoseParams.import_options (`import` is a Python keyword)."""
    if isinstance(pose, dict) and "import" in pose:
        pose = {**{k: v for k, v in pose.items() if k != "import"}, "import_options": pose["import"]}
    return pose


def parse_params(raw: dict) -> Params:
    _check(isinstance(raw, dict), "the file must hold a mapping")
    sections = {"seed", "strict", "synth", "datasets", "runs", "decode", "pose", "index", "model",
                "train", "evaluate", "gate", "pose_augment", "pose_inputs", "ray"}
    unknown = sorted(set(raw) - sections)
    _check(not unknown, f"unknown top-level key(s) {unknown}; allowed: {sorted(sections)}")
    for section in ("datasets", "runs"):
        _check(isinstance(raw.get(section) or {}, dict),
               f"`{section}` must be a mapping, got {type(raw.get(section)).__name__}")
    for section in ("datasets", "runs"):
        for name in raw.get(section) or {}:
            check_name(name, f"params.yaml: {section}: name")
    datasets = {name: _build(DatasetParams, cfg, f"datasets.{name}")
                for name, cfg in (raw.get("datasets") or {}).items()}
    runs = {name: _build(RunParams, cfg, f"runs.{name}") for name, cfg in (raw.get("runs") or {}).items()}
    runs = {name: dataclasses.replace(run, split=str(run.split)) for name, run in runs.items()}
    try:
        pose_augment = parse_pose_augment(raw.get("pose_augment"))
        pose_inputs = parse_pose_inputs(raw.get("pose_inputs"))
    except (PoseAugmentError, PoseInputsError, TypeError) as err:
        raise ParamsError(str(err)) from None
    top = {f.name: f for f in dataclasses.fields(Params)}
    params = Params(
        seed=_typed(raw.get("seed", 0), top["seed"], "seed"),
        strict=_typed(raw.get("strict", False), top["strict"], "strict"),
        synth=_build(SynthParams, raw.get("synth"), "synth"),
        datasets=datasets,
        runs=runs,
        decode=_build(DecodeParams, raw.get("decode"), "decode"),
        pose=_build(PoseParams, _pose_section(raw.get("pose")), "pose"),
        index=_build(IndexParams, raw.get("index"), "index"),
        model=_build(ModelParams, raw.get("model"), "model"),
        train=_build(TrainParams, raw.get("train"), "train"),
        evaluate=_build(EvaluateParams, raw.get("evaluate"), "evaluate"),
        gate=_build(GateParams, raw.get("gate"), "gate"),
        pose_augment=pose_augment,
        ray=_build(RayParams, raw.get("ray"), "ray"),
        pose_inputs=pose_inputs,
    )
    _check_across_sections(params)
    return params


def _check_across_sections(p: Params) -> None:
    """What no one section can check alone (each dataclass checks its own fields)."""
    for name, run in p.runs.items():
        _check(run.dataset in p.datasets, f"runs.{name}.dataset {run.dataset!r} is not under `datasets:`")


def load_params(path: str | Path = "params.yaml", overrides: list[str] | tuple = ()) -> Params:
    """params.yaml, with ``overrides`` ("section.key=value", the value in YAML) applied on top."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run the stage from the project root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from None
    for item in overrides:
        apply_override(raw, item)
    return parse_params(raw)


def apply_override(raw: dict, item: str) -> None:
    """Set ``section.key=value`` (dotted path, YAML value) in the raw params mapping."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ParamsError(f"override {item!r}: expected section.key=value")
    *parents, last = key.split(".")
    node = raw
    for name in parents:
        node = node.setdefault(name, {})
        if not isinstance(node, dict):
            raise ParamsError(f"override {item!r}: {name!r} is not a section")
    try:
        node[last] = yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise ParamsError(f"override {item!r}: the value is not YAML ({' '.join(str(err).split())}). Fix: quote "
                          "it, e.g. --set 'section.key=[1, 2]'") from None
