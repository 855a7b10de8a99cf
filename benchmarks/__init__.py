"""Benchmarks: `python -m benchmarks [--quick]` runs them all and rewrites the tables in BENCHMARKS.md."""
