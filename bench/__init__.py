"""Tandem's benchmarks: `python -m bench` runs them all and appends the results to bench/RESULTS.md."""
