"""Model files and running a model on batches: the one home of checkpoint writing and reading
(training's per-epoch resume checkpoint and the trained ``model.pt``) and of the inference helpers
that train, evaluate and predict share (``to_model_inputs``, ``predict_logits``, ``softmax``)."""
from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pipeline.data import normalize_frames
from pipeline.errors import InputError, MissingInput
from pipeline.io import atomic_path
from pipeline.model import BackboneMaps, ModelConfig, build_model
from pipeline.model_config import LEGACY
from pipeline.pixels import RGB_IMAGENET, InputConvention

CHECKPOINT_FORMAT = 1
# What a model.pt without an ``input_convention`` entry was trained with: before conventions were
# recorded, every backbone (BN-Inception included) got RGB in [0, 1] with ImageNet mean/std.
LEGACY_CONVENTION = RGB_IMAGENET


def to_model_inputs(batch: dict, model, device: torch.device):
    """(frames, poses, person mask, joint visibility) of a loader batch on ``device``; frames in
    the input convention of the model's backbone (``model.backbone.input_convention``: the
    backbone's own, or the one recorded in the checkpoint it was loaded from); None where the
    model or the batch has none (the pose warm-up's batches carry no frames). A batch of cached
    backbone maps (pipeline/features.py) gives them in the frames' place."""
    frames = None
    if model.uses_frames and "mid" in batch:
        frames = BackboneMaps(batch["mid"].to(device, non_blocking=True), batch["pooled"].to(device, non_blocking=True))
    elif model.uses_frames and batch["frames"].numel() > 0:
        frames = normalize_frames(batch["frames"].to(device, non_blocking=True), model.backbone.input_convention)
    poses = batch["poses"].to(device) if model.uses_poses else None
    mask = batch["person_mask"].to(device) if model.uses_poses else None
    visibility = batch["visibility"].to(device) if model.uses_poses else None
    return frames, poses, mask, visibility


def stream_logits(model, inputs: tuple, stream: str | None) -> dict:
    """Logits per head of the whole model (``stream`` None), of the pose stream alone ("pose": the
    pose and motion heads, no frames) or of the appearance stream alone ("appearance": no poses)."""
    if stream == "pose":
        return model.pose_stream_logits(*inputs[1:])
    if stream == "appearance":
        return model.appearance_stream_logits(inputs[0])
    return model(*inputs).logits


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits [V, C] (numpy): each head's class probabilities."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@torch.no_grad()
def predict_logits(model, loader, device, stream: str | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per head logits [V, C] and labels [V] over a loader, in dataset order; ``stream``: one
    stream's heads alone (``stream_logits``; the warm-ups' validation)."""
    model.eval()
    heads: dict[str, list] = {}
    labels, order = [], []
    for batch in loader:
        inputs = to_model_inputs(batch, model, device)
        out = stream_logits(model, inputs, stream)
        for name, logits in out.items():
            heads.setdefault(name, []).append(logits.float().cpu())
        labels.append(batch["label"])
        order.append(batch["index"])
    order = torch.cat(order).argsort()
    return ({k: torch.cat(v)[order].numpy() for k, v in heads.items()},
            torch.cat(labels)[order].numpy())


def _save_checkpoint(path: Path, state: dict) -> None:
    # Saved through a file object: torch names the archive's inner folder after a file path, and
    # the temporary path is random, which would make equal models differ byte for byte.
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)


class UnsafeCheckpoint(InputError, ValueError):
    """A checkpoint holding more than weights: objects that would run code when unpickled."""


class ModelFileError(InputError, ValueError):
    """A model.pt this version cannot use, or that does not belong to the data it is asked about."""


def _read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint written by ``_save_checkpoint``, through torch's weights-only (safe) unpickler;
    a file holding code-executing objects is refused with UnsafeCheckpoint, an empty, cut-short or
    foreign file with ModelFileError."""
    path = Path(path)
    if not zipfile.is_zipfile(path):   # what torch.save writes; checked first, so that a text file is not
        raise ModelFileError(           # taken for a pickle holding code
            f"{path}: not a checkpoint ({'empty' if path.stat().st_size == 0 else 'cut short or another kind of file'}"
            f": torch.save writes a zip archive). Fix: run the stage that writes it again (dvc repro), "
            "or delete it to train afresh")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpoint(_refusal(path, err)) from None
    except (RuntimeError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"{path}: unreadable checkpoint ({' '.join(str(err).split())[:120]}). Fix: run the "
                             "stage that writes it again (dvc repro), or delete it to train afresh") from None


