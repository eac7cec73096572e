"""The metrics gate CI runs after `dvc repro`: the new run's per-video test predictions are compared,
video by video, with the committed baseline (metrics/baseline.json), and the gate fails only when
the current models lose more videos than they gain by more than chance allows.

Why paired and statistical: a run on another CPU (other float kernels), thread count or seed trains
another model, and with 60-90 test videos per split each video is 1.1-1.7 points of top-1, so
metrics move by several points with unchanged code. Between two models of equal quality, the
videos that one gets right and the other wrong ("discordant") fall either way with probability
1/2, so the number lost is Binomial(discordant, 1/2) (McNemar's exact test). The gate fails when
that one-sided p-value is below ``alpha`` divided by the number of tests (Bonferroni over heads and
scopes: each run and all runs pooled), so unchanged code fails with probability below ``alpha``
while a drop that clearly exceeds the disagreement between reruns fails.

The baseline is written only by ``update_baseline`` (``python -m stages.gate --update-baseline``),
with how it was made: params hash, git commit, code digest, machine facts."""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.evaluate import PREDICTION_COLUMNS
from pipeline.io import read_json, write_json

HEADS = ("concat", "fused")
POOLED = "all runs"
BASELINE_FORMAT = 1
UPDATE_COMMAND = "python -m stages.gate --update-baseline"
NUMERICS_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS")
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


class GateInputError(ValueError):
    """A file the gate reads is missing or malformed (one line: the file, the problem, the fix)."""


Table = dict[str, tuple[str, str, str]]   # video_id -> (label, concat prediction, fused prediction)


def parse_prediction_lines(lines: list[str], where: str) -> Table:
    if not lines or tuple(lines[0].split(",")) != PREDICTION_COLUMNS:
        raise GateInputError(f"{where}: expected a header {','.join(PREDICTION_COLUMNS)}; re-run the evaluate "
                             f"stage (dvc repro) to rewrite it")
    table: Table = {}
    for n, line in enumerate(lines[1:], 2):
        fields = line.split(",")
        if len(fields) != len(PREDICTION_COLUMNS) or fields[0] in table:
            raise GateInputError(f"{where}: line {n} is malformed or repeats a video; re-run the evaluate stage")
        table[fields[0]] = tuple(fields[1:])
    return table


def read_prediction_csv(path: Path) -> Table:
    path = Path(path)
    if not path.exists():
        raise GateInputError(f"{path}: missing (the evaluate stage writes it); run `dvc repro`")
    return parse_prediction_lines(path.read_text().splitlines(), str(path))


def one_sided_p(lost: int, gained: int) -> float:
    """P(at least ``lost`` of the ``lost + gained`` discordant videos fall the losing way | no change)."""
    n = lost + gained
    return sum(math.comb(n, k) for k in range(lost, n + 1)) / 2 ** n if n else 1.0


def smallest_detectable_drop(discordant: int, videos: int, level: float) -> float:
    """Smallest net loss (fraction of ``videos``) that fails at ``level`` when ``discordant`` videos
    changed correctness; with too few discordant videos to fail, the loss made of lost videos only."""
    for lost in range((discordant + 1) // 2, discordant + 1):
        if one_sided_p(lost, discordant - lost) < level:
            return (2 * lost - discordant) / videos
    needed = math.floor(math.log2(1 / level)) + 1   # the least n with 0.5 ** n < level
    return needed / videos if videos else float("nan")


@dataclass(frozen=True)
class Row:
    scope: str          # a run, or the pooled scope
    head: str
    videos: int
    baseline: float     # top-1 of the baseline on these videos
    current: float
    lost: int           # right in the baseline, wrong now
    gained: int
    p_value: float
    detectable: float   # smallest drop that would fail here
    verdict: str

    @property
    def change(self) -> float:
        return self.current - self.baseline

    @property
    def discordant(self) -> int:
        return self.lost + self.gained


@dataclass(frozen=True)
class Comparison:
    rows: list[Row]
    problems: list[str]         # missing runs or videos: each fails the gate
    level: float                # per-test significance after Bonferroni
    alpha: float
    pooled_scope: str

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.verdict == "ok" for r in self.rows)

    def mean_change(self, head: str) -> float:
        per_run = [r.change for r in self.rows if r.head == head and r.scope != POOLED]
        return sum(per_run) / len(per_run) if per_run else float("nan")


def _row(scope: str, head: str, pairs: list[tuple[bool, bool]], level: float) -> Row:
    lost = sum(b and not c for b, c in pairs)
    gained = sum(c and not b for b, c in pairs)
    n = len(pairs)
    p = one_sided_p(lost, gained)
    return Row(scope, head, n, sum(b for b, _ in pairs) / n, sum(c for _, c in pairs) / n, lost, gained, p,
               smallest_detectable_drop(lost + gained, n, level), "ok" if p >= level else "REGRESSED")


