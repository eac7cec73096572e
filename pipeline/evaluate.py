"""Evaluation on the test subset (middle frame of each segment, centre crop): top-1, top-5 and mean
class accuracy for the concatenation head and the averaged-softmax fusion, accuracy of every head,
a confusion matrix for `dvc plots` (JSON) and as a PNG, and the mean over a dataset's splits."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from pipeline.data import SplitData
from pipeline.io import atomic_path, read_json, write_json
from pipeline.pose_augment import from_run_info
from pipeline.pose_inputs import from_run_info as pose_inputs_from_run_info
from pipeline.train import TrainSettings, load_model, make_dataset, make_loader, predict_logits


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


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


def classification_metrics(heads: dict[str, np.ndarray], labels: np.ndarray, num_classes: int) -> dict:
    concat = heads["concat"]
    streams = [softmax(v) for k, v in heads.items() if k != "concat"] or [softmax(concat)]
    fused = np.mean(streams, axis=0)
    metrics = {"num_videos": int(len(labels))}
    for name, scores in (("concat", concat), ("fused", fused)):
        metrics[name] = {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, 5),
                         "mean_class_accuracy": mean_class_accuracy(scores.argmax(1), labels, num_classes)}
    metrics["heads_top1"] = {k: topk_accuracy(v, labels, 1) for k, v in heads.items()}
    return metrics


def evaluate_run(data: SplitData, model_path: Path, *, frames_dir: Path | None, s: TrainSettings,
                 batch_size: int, metrics_path: Path, plots_dir: Path) -> dict:
    torch.set_num_threads(max(1, s.threads))
    model, ckpt = load_model(model_path)
    test = make_dataset(data, "test", frames_dir=frames_dir if model.uses_frames else None,
                        max_persons=model.config.num_persons, s=s, train=False,
                        pose_augment=from_run_info(ckpt.get("run")),  # its view, as in training
                        pose_inputs=pose_inputs_from_run_info(ckpt.get("run")))
    if len(test) == 0:
        raise ValueError(f"{model_path}: the split has no test videos")
    loader = make_loader(test, batch_size=batch_size, epoch=0, seed=s.seed, shuffle=False, workers=s.workers)
    heads, labels = predict_logits(model, loader, torch.device("cpu"))
    num_classes = len(data.classes)
    metrics = classification_metrics(heads, labels, num_classes)
    metrics["best_epoch"] = ckpt["best"]["epoch"]
    metrics["val_top1"] = ckpt["best"]["top1"]
    write_json(metrics_path, metrics)
    pred = heads["concat"].argmax(1)
    names = data.classes
    write_json(plots_dir / "confusion.json",
               [{"actual": names[a], "predicted": names[p]} for a, p in zip(labels, pred)])
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


def summarize_runs(run_metrics: dict[str, Path], run_datasets: dict[str, str], out_path: Path) -> dict:
    """Mean (and std) of every metric over each dataset's runs (the paper reports the mean over
    the three official splits)."""
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
                summary[dataset][key + "_std"] = float(np.std(values))
    write_json(out_path, summary)
    return summary
