from pathlib import Path

import pytest
import yaml

from pipeline.params import ParamsError, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def _raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_project_params_load_into_typed_sections():
    p = load_params(ROOT / "params.yaml")
    assert p.pose.groundtruth.drop_prob == _raw()["pose"]["groundtruth"]["drop_prob"]
    assert isinstance(p.train.crop_scales, tuple)
    assert all(run.dataset in p.datasets for run in p.runs.values())
    assert p.pose.backend_options() == _raw()["pose"][p.pose.estimator]


@pytest.mark.parametrize("edit,message", [
    (lambda r: r["train"].update(batchsize=4), r"unknown key\(s\) \['batchsize'\] in `train`"),
    (lambda r: r["pose"].update(estimator="posenet"), "pose.estimator 'posenet'"),
    (lambda r: r["runs"].update(bad={"dataset": "nope", "split": 1}), "runs.bad.dataset 'nope'"),
    (lambda r: r["index"].update(val_fraction=1.5), r"index.val_fraction must be in \[0, 1\)"),
    (lambda r: r.update(extra=1), "unknown top-level key"),
    (lambda r: r["pose"]["groundtruth"].update(sigma=1), "pose.groundtruth"),
    (lambda r: r["train"].update(min_steps=-1), r"train.min_steps must be an integer >= 0"),
    (lambda r: r["model"].update(hidden_size=0), r"^params.yaml: model.hidden_size must be an integer >= 1, got 0$"),
    (lambda r: r["model"].update(hidden_size="big"), r"model.hidden_size must be an integer, got 'big'"),
    (lambda r: r["model"].update(variant="x"), r"model.variant must be one of"),
])
def test_bad_params_name_the_key(edit, message):
    raw = _raw()
    edit(raw)
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("name", ["..", "../../../victim", "synth/extra", "", "a b", ".hidden"])
@pytest.mark.parametrize("section", ["datasets", "runs"])
def test_dataset_and_run_names_must_be_safe_identifiers(section, name):
    raw = _raw()
    raw[section][name] = next(iter(raw[section].values()))
    with pytest.raises(ParamsError, match=rf"{section}: name {name!r} .*letters, digits, _ and -"):
        parse_params(raw)


@pytest.mark.parametrize("section,key,value,message", [
    ("train", "epochs", "ten", "train.epochs must be an integer, got 'ten'"),
    ("train", "epochs", 1.5, "train.epochs must be an integer, got 1.5"),
    ("train", "epochs", True, "train.epochs must be an integer, got True"),
    (None, "seed", "abc", "seed must be an integer, got 'abc'"),
    (None, "strict", "maybe", "strict must be true or false, got 'maybe'"),
    ("train", "lr", "nan", "train.lr must be a number, got 'nan'"),
    ("train", "lr", float("nan"), "train.lr must be a number, got nan"),
    ("train", "lr", -1, r"train.lr must be > 0"),
    ("train", "crop_scales", ["a"], r"train.crop_scales must be a list of numbers, got \['a'\]"),
    ("decode", "executor", 3, "decode.executor must be a string, got 3"),
    ("train", "amp", "yes", "train.amp must be true or false, got 'yes'"),
    ("train", "min_steps", 1.5, "train.min_steps must be an integer, got 1.5"),
])
def test_every_key_is_type_checked_with_one_line_naming_it(section, key, value, message):
    # issue 28, point 12: these ended in tracebacks, or (strict: maybe, epochs: true) were accepted
    raw = _raw()
    (raw[section] if section else raw)[key] = value
    with pytest.raises(ParamsError, match=rf"^params.yaml: {message}.*\. Fix: "):
        parse_params(raw)


@pytest.mark.parametrize("edit,message", [
    (lambda r: r.update(datasets=["a", "b"]), r"`datasets` must be a mapping, got list"),
    (lambda r: r.update(runs=["a"]), r"`runs` must be a mapping, got list"),
    (lambda r: r.update(model=[1]), r"`model` must be a mapping, got list"),
    (lambda r: r["pose"].update({"import": [1]}), r"pose.import must be a mapping"),
    (lambda r: r["pose"].update({"estimator": "import", "import": {"source": "x", "frame_size": "ab"}}),
     r"pose.import.frame_size must be null or \[width, height\]"),
    (lambda r: r["pose"].update({"estimator": "import", "import": {"source": "x", "frame_tolerance": "ab"}}),
     r"pose.import.frame_tolerance must be an integer >= 0"),
])
def test_sections_of_the_wrong_shape_are_one_line_not_a_traceback(edit, message):
    # issue 28, point 15
    raw = _raw()
    edit(raw)
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_an_override_that_is_not_yaml_names_itself(tmp_path):
    with pytest.raises(ParamsError, match=r"override 'train.epochs=\[': the value is not YAML"):
        load_params(ROOT / "params.yaml", overrides=["train.epochs=["])