def compare_predictions(baseline: dict[str, Table], current: dict[str, Table], *, alpha: float,
                        heads: tuple[str, ...] = HEADS) -> Comparison:
    """Paired comparison per run and over all runs pooled, per head. A run or video of the
    baseline missing now (or new now) is a problem: the test set changed."""
    problems = []
    runs = [r for r in sorted(baseline) if r in current]
    problems += [f"{r}: in the baseline but not evaluated now" for r in sorted(set(baseline) - set(current))]
    problems += [f"{r}: evaluated now but not in the baseline" for r in sorted(set(current) - set(baseline))]
    for r in runs:
        if set(baseline[r]) != set(current[r]):
            problems.append(f"{r}: the test videos differ from the baseline's ({len(set(baseline[r]) ^ set(current[r]))} "
                            f"not in both): the data changed")
        elif any(baseline[r][v][0] != current[r][v][0] for v in baseline[r]):
            problems.append(f"{r}: the true labels differ from the baseline's: the data changed")
    pooled_scope = POOLED if len(runs) > 1 else (runs[0] if runs else "none")
    scopes = runs + ([POOLED] if len(runs) > 1 else [])
    level = alpha / max(1, len(scopes) * len(heads))
    rows = []
    for head in heads:
        col = HEADS.index(head) + 1
        pooled = []
        for r in runs:
            shared = sorted(set(baseline[r]) & set(current[r]))
            pairs = [(baseline[r][v][col] == baseline[r][v][0], current[r][v][col] == current[r][v][0]) for v in shared]
            if pairs:
                rows.append(_row(r, head, pairs, level))
            pooled += pairs
        if len(runs) > 1 and pooled:
            rows.append(_row(POOLED, head, pooled, level))
    return Comparison(rows, problems, level, alpha, pooled_scope)


def format_report(result: Comparison, title: str = "", note: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'scope':<10} {'head':<7} {'videos':>6} {'baseline':>8} {'current':>8} {'change':>7} "
                 f"{'lost':>5} {'gained':>6} {'p(drop)':>9} {'min drop':>8}  verdict")
    for r in result.rows:
        lines.append(f"{r.scope:<10} {r.head:<7} {r.videos:6d} {r.baseline * 100:7.1f}% {r.current * 100:7.1f}% "
                     f"{r.change * 100:+7.1f} {r.lost:5d} {r.gained:6d} {r.p_value:9.2g} {r.detectable * 100:8.1f}  "
                     f"{r.verdict}")
    if result.rows:
        means = ", ".join(f"{h} {result.mean_change(h) * 100:+.1f}" for h in HEADS
                          if any(r.head == h for r in result.rows))
        lines.append(f"mean change over runs (points of top-1): {means}")
        pooled = [r for r in result.rows if r.scope == result.pooled_scope]
        lines.append(f"smallest drop the gate detects now ({result.pooled_scope}, with this comparison's "
                     f"disagreement): {max(r.detectable for r in pooled) * 100:.1f} points of top-1 "
                     f"(min drop column; per test p < {result.level:.2g} = alpha {result.alpha} / "
                     f"{len(result.rows)} tests)")
    lines += [f"PROBLEM: {p}" for p in result.problems]
    if note:
        lines.append(note)
    return "\n".join(lines)


FAIL_HELP = ("FAIL means: on the same test videos the current models lose more videos than they gain, by "
             "more than chance allows between two equally good models (what a rerun on another CPU or "
             "thread count produces) at the gate's alpha, or the test set changed. If the change is a bug, "
             "fix it. If it "
             f"is intended (new params, model or data), record a new baseline deliberately: `{UPDATE_COMMAND}`, "
             "then commit metrics/baseline.json with the change (never edit it by hand).")


# --- the committed baseline ---------------------------------------------------------------------

