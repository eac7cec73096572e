"""The model zoo: small trained models committed to the repository (``zoo/registry.yaml``), so
``predict`` works on a new video without training first, beside the user's own models
(``models/<run>/model.pt`` written by the train stage).

A zoo entry names its checkpoint (a few MB, loaded weights-only like every checkpoint), its model
card and a one-line summary; ``default`` names the entry predict uses without ``--model``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "zoo" / "registry.yaml"


class ZooError(ValueError):
    """The registry is unreadable or names something that is not there; the message says which."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    source: str          # "zoo" or "yours"
    summary: str = ""
    card: Path | None = None
    default: bool = False

    @property
    def exists(self) -> bool:
        return self.path.is_file()


def zoo_entries(registry: Path | None = None) -> list[ModelEntry]:
    """The registry's entries (default REGISTRY; paths resolved against the registry's project root)."""
    registry = Path(registry or REGISTRY)
    try:
        data = yaml.safe_load(registry.read_text()) or {}
    except FileNotFoundError:
        return []
    except yaml.YAMLError as err:
        raise ZooError(f"{registry}: not valid YAML ({err})") from None
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise ZooError(f"{registry}: `models` must be a mapping of name -> entry")
    root = registry.resolve().parents[1]
    default = data.get("default")
    if default is not None and default not in models:
        raise ZooError(f"{registry}: default {default!r} is not one of the entries {sorted(models)}")
    entries = []
    for name, entry in models.items():
        if not isinstance(entry, dict) or "path" not in entry:
            raise ZooError(f"{registry}: entry {name!r} needs a `path` to its model.pt")
        card = entry.get("card")
        entries.append(ModelEntry(str(name), root / entry["path"], "zoo", str(entry.get("summary", "")),
                                  root / card if card else None, name == default))
    return entries


def user_models(models_dir: Path = Path("models")) -> list[ModelEntry]:
    """Models the train stage wrote: ``models/<run>/model.pt`` (named by the run)."""
    return [ModelEntry(p.parent.name, p, "yours") for p in sorted(Path(models_dir).glob("*/model.pt"))]


def available_models(registry: Path | None = None, models_dir: Path = Path("models")) -> list[ModelEntry]:
    return zoo_entries(registry) + user_models(models_dir)


def default_model(registry: Path | None = None) -> ModelEntry:
    """The entry predict uses without ``--model``; ZooError when there is none or its file is missing."""
    registry = Path(registry or REGISTRY)
    for entry in zoo_entries(registry):
        if entry.default:
            if not entry.exists:
                raise ZooError(f"{entry.path}: the default zoo model {entry.name} is missing; restore it "
                               f"(git checkout -- {entry.path.relative_to(Path(registry).resolve().parents[1])}) "
                               "or pass --model")
            return entry
    raise ZooError(f"{registry}: no default model in the zoo; pass --model models/<run>/model.pt")


def resolve_model(name_or_path: str | Path | None, registry: Path | None = None) -> ModelEntry:
    """``None``: the default zoo entry; a zoo entry's name; otherwise a checkpoint path as given."""
    if name_or_path is None:
        return default_model(registry)
    text = str(name_or_path)
    for entry in zoo_entries(registry):
        if entry.name == text:
            return entry
    path = Path(text)
    return ModelEntry(path.parent.name if path.name == "model.pt" else path.stem, path, "yours")


def listing(entries: list[ModelEntry]) -> str:
    """The text of ``predict --list-models``."""
    if not entries:
        return "no models: the zoo is empty and models/ holds no <run>/model.pt (train one with dvc repro)"
    width = max(len(e.name) for e in entries)
    lines = []
    for e in entries:
        flags = [e.source] + (["default"] if e.default else []) + ([] if e.exists else ["MISSING"])
        line = f"{e.name:<{width}}  [{', '.join(flags)}]  {e.path}"
        if e.summary:
            line += f"\n{'':<{width}}  {e.summary}"
        lines.append(line)
    return "\n".join(lines)
