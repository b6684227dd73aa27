"""Keep pytest out of the benchmarks: they measure, they do not assert (tests/test_bench.py smoke-runs them)."""
collect_ignore_glob = ["*"]
