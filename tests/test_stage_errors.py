"""Stage entry points on bad input: one line 'error: <file>:<line>: <problem>. Fix: ...', a
non-zero exit status, no traceback (issue 14, defect 7)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _stage(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *args, "--params", str(tmp_path / "params.yaml")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def _project(tmp_path, labels: str, strict: bool):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["strict"] = strict
    params["datasets"] = {"toy": {"adapter": "generic", "root": str(tmp_path / "videos"), "options": {}}}
    params["runs"] = {"toy_1": {"dataset": "toy", "split": "default"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "labels.csv").write_text(labels)


def _one_error_line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and ". Fix: " in lines[0], result.stderr
    return lines[0]


def test_a_bad_labels_csv_ends_prepare_with_one_line(tmp_path):
    _project(tmp_path, "path,label\na.mp4,wave\nb.mp4,wave,extra\n", strict=True)
    line = _one_error_line(_stage(tmp_path, "stages.prepare", "--dataset", "toy"))
    assert line.startswith(f"error: {tmp_path / 'videos' / 'labels.csv'}:3: has 3 fields, the header has 2")


def test_a_strict_stop_in_decode_is_one_line(tmp_path):
    _project(tmp_path, "path,label\na.mp4,wave\nb.mp4,wave\n", strict=True)
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "videos" / name).write_bytes(b"")
    assert _stage(tmp_path, "stages.prepare", "--dataset", "toy").returncode == 0
    line = _one_error_line(_stage(tmp_path, "stages.decode", "--dataset", "toy"))
    assert line.startswith(f"error: {tmp_path / 'videos'}/") and ".mp4: empty file. Fix: " in line
    assert "strict: false" in line


def test_a_dataset_or_run_name_that_is_a_path_is_refused_before_anything_is_written(tmp_path):
    _project(tmp_path, "path,label\na.mp4,wave\n", strict=False)
    for stage, option in (("stages.decode", "--dataset"), ("stages.prepare", "--dataset"),
                          ("stages.train", "--run")):
        line = _one_error_line(_stage(tmp_path, stage, option, "../../victim"))
        assert f"{option} '../../victim'" in line and "letters, digits, _ and -" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "videos"]


def test_a_full_disk_is_one_line_not_a_traceback(capsys):
    # issue 28, point 1: ENOSPC while writing an output ended the stage in a traceback
    import errno

    from stages.common import _report
    _report(OSError, OSError(errno.ENOSPC, "No space left on device", "data/poses/x.parts/v.parquet"), None)
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: data/poses/x.parts/v.parquet: no space left on device. Fix: free space")
    assert "\n" not in line


def test_train_and_evaluate_before_index_say_so_in_one_line(tmp_path, monkeypatch):
    # issue 28, point 15: a missing index and an unknown model key ended in tracebacks
    from pipeline.errors import InputError
    from pipeline.params import load_params
    from pipeline.runs import run_spec
    _project(tmp_path, "path,label\na.mp4,wave\n", strict=False)
    line = _one_error_line(_stage(tmp_path, "stages.train", "--run", "toy_1"))
    assert line.startswith("error: data/index/toy/split_default.parquet: no index for run toy_1. Fix: run")
    monkeypatch.chdir(tmp_path)
    params = load_params(tmp_path / "params.yaml")
    with pytest.raises(InputError, match="no index for run toy_1"):     # evaluate's way in too
        run_spec(params, "toy_1")
    with pytest.raises(InputError, match=r"params.yaml: unknown key\(s\) \['no_such_key'\] in `model`; allowed: "):
        load_params(tmp_path / "params.yaml", overrides=["model.no_such_key=1"])   # typed: found on loading


def test_a_missing_pose_import_source_is_one_line(tmp_path):
    # issue 28, point 15: a FormatError (not an InputError) ended the pose stage in a traceback
    _project(tmp_path, "path,label\na.mp4,wave\nb.mp4,wave\n", strict=False)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["pose"].update({"estimator": "import", "import": {"format": "pyskl", "source": "nothere.pkl"}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "videos" / name).write_bytes(b"")
    assert _stage(tmp_path, "stages.prepare", "--dataset", "toy").returncode == 0
    line = _one_error_line(_stage(tmp_path, "stages.pose", "--dataset", "toy"))
    assert line.startswith("error: nothere.pkl: import source not found. Fix: ")


@pytest.mark.parametrize("code, cause", [("EROFS", "Read-only file system"), ("EACCES", "Permission denied"),
                                         ("EIO", "Input/output error")])
def test_an_unwritable_or_failing_disk_is_one_line_naming_the_path(capsys, code, cause):
    # issue 28, points 1 and 15: a read-only output folder ended the stage in a traceback
    import errno

    from stages.common import _report
    _report(OSError, OSError(getattr(errno, code), cause, "data/frames/toy/v1"), None)
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: data/frames/toy/v1: {cause}. Fix: ") and "\n" not in line


@pytest.mark.parametrize("content, words", [(b"", "empty"), (b"hello, not a model\n", "another kind of file"),
                                            ("cut", "cut short")])
def test_an_empty_truncated_or_foreign_model_file_is_one_line_saying_it_is_not_a_checkpoint(tmp_path, content, words):
    # issue 28, point 15: EOFError / zip-archive tracebacks; a text file was called code-executing
    import torch

    from pipeline.errors import InputError
    from pipeline.model_io import load_model
    path = tmp_path / "model.pt"
    if content == "cut":
        torch.save({"format": 1, "weights": torch.zeros(1000)}, path)
        path.write_bytes(path.read_bytes()[:-200])
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_model(path)
    assert str(err.value).startswith(f"{path}: ") and "execute" not in str(err.value)
    assert words in str(err.value) or "unreadable checkpoint" in str(err.value)
