"""Paths and settings shared by the Weizmann benchmarks (bench/weizmann/)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets" / "weizmann"
PICKLE = "Weizmann_xsub_litehrnet.pkl"
WORK = ROOT / "data" / "bench_weizmann"   # git-ignored outputs of bench/weizmann/pose_agreement.py
