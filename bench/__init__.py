"""The factcheck benchmark: see docs/benchmarks.md and `python -m bench --help`."""
