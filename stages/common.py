"""Argument parsing shared by the stage entry points."""
from __future__ import annotations

import argparse

from pipeline.params import Params, load_params


def parse(description: str, *args: tuple[str, dict]) -> tuple[argparse.Namespace, Params]:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="override params (YAML values), e.g. --set seed=1 train.epochs=30")
    for name, kwargs in args:
        parser.add_argument(name, **kwargs)
    ns = parser.parse_args()
    return ns, load_params(ns.params, overrides=ns.set)
