"""Which of the project's own source files a module runs, and a digest of them.

Training's resume fingerprint holds the digest of the code that defines training and the model, so
that a changed model file retrains instead of resuming a finished run; a test holds dvc.yaml's
stage deps against the same import closure. The closure is read from the source (every ``import``
statement, including those inside functions), not from ``sys.modules``: it is the same in every
process, whatever else that process imported."""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("pipeline", "stages")


def module_file(name: str, root: Path = PROJECT_ROOT) -> Path | None:
    """The source file of the project module ``name`` (a package's ``__init__.py``), or None for
    a module outside the project."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, module: str) -> set[str]:
    """Every module name an import statement of ``path`` may load; ``from a import b`` gives
    ``a`` and ``a.b`` (b may be a submodule), relative imports resolved against ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_closure(modules, root: Path = PROJECT_ROOT) -> list[Path]:
    """The project source files that importing ``modules`` (names like ``stages.train``) can run:
    the modules themselves, every project module they import, transitively, and the
    ``__init__.py`` of every package on the way. Sorted."""
    todo = list(modules)
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        parts = name.split(".")
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) not in seen)
        path = module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        todo.extend(n for n in _imported_names(path, name) if n not in seen)
    return sorted(set(seen.values()))


def code_digest(modules, root: Path = PROJECT_ROOT) -> str:
    """sha256 over the import closure of ``modules``: each file's path relative to ``root`` and
    its bytes. Any edit of a file in the closure, a comment included, changes it."""
    digest = hashlib.sha256()
    for path in import_closure(modules, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