def read_baseline(path: Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise GateInputError(f"{path}: no baseline; record one from the current metrics with `{UPDATE_COMMAND}`")
    try:
        data = read_json(path)
        runs = {r: {**v, "predictions": parse_prediction_lines(v["predictions"], f"{path} run {r}")}
                for r, v in data["runs"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise GateInputError(f"{path}: not a gate baseline ({type(err).__name__}: {err}); rewrite it with "
                             f"`{UPDATE_COMMAND}`") from None
    if data.get("format") != BASELINE_FORMAT:
        raise GateInputError(f"{path}: baseline format {data.get('format')!r}, this version reads "
                             f"{BASELINE_FORMAT}; rewrite it with `{UPDATE_COMMAND}`")
    return {**data, "runs": runs}


def params_digest(raw_params: dict) -> str:
    """sha256 of every params.yaml section that changes the metrics (all but `gate`)."""
    relevant = {k: v for k, v in raw_params.items() if k != "gate"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def code_digest(root: Path = PROJECT_ROOT) -> str:
    """sha256 over the pipeline's and stages' Python sources and dvc.yaml (independent of git)."""
    digest = hashlib.sha256()
    files = sorted([*Path(root).glob("pipeline/**/*.py"), *Path(root).glob("stages/*.py"), Path(root) / "dvc.yaml"])
    for f in files:
        if f.exists():
            digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def machine_facts() -> dict:
    import numpy
    import torch
    cpu, flags = platform.processor() or "", set()
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
        cpu = model.group(1).strip() if model else cpu
        flag_line = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
        flags = set(flag_line.group(1).split()) if flag_line else set()
    except OSError:
        pass
    return {"cpu": cpu, "isa": [f for f in ISA_FLAGS if f in flags], "cores": os.cpu_count(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "env": {k: os.environ[k] for k in NUMERICS_ENV if k in os.environ}}


def update_baseline(runs: list[str], *, predictions: dict[str, Path], metrics: dict[str, Path],
                    raw_params: dict, train_threads: int, out: Path, models: dict[str, Path] | None = None) -> dict:
    """Write the baseline from the current predictions and metrics of ``runs``, with provenance."""
    entries = {}
    for run in runs:
        table = read_prediction_csv(predictions[run])
        if not Path(metrics[run]).exists():
            raise GateInputError(f"{metrics[run]}: missing (the evaluate stage writes it); run `dvc repro`")
        m = read_json(metrics[run])
        model = Path(models[run]) if models and run in models else None
        entries[run] = {"concat_top1": m["concat"]["top1"], "fused_top1": m["fused"]["top1"],
                        "num_videos": len(table),
                        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest()[:16]
                        if model and model.exists() else None,
                        "predictions": [",".join(PREDICTION_COLUMNS)] + [",".join((v, *row)) for v, row in table.items()]}
    status = _git("status", "--porcelain", "--untracked-files=no")
    provenance = {"made_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": UPDATE_COMMAND,
                  "git_commit": _git("rev-parse", "HEAD"), "git_dirty": bool(status) if status is not None else None,
                  "code_sha256": code_digest(), "params_sha256": params_digest(raw_params),
                  "train_threads": train_threads, "machine": machine_facts()}
    baseline = {"format": BASELINE_FORMAT, "provenance": provenance, "runs": entries}
    write_json(out, baseline)
    return baseline


def describe_baseline(baseline: dict, raw_params: dict) -> str:
    p = baseline.get("provenance", {})
    m = p.get("machine", {})
    now = params_digest(raw_params)
    same = "same params" if p.get("params_sha256") == now else f"PARAMS CHANGED since (now {now})"
    commit = (p.get("git_commit") or "?")[:10] + (" +uncommitted" if p.get("git_dirty") else "")
    return (f"baseline made {p.get('made_utc', '?')} at commit {commit} (code {p.get('code_sha256', '?')}, "
            f"params {p.get('params_sha256', '?')}: {same}) on {m.get('cpu', '?')} "
            f"[{' '.join(m.get('isa', []))}; torch {m.get('torch', '?')} {m.get('torch_cpu_capability', '?')}, "
            f"{p.get('train_threads', '?')} training thread(s)]")


def check(runs: list[str], *, predictions: dict[str, Path], baseline_path: Path, alpha: float,
          raw_params: dict) -> tuple[bool, str]:
    """The gate: (passed, report). Missing or malformed files fail with a one-line reason."""
    try:
        baseline = read_baseline(baseline_path)
    except GateInputError as err:
        return False, f"FAIL: {err}"
    current, missing = {}, []
    for run in runs:
        try:
            current[run] = read_prediction_csv(predictions[run])
        except GateInputError as err:
            missing.append(f"FAIL: {err}")
    if missing:
        return False, "\n".join(missing)
    result = compare_predictions({r: v["predictions"] for r, v in baseline["runs"].items()}, current, alpha=alpha)
    verdict = "PASS" if result.ok else "FAIL"
    title = (f"metrics gate: per-video top-1 now vs {baseline_path}, paired (McNemar exact, one-sided)\n"
             f"{describe_baseline(baseline, raw_params)}")
    note = f"{verdict}\n{FAIL_HELP}"
    return result.ok, format_report(result, title=title, note=note)
