"""Benchmarks (issue 7): scripts that print figures, never pytest tests.

Run from the repo root: ``python -m tests.bench [--quick] [--json OUT]``. Speed and memory
belong here and not in timed tests, so nothing in this package asserts a number.
"""
