"""The training code's digest (the resume fingerprint) and dvc.yaml's stage deps against what each
stage really imports (issue 24)."""
import re
import shutil
from pathlib import Path

import yaml

from pipeline.code_digest import PROJECT_ROOT, code_digest, import_closure


def _copy_project(tmp_path) -> Path:
    root = tmp_path / "project"
    for package in ("pipeline", "stages"):
        shutil.copytree(PROJECT_ROOT / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_an_edit_of_a_model_file_changes_the_training_digest_and_an_unrelated_one_does_not(tmp_path):
    root = _copy_project(tmp_path)
    before = code_digest(["pipeline.train"], root)
    assert code_digest(["pipeline.train"], root) == before
    synth = root / "pipeline" / "synth" / "render.py"   # not imported by training
    synth.write_text(synth.read_text() + "\n# a comment\n")
    assert code_digest(["pipeline.train"], root) == before
    tmp = root / "pipeline" / "model" / "tmp.py"        # imported through pipeline.model
    tmp.write_text(tmp.read_text() + "\n# a comment\n")
    assert code_digest(["pipeline.train"], root) != before


def test_the_closure_follows_relative_imports_imports_inside_functions_and_package_inits(tmp_path):
    root = tmp_path / "project"
    (root / "pipeline" / "sub").mkdir(parents=True)
    (root / "pipeline" / "__init__.py").write_text("")
    (root / "pipeline" / "sub" / "__init__.py").write_text("from . import a\n")
    (root / "pipeline" / "sub" / "a.py").write_text("import os\n\ndef f():\n    from ..lazy import g\n")
    (root / "pipeline" / "lazy.py").write_text("from pipeline.sub.b import x\n")
    (root / "pipeline" / "sub" / "b.py").write_text("x = 1\n")
    (root / "pipeline" / "unused.py").write_text("")
    got = {p.relative_to(root).as_posix() for p in import_closure(["pipeline.sub.a"], root)}
    assert got == {"pipeline/__init__.py", "pipeline/sub/__init__.py", "pipeline/sub/a.py",
                   "pipeline/lazy.py", "pipeline/sub/b.py"}


def _stages():
    spec = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in spec.items():
        yield name, stage.get("do", stage)


def test_every_stage_lists_every_project_file_it_imports_as_a_dep():
    checked = 0
    for name, stage in _stages():
        module = re.match(r"python -m (stages\.\w+)", stage["cmd"]).group(1)
        deps = [d.rstrip("/") for d in stage.get("deps", []) if "${" not in d]
        missing = [p.relative_to(PROJECT_ROOT).as_posix() for p in import_closure([module])
                   if not any(p.relative_to(PROJECT_ROOT).as_posix() == d
                              or p.relative_to(PROJECT_ROOT).as_posix().startswith(d + "/") for d in deps)]
        assert not missing, f"dvc.yaml stage {name} ({module}) imports files it does not list in deps: {missing}"
        checked += 1
    assert checked >= 8