def _refusal(path: Path, err: Exception) -> str:
    # torch's own first line reads like advice to load with weights_only=False: say what it means
    text = str(err)
    named = re.search(r"GLOBAL ([\w.]+)", text)
    detail = (f"unsupported GLOBAL {named.group(1)}" if named else
              next((line.strip() for line in text.splitlines()[1:]
                    if line.strip() and not line.startswith(("Please file", "Check the documentation"))), "?"))
    return (f"{path}: refused: the file holds Python objects that could execute arbitrary code when loaded "
            f"({detail}), not only weights; it was not loaded and nothing in it ran. Fix: use a model.pt "
            "written by this project's training; never load a file you do not trust with weights_only=False")


def save_model(path: Path, model, config: ModelConfig, data, run_info: dict, best: dict, clip=None,
               features=None):
    """The trained ``model.pt``: weights, model config, class names (``data.classes``), the run's
    settings (``run_info``), the best validation score, the backbone's input convention and ``clip``
    (a pipeline.clip_spec.ClipSpec: how its clips are made, what evaluate and predict rebuild them
    from); read back by ``load_model``. ``features``: the pipeline.features.FeatureSpec of the
    cached maps training read (its frozen backbone), so that evaluate can read the same cache."""
    state = {"format": CHECKPOINT_FORMAT, "model_config": asdict(config), "state_dict": model.state_dict(),
             "classes": data.classes, "run": run_info, "best": best}
    if clip is not None:
        state["clip"] = clip.to_dict()
    if features is not None:
        state["features"] = features.to_dict()
    if model.backbone is not None:
        state["input_convention"] = model.backbone.input_convention.to_dict()
    _save_checkpoint(path, state)


def load_model(path: Path, device: torch.device | str = "cpu"):
    """The model saved by training, loaded through torch's weights-only (safe) unpickler.
    Returns (model in eval mode, checkpoint dict)."""
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"{path}: no trained model. Fix: run `dvc repro` (or the train stage) first")
    ckpt = _read_checkpoint(path, device)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFileError(f"{path}: checkpoint format {found!r}, this version reads {CHECKPOINT_FORMAT}. "
                             "Fix: retrain with this version")
    missing = [k for k in ("model_config", "state_dict", "classes", "run", "best") if k not in ckpt]
    if missing:
        raise ModelFileError(f"{path}: checkpoint lacks {missing}: not written by this project's training. "
                             "Fix: retrain with this version")
    try:
        model = build_model(ModelConfig(**{**LEGACY, **ckpt["model_config"]}), load_pretrained=False)
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, RuntimeError, ValueError) as err:
        detail = " ".join(str(err).split())[:300]
        raise ModelFileError(f"{path}: checkpoint does not fit this version's model ({detail}). "
                             "Fix: retrain with this version") from None
    if model.backbone is not None:
        # The pixels the model was trained on, whatever its backbone declares today.
        recorded = ckpt.get("input_convention")
        try:
            convention = LEGACY_CONVENTION if recorded is None else InputConvention.from_dict(recorded)
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{path}: unreadable input_convention {recorded!r} ({err}). "
                                 "Fix: retrain with this version") from None
        model.backbone.input_convention = convention
    return model.to_device(device).eval(), ckpt
