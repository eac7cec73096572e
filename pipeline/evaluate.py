"""Evaluation on the test subset (middle frame of each segment, centre crop): top-1, top-5 and mean
class accuracy for the concatenation head and the averaged-softmax fusion, accuracy of every head,
a confusion matrix for `dvc plots` (JSON) and as a PNG, the predicted class of every test video
(what the metrics gate compares, video by video) and the mean over a dataset's splits."""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.clip_spec import ClipSpec, ClipSpecError
from pipeline.data import SplitData, make_dataset, make_loader
from pipeline.devices import pick_device
from pipeline.features import cache_for_model
from pipeline.io import atomic_path, read_json, write_json, write_text
from pipeline.model_io import ModelFileError, load_model, predict_logits, softmax
from pipeline.report import problem_report


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(1).mean()) if len(labels) else 0.0


def mean_class_accuracy(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Mean over the classes present in ``labels`` of the per-class recall."""
    accs = [float((pred[labels == c] == c).mean()) for c in range(num_classes) if (labels == c).any()]
    return float(np.mean(accs)) if accs else 0.0


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def fused_scores(heads: dict[str, np.ndarray]) -> np.ndarray:
    """The averaged softmaxes of the stream heads (the concat head's own when it is the only one)."""
    streams = [softmax(v) for k, v in heads.items() if k != "concat"] or [softmax(heads["concat"])]
    return np.mean(streams, axis=0)


def classification_metrics(heads: dict[str, np.ndarray], labels: np.ndarray, num_classes: int) -> dict:
    concat, fused = heads["concat"], fused_scores(heads)
    metrics = {"num_videos": int(len(labels))}
    for name, scores in (("concat", concat), ("fused", fused)):
        metrics[name] = {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, 5),
                         "mean_class_accuracy": mean_class_accuracy(scores.argmax(1), labels, num_classes)}
    metrics["heads_top1"] = {k: topk_accuracy(v, labels, 1) for k, v in heads.items()}
    return metrics


PREDICTION_COLUMNS = ("video_id", "label", "concat", "fused")


def prediction_table(video_ids, heads: dict[str, np.ndarray], labels: np.ndarray, classes: list[str]) -> str:
    """CSV, one row per test video: its id, true class and the class predicted by the concat head
    and by the fused softmaxes (class names, so the table reads without the index)."""
    concat, fused = heads["concat"].argmax(1), fused_scores(heads).argmax(1)
    lines = [",".join(PREDICTION_COLUMNS)]
    lines += [f"{v},{classes[y]},{classes[c]},{classes[f]}" for v, y, c, f in zip(video_ids, labels, concat, fused)]
    return "\n".join(lines) + "\n"


# What a checkpoint's run must share with the run that evaluates it: its data and how clips are cut.
RUN_KEYS_CHECKED = ("dataset", "split", "num_segments", "view", "input_size", "resize_short", "frame_size")


def check_model_belongs(model_path: Path, ckpt: dict, classes: list, run_info: dict | None) -> None:
    """A ModelFileError (one line) when the checkpoint was trained on other classes, or, given the
    evaluating run's ``run_info``, on another dataset or split or with other clip settings."""
    fix = "Fix: train this run again (dvc repro) or evaluate the run the model belongs to"
    if list(ckpt["classes"]) != list(classes):
        raise ModelFileError(f"{model_path}: was trained on classes {list(ckpt['classes'])}, the split has "
                             f"{list(classes)}: a model of another dataset or labelling. {fix}")
    trained = {**(ckpt.get("run") or {}), **(ckpt.get("clip") or {})}   # its clip spec, where it records one
    differ = [f"{k} {trained.get(k)!r} (run: {run_info[k]!r})" for k in RUN_KEYS_CHECKED
              if run_info and k in run_info and k in trained and trained[k] != run_info[k]]
    if differ:
        raise ModelFileError(f"{model_path}: trained with {', '.join(differ)}: not this run's model. {fix}")


def subset_logits(data: SplitData, subset: str, model_path: Path, *, frames_dir: Path | None,
                  s, seed: int, batch_size: int, device: str = "cpu", run_info: dict | None = None,
                  features_dir: Path | None = None):
    """Every head's logits on one subset of the split, with clips made as the checkpoint's ClipSpec
    says (pipeline.clip_spec: its sizes, view and pose inputs), after check_model_belongs. ``s``: the
    run's training settings (pipeline.params.TrainParams: threads, workers; their clip sizes only for
    a checkpoint that records none); ``seed``: the run's. A model trained on a frozen backbone's
    cached maps reads them from ``features_dir`` where it holds them (features.cache_for_model),
    else its backbone runs on the frames. Returns (heads, labels, dataset, checkpoint)."""
    torch.set_num_threads(max(1, s.threads))
    torch_device = pick_device(device, "evaluate.device")
    model, ckpt = load_model(model_path, torch_device)
    check_model_belongs(model_path, ckpt, data.classes, run_info)
    try:
        clip = ClipSpec.from_checkpoint(ckpt, settings=s)
    except ClipSpecError as err:
        raise ModelFileError(f"{model_path}: {err}. Fix: retrain with this version") from None
    features = None
    if model.uses_frames and features_dir is not None:
        features, why_not = cache_for_model(features_dir, ckpt)
        print(f"{model_path}: backbone maps from {features_dir}" if features else
              f"{model_path}: the backbone runs on the frames ({why_not})")
    dataset = make_dataset(data, subset, clip=clip, frames_dir=frames_dir if model.uses_frames else None,
                           max_persons=model.config.num_persons, seed=seed, train=False, features=features)
    if len(dataset) == 0:
        raise ValueError(f"{model_path}: the split has no {subset} videos")
    loader = make_loader(dataset, batch_size=batch_size, epoch=0, seed=seed, shuffle=False, workers=s.workers)
    heads, labels = predict_logits(model, loader, torch_device)
    return heads, labels, dataset, ckpt


def evaluate_run(data: SplitData, model_path: Path, *, frames_dir: Path | None, s, seed: int,
                 batch_size: int, metrics_path: Path, plots_dir: Path, skipped: list[dict] = (),
                 index_path: Path | str = "the split index", device: str = "cpu",
                 predictions_path: Path | None = None, run_info: dict | None = None,
                 features_dir: Path | None = None) -> dict:
    """Metrics of the model on the split's test subset. ``skipped``: the index's videos left out
    (video_id, subset, reason); test videos among them are named in a warning, since the metrics
    then rest on fewer videos than the split has. ``features_dir``: the features stage's cache
    (subset_logits). ``predictions_path``: the per-video table the metrics gate compares.
    ``run_info``: the evaluating run's (RunSpec.info), checked against the checkpoint's before
    anything is written. Every output is computed before the first is written,
    so the metrics and the predictions always come from the same scoring."""
    heads, labels, test, ckpt = subset_logits(data, "test", model_path, frames_dir=frames_dir, s=s,
                                              seed=seed, batch_size=batch_size, device=device, run_info=run_info,
                                              features_dir=features_dir)
    missing = [r for r in skipped if r.get("subset") == "test"]
    name = ckpt["run"].get("name", model_path.parent.name)
    print(f"evaluate {name}: scored {len(labels)} of the split's {len(labels) + len(missing)} test videos")
    if missing:
        text = problem_report(f"WARNING: evaluate {name}: test videos MISSING, the metrics rest on the other "
                              f"{len(labels)}", ((r["video_id"], r["reason"]) for r in missing), index_path)
        print(text, file=sys.stderr)
    num_classes = len(data.classes)
    metrics = classification_metrics(heads, labels, num_classes)
    metrics["best_epoch"] = ckpt["best"]["epoch"]
    metrics["val_top1"] = ckpt["best"]["top1"]
    predictions = prediction_table(test.rows["video_id"], heads, labels, data.classes)
    pred = heads["concat"].argmax(1)
    names = data.classes
    confusion = [{"actual": names[a], "predicted": names[p]} for a, p in zip(labels, pred)]
    write_json(metrics_path, metrics)
    if predictions_path is not None:
        write_text(predictions_path, predictions)
    write_json(plots_dir / "confusion.json", confusion)
    plot_confusion(confusion_matrix(pred, labels, num_classes), names, plots_dir / "confusion.png",
                   title=f"{ckpt['run'].get('name', '')} test top-1 {metrics['concat']['top1']:.3f}")
    return metrics


def plot_confusion(cm: np.ndarray, names: list[str], path: Path, title: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    if n <= 30:
        for (i, j), v in np.ndenumerate(cm):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > cm.max() / 2 else "black")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _flatten(d: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def summarize_runs(run_metrics: dict[str, Path], run_datasets: dict[str, str], out_path: Path,
                   predictions: dict[str, Path] | None = None) -> dict:
    """Mean and sample std of every metric over each dataset's runs (the paper reports the mean
    over the three official splits), and with ``predictions`` (each run's per-video table) the
    concat head's top-1 per class, pooled over the dataset's runs' test videos."""
    per_dataset: dict[str, list[dict]] = defaultdict(list)
    for run, path in sorted(run_metrics.items()):
        per_dataset[run_datasets[run]].append(_flatten(read_json(path)))
    summary = {}
    for dataset, runs in per_dataset.items():
        keys = sorted(set().union(*runs))
        summary[dataset] = {"runs": len(runs)}
        for key in keys:
            values = [r[key] for r in runs if key in r]
            if key.endswith(("top1", "top5", "accuracy")):
                summary[dataset][key] = float(np.mean(values))
                summary[dataset][key + "_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    for dataset in per_dataset:
        tables = [pd.read_csv(path, dtype=str, keep_default_na=False) for run, path in sorted((predictions or {}).items())
                  if run_datasets[run] == dataset and Path(path).exists()]
        if tables:
            pooled = pd.concat(tables)
            hits = (pooled["concat"] == pooled["label"]).groupby(pooled["label"], sort=False)
            summary[dataset]["class_top1"] = {c: float(v) for c, v in hits.mean().items()}
            summary[dataset]["class_videos"] = {c: int(v) for c, v in hits.size().items()}
    write_json(out_path, summary)
    return summary
