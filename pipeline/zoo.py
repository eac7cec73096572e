"""The model zoo: small trained models committed to the repository (``zoo/registry.yaml``), so
``predict`` works on a new video without training first, beside the user's own models
(``models/<run>/model.pt`` written by the train stage).

A zoo entry names its checkpoint (a few MB, loaded weights-only like every checkpoint), its model
card and a one-line summary; ``default`` names the entry predict uses without ``--model``.
``check_entry`` says what is wrong with an entry (file missing, not loadable weights-only, its
sha256 not the card's); tests/test_zoo.py runs it on every entry.
"""
from __future__ import annotations

import hashlib
import pickle
import re
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


CARD_SHA256 = re.compile(r"sha256 `([0-9a-f]{64})`")   # how a model card names its file's digest


def check_entry(entry: ModelEntry) -> list[str]:
    """What is wrong with a zoo entry, one line each naming the file, the problem and the fix
    (empty: nothing): its model.pt missing or not loadable with torch's weights-only unpickler as
    a model of this version, its card missing or without the file's sha256, or another sha256."""
    from pipeline.model_io import load_model   # torch: only when checking
    remake = "remake it with bash bench/penn_action/zoo.sh (or restore it from git) and commit it"
    if not entry.exists:
        return [f"{entry.path}: the zoo model {entry.name} is missing; {remake}"]
    problems = []
    try:
        load_model(entry.path)
    except (ValueError, RuntimeError, OSError, EOFError, pickle.UnpicklingError, KeyError, AttributeError,
            TypeError) as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        problems.append(f"{entry.path}: the zoo model {entry.name} does not load weights-only "
                        f"({type(err).__name__}: {first}); {remake}")
    if entry.card is None or not entry.card.is_file():
        return problems + [f"{entry.card or 'zoo/registry.yaml'}: no model card for {entry.name}; "
                           f"name one under `card:` and write it with bench.penn_action.publish_zoo"]
    found = CARD_SHA256.findall(entry.card.read_text())
    digest = hashlib.sha256(entry.path.read_bytes()).hexdigest()
    if not found:
        problems.append(f"{entry.card}: names no sha256 `<64 hex digits>` of {entry.path.name}; "
                        "write the card with bench.penn_action.publish_zoo")
    elif found[0] != digest:
        problems.append(f"{entry.path}: sha256 {digest} is not the {found[0]} of its card {entry.card}; "
                        "the file changed after the card was written: publish both again "
                        "(bench.penn_action.publish_zoo) or restore the file")
    return problems
