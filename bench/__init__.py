"""Effekt's benchmark harness: the platform's hot paths beside the same machine's raw limits, in one run.

Run `python -m bench` (or `python -m bench --quick` for a correctness smoke run); see docs/benchmarks.md.
"""
