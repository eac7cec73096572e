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
