"""Where each stage reads and writes (dvc.yaml spells the same paths)."""
from __future__ import annotations

from pathlib import Path

DATA = Path("data")
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = METRICS / "plots"


def manifest(dataset: str) -> Path:
    return DATA / "manifests" / f"{dataset}.parquet"


def frames_dir(dataset: str) -> Path:
    return DATA / "frames" / dataset


def frames_table(dataset: str) -> Path:
    return DATA / "frames" / f"{dataset}.parquet"


def poses(dataset: str) -> Path:
    return DATA / "poses" / f"{dataset}.parquet"


def pose_videos(dataset: str) -> Path:
    return DATA / "poses" / f"{dataset}.videos.parquet"


def pose_parts(dataset: str) -> Path:
    return DATA / "poses" / f"{dataset}.parts"


def features_dir(dataset: str) -> Path:
    return DATA / "features" / dataset


def index_dir(dataset: str) -> Path:
    return DATA / "index" / dataset


def split_index(dataset: str, split: str) -> Path:
    return index_dir(dataset) / f"split_{split}.parquet"


def run_dir(run: str) -> Path:
    return MODELS / run


def run_metrics(run: str) -> Path:
    return METRICS / "runs" / f"{run}.json"


def run_predictions(run: str) -> Path:
    return METRICS / "predictions" / f"{run}.csv"


def run_plots(run: str) -> Path:
    return PLOTS / run


def summary_metrics() -> Path:
    return METRICS / "summary.json"


def gate_baseline() -> Path:
    return METRICS / "baseline.json"
