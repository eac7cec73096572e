"""Dataset adapters: one per dataset, each turning a dataset's native layout and official split
files into a Manifest (and, where the dataset ships poses, ground truth per video).

params.yaml names them under ``datasets:``::

    datasets:
      ucf101: {adapter: ucf101, root: /data/UCF101, options: {check_files: true}}

Each adapter module's docstring documents its folder layout and every option. Every adapter also
takes ``strict`` (the prepare stage passes params.yaml's top-level ``strict``; default true): a
split file that names a missing video stops with an error when true, and is recorded in
``manifest.excluded`` when false. An unknown option is an error.
"""
from __future__ import annotations

from pipeline.datasets import generic, hmdb51, jhmdb, kth, ntu, penn_action, pyskl, synth, ucf11, ucf101
from pipeline.datasets._common import summarize
from pipeline.datasets.base import DatasetAdapter, DatasetError, GroundTruthPoses, Manifest

ADAPTERS: dict[str, DatasetAdapter] = {m.ADAPTER.name: m.ADAPTER for m in (
    ucf101, hmdb51, jhmdb, penn_action, kth, ucf11, ntu, generic, synth, pyskl)}


def get_adapter(name: str) -> DatasetAdapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset adapter {name!r}; known adapters: {sorted(ADAPTERS)} "
                           "(params.yaml datasets.<name>.adapter)") from None


__all__ = ["ADAPTERS", "DatasetAdapter", "DatasetError", "GroundTruthPoses", "Manifest", "get_adapter",
           "summarize"]