# Free-form option mappings whose keys and defaults belong to an estimator's constructor, not a dataclass.
_OPTION_MAPPINGS = {"pose.blazepose", "pose.openpose", "pose.mmpose", "pose.import"}
_NOT_DEFAULTS = {"seed", "strict", "datasets", "runs"}   # required, or the project's own entries


def _section_type(f):
    import pipeline.params
    return eval(f.type, vars(pipeline.params)) if isinstance(f.type, str) else f.type


def _defaults_differing(cls, section: dict, where: str) -> list[str]:
    """Every key of ``section`` whose value is not the default of ``cls``'s field (nested sections too)."""
    import dataclasses
    fields = {f.name: f for f in dataclasses.fields(cls)}
    differing = []
    for key, value in section.items():
        name = f"{where}.{key}"
        if name in _OPTION_MAPPINGS:
            continue
        f = fields.get("import_options" if name == "pose.import" else key)
        if f is None:
            differing.append(f"{name}: no such field in {cls.__name__}")
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            differing += _defaults_differing(type(default), value, name)
        elif (list(default) if isinstance(default, tuple) else default) != value:
            differing.append(f"{name}: params.yaml {value!r}, {cls.__name__} default {default!r}")
    return differing


def test_dataclass_defaults_are_params_yaml_values():
    """One default per setting: params.yaml (the file users edit) and the dataclasses' defaults agree,
    so a section or key a profile leaves out takes params.yaml's value."""
    from pipeline.params import Params
    import dataclasses
    sections = {f.name: f for f in dataclasses.fields(Params)}
    differing = []
    for name, section in _raw().items():
        if name in _NOT_DEFAULTS:
            continue
        f = sections[name]
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        if default is dataclasses.MISSING:   # a required section: its type's defaults
            default = _section_type(f)()
        differing += _defaults_differing(type(default), section, name)
    assert not differing, "\n".join(differing)


def test_model_section_is_model_config_less_what_a_run_derives(tmp_path):
    import dataclasses
    from pipeline.model_config import DERIVED, LEGACY, ModelConfig, ModelParams
    config_fields = [(f.name, f.default) for f in dataclasses.fields(ModelConfig) if f.name not in DERIVED]
    assert [(f.name, f.default) for f in dataclasses.fields(ModelParams)] == config_fields   # one definition
    p = load_params(ROOT / "params.yaml")
    assert isinstance(p.model, ModelParams)
    config = p.model.config(num_classes=5, num_persons=3, pose_centred=True)
    assert (config.num_classes, config.num_persons, config.pose_centred, config.hidden_size) == (5, 3, True, 128)
    assert set(LEGACY) <= {f.name for f in dataclasses.fields(ModelConfig)}


@pytest.mark.parametrize("build,message", [
    (lambda P: P.TrainParams(lr=0), r"^params.yaml: train.lr must be > 0, got 0. Fix: e.g. train.lr: 0.001$"),
    (lambda P: P.TrainParams(schedule="step"), "train.schedule step needs train.lr_milestones"),
    (lambda P: P.DecodeParams(jpeg_quality=1), r"decode.jpeg_quality must be in 2..31"),
    (lambda P: P.PoseParams(track_filter=P.TrackFilterParams(max_frames=-1)), "pose.track_filter: max_frames"),
    (lambda P: P.RayParams(pose=P.RayTaskParams(num_cpus=0, num_gpus=0)), "ray.pose: num_cpus and num_gpus"),
    (lambda P: P.IndexParams(num_segments=1), "index.num_segments must be >= 2"),
    (lambda P: P.GateParams(alpha=1), r"gate.alpha must be in \(0, 1\)"),
])
def test_each_section_checks_itself_when_built(build, message):
    """The checks sit with the fields (each dataclass's __post_init__), not only in parse_params."""
    import pipeline.params as P
    with pytest.raises(ParamsError, match=message):
        build(P)
