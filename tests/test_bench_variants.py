"""bench.variants --validation-only reads the validation top-1 of the epoch training keeps."""
import pytest

from bench.variants import format_table, kept_epoch_validation
from pipeline.io import write_json


def _history(tmp_path, records):
    path = tmp_path / "history.json"
    write_json(path, records)
    return path


def test_the_heads_are_read_at_the_epoch_training_kept(tmp_path):
    # pipeline.train keeps the last of the best joint epochs (epoch 5 here: a tie with epoch 3);
    # pose warm-up epochs carry no val_top1
    path = _history(tmp_path, [
        {"epoch": 1, "phase": "pose", "val_top1_pose": 0.9, "val_top1_motion": 0.9},
        {"epoch": 2, "phase": "joint", "val_top1": 0.5, "val_top1_concat": 0.5, "val_top1_pose": 0.2},
        {"epoch": 3, "phase": "joint", "val_top1": 0.7, "val_top1_concat": 0.7, "val_top1_pose": 0.3},
        {"epoch": 4, "phase": "joint", "val_top1": 0.6, "val_top1_concat": 0.6, "val_top1_pose": 0.4},
        {"epoch": 5, "phase": "joint", "val_top1": 0.7, "val_top1_concat": 0.7, "val_top1_pose": 0.1},
    ])
    kept = kept_epoch_validation(path, 5)
    assert kept["epoch"] == 5 and kept["concat"] == 0.7
    assert kept["heads"] == {"pose": 0.1}


def test_a_run_without_validation_is_an_error_that_says_the_fix(tmp_path):
    path = _history(tmp_path, [{"epoch": 1, "phase": "joint", "train_loss": 1.0}])
    with pytest.raises(SystemExit, match="val_fraction"):
        kept_epoch_validation(path, 1)


def test_the_table_names_the_subset_and_leaves_out_what_was_not_measured():
    results = {"tmp": [{"concat": 0.5, "fused": float("nan"), "heads": {"pose": 0.4}, "videos": 40, "seconds": 1},
                       {"concat": 0.7, "fused": float("nan"), "heads": {"pose": 0.6}, "videos": 50, "seconds": 3}]}
    table = format_table(results, ["a", "b"], "validation")
    row = table.splitlines()[3]
    assert "validation videos" in table
    assert row.split("|")[2].strip() == "60.0 ± 14.1" and row.split("|")[3].strip() == "-"
    assert "| 90 |" in row
