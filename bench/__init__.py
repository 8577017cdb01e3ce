"""Benchmarks for issue 7: each scenario measured beside a baseline taken in the same run (docs/benchmarks.md)."""
