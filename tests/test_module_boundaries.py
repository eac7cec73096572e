"""Who may import what (issue 27): predict scores a video without the training or evaluation
modules, evaluate a split without the training module; the benchmarks use the pipeline's public
names only and nothing from tests/."""
import ast
from pathlib import Path

from pipeline.code_digest import PROJECT_ROOT, import_closure

PROJECT_PACKAGES = ("pipeline", "stages", "bench", "tests")


def test_predict_imports_neither_training_nor_evaluation():
    closure = {p.relative_to(PROJECT_ROOT).as_posix() for p in import_closure(["pipeline.predict"])}
    assert "pipeline/predict.py" in closure
    assert not closure & {"pipeline/train.py", "pipeline/evaluate.py"}


def test_evaluate_does_not_import_training():
    # issue 27: scoring a model builds its clips from the checkpoint's ClipSpec (pipeline.data,
    # pipeline.clip_spec), not through the training module
    closure = {p.relative_to(PROJECT_ROOT).as_posix() for p in import_closure(["pipeline.evaluate"])}
    assert {"pipeline/evaluate.py", "pipeline/data.py", "pipeline/clip_spec.py"} <= closure
    assert "pipeline/train.py" not in closure


def _private_uses(path: Path) -> list[str]:
    """`from <project module> import _name`, `import tests...` / `from tests... import`, and
    `<imported project module>._name` in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROJECT_PACKAGES:
            if node.module.split(".")[0] == "tests":
                found.append(f"{path.name}:{node.lineno}: from {node.module}")
            found += [f"{path.name}:{node.lineno}: {node.module}.{a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
            modules.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "tests":
                    found.append(f"{path.name}:{node.lineno}: import {a.name}")
                if a.name.split(".")[0] in PROJECT_PACKAGES:
                    modules.add(a.asname or a.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_bench_uses_public_names_only_and_nothing_from_tests():
    found = [use for path in sorted((PROJECT_ROOT / "bench").rglob("*.py")) for use in _private_uses(path)]
    assert not found, f"bench uses private names or tests/: {found}"
