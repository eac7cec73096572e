"""Argument parsing shared by the stage entry points, and how they report bad input."""
from __future__ import annotations

import argparse
import sys

from pipeline.errors import ENVIRONMENT_ERRNOS, InputError, environment_message
from pipeline.params import Params, check_name, load_params


def parse(description: str, *args: tuple[str, dict]) -> tuple[argparse.Namespace, Params]:
    """The stage's arguments and params; from here on a bad input (InputError) ends the stage with
    one line 'error: <file>:<line>: <problem>. Fix: ...' and exit status 1. Tracebacks are for bugs."""
    sys.excepthook = _report
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="override params (YAML values), e.g. --set seed=1 train.epochs=30")
    for name, kwargs in args:
        parser.add_argument(name, **kwargs)
    ns = parser.parse_args()
    for option in ("dataset", "run"):
        if getattr(ns, option, None) is not None:
            check_name(getattr(ns, option), f"--{option}")
    return ns, load_params(ns.params, overrides=ns.set)


def _report(kind, err, tb) -> None:
    if isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS:
        err = InputError(environment_message(err))
    if isinstance(err, InputError):
        print("error: " + " ".join(str(err).split()), file=sys.stderr)
    else:
        sys.__excepthook__(kind, err, tb)
