"""The metrics regression gate CI runs after `dvc repro`: every accuracy metric of the new run is
compared with the committed baseline (by default the metrics files at git HEAD, as
`dvc metrics diff` does) and the check fails, with a readable table, when one drops by more than
the tolerance from params.yaml. `dvc metrics diff` itself has no threshold."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from pipeline.evaluate import _flatten

GATED_SUFFIXES = ("top1", "top5", "mean_class_accuracy")


def baseline_from_git(path: Path, rev: str = "HEAD") -> dict | None:
    rel = Path(os.path.relpath(path)).as_posix()
    proc = subprocess.run(["git", "show", f"{rev}:./{rel}"], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def compare(baseline: dict, current: dict, tolerance: float) -> tuple[list[tuple], bool]:
    """Rows (metric, baseline, current, change, verdict) and whether every metric passes.
    A metric present in the baseline but missing now fails."""
    base, cur = _flatten(baseline), _flatten(current)
    rows, ok = [], True
    for key in sorted(base):
        if not key.endswith(GATED_SUFFIXES):
            continue
        if key not in cur:
            rows.append((key, base[key], None, None, "MISSING"))
            ok = False
            continue
        change = cur[key] - base[key]
        verdict = "ok" if change >= -tolerance else "REGRESSED"
        ok &= verdict == "ok"
        rows.append((key, base[key], cur[key], change, verdict))
    return rows, ok


def format_table(title: str, rows: list[tuple]) -> str:
    lines = [title, f"{'metric':<40} {'baseline':>9} {'current':>9} {'change':>8}  verdict"]
    for key, b, c, d, verdict in rows:
        cs = f"{c:9.4f}" if c is not None else f"{'-':>9}"
        ds = f"{d:+8.4f}" if d is not None else f"{'-':>8}"
        lines.append(f"{key:<40} {b:9.4f} {cs} {ds}  {verdict}")
    return "\n".join(lines)


def check_metrics(files: list[Path], tolerance: float, rev: str = "HEAD",
                  baseline_dir: Path | None = None) -> tuple[bool, str]:
    """Gate every metrics file; the baseline comes from ``baseline_dir`` (same relative paths) or
    from git at ``rev``. A file with no baseline is reported and passes (a new dataset)."""
    report, all_ok = [], True
    for path in files:
        path = Path(path)
        if not path.exists():
            report.append(f"{path}: MISSING (the pipeline did not produce it)")
            all_ok = False
            continue
        current = json.loads(path.read_text())
        baseline = (json.loads((baseline_dir / path).read_text()) if baseline_dir and (baseline_dir / path).exists()
                    else None if baseline_dir else baseline_from_git(path, rev))
        if baseline is None:
            report.append(f"{path}: no baseline, nothing to compare (new metrics)")
            continue
        rows, ok = compare(baseline, current, tolerance)
        all_ok &= ok
        report.append(format_table(f"{path} (tolerance {tolerance}): {'PASS' if ok else 'FAIL'}", rows))
    return all_ok, "\n\n".join(report)
