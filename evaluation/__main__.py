"""python -m mnistgen.evaluation: the same as mnistgen-eval."""
from mnistgen.evaluation.cli import main

main()
