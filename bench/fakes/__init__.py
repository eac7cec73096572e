"""Test doubles that the benchmarks and the tests both use (``mmpose_stubs``: stand-ins for
mmpose's compiled dependencies, for timing and testing with random weights). They live here, not
in tests/, so that bench imports nothing from tests/; no pipeline stage imports them."""
