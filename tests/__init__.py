"""Tests; a package so that the benchmarks run as `python -m tests.bench` from the repo root."""
