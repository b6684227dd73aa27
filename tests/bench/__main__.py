"""`python -m tests.bench`: run the benchmark suite."""
from tests.bench.cli import main

main()
