"""The mmpose backend's options (MMPoseOptions): params.yaml's ``pose.mmpose`` keys, typed and
checked before MMPose is imported; a bad key or value is one line naming ``pose.mmpose.<key>``.
Needs no mmpose install."""
from pathlib import Path

import pytest
import yaml

from pipeline.pose.estimators import build_estimator
from pipeline.pose.mmpose_backend import MMPoseOptions

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_section_gives_its_values_under_the_same_keys():
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["pose"]["mmpose"]
    options = MMPoseOptions.from_params(section)
    for key, value in section.items():
        assert getattr(options, key) == value, key


def test_absent_keys_take_the_defaults():
    assert MMPoseOptions.from_params({"random_weights": True}) == MMPoseOptions(random_weights=True)
    assert MMPoseOptions(random_weights=True).batch_size == 16


def test_values_are_normalised_to_their_types():
    options = MMPoseOptions.from_params({"checkpoint": Path("w.pth"), "detector_labels": [0, 2], "box_margin": 0,
                                         "blazepose": None, "cfg_options": None})
    assert options.checkpoint == "w.pth" and options.detector_labels == (0, 2)
    assert options.box_margin == 0.0 and isinstance(options.box_margin, float)
    assert options.blazepose == {} and options.cfg_options == {}


@pytest.mark.parametrize("section, message", [
    ({"batch_sise": 8}, r"pose\.mmpose\.batch_sise: unknown option \(did you mean batch_size\?\); known: config, "),
    ({"max_persons": 2}, r"pose\.mmpose\.max_persons: unknown option"),
    ({"batch_size": "8"}, r"pose\.mmpose\.batch_size must be a whole number, got '8'"),
    ({"batch_size": 0}, r"pose\.mmpose\.batch_size must be >= 1, got 0"),
    ({"max_boxes": 2.5}, r"pose\.mmpose\.max_boxes must be a whole number or null, got 2\.5"),
    ({"max_boxes": 0}, r"pose\.mmpose\.max_boxes must be >= 1"),
    ({"num_threads": -1}, r"pose\.mmpose\.num_threads must be >= 0"),
    ({"frame_fallback": "yes"}, r"pose\.mmpose\.frame_fallback must be true or false, got 'yes'"),
    ({"min_score": True}, r"pose\.mmpose\.min_score must be a number"),
    ({"detector_labels": [0, "person"]}, r"pose\.mmpose\.detector_labels must be a list of whole numbers"),
    ({"cfg_options": ["x"]}, r"pose\.mmpose\.cfg_options must be a mapping"),
    ({"config": 3}, r"pose\.mmpose\.config must be a string or null"),
    ({"mode": "sideways"}, r"unknown pose\.mmpose\.mode 'sideways': one of topdown, bottomup"),
    ({"layout": "coco18"}, r"unknown pose\.mmpose\.layout 'coco18'"),
    ({"checkpoint": None}, r"pose\.mmpose\.checkpoint is not set"),
    ({"boxes": "mmdet"}, r"pose\.mmpose\.boxes is mmdet: set detector_config"),
])
def test_a_bad_key_or_value_is_one_line_naming_it(section, message):
    with pytest.raises(ValueError, match=message) as err:
        MMPoseOptions.from_params({"checkpoint": "w.pth", **section})
    assert "\n" not in str(err.value)


def test_the_estimator_is_built_from_the_checked_options():
    # build_estimator is the one place a params section becomes MMPoseOptions: it fails there,
    # before MMPose is imported.
    with pytest.raises(ValueError, match=r"pose\.mmpose\.batch_sise: unknown option"):
        build_estimator("mmpose", {"checkpoint": "w.pth", "batch_sise": 8}, max_persons=2)
