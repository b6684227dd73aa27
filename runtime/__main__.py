"""`python -m mnistgen` runs the CLI."""
from mnistgen.cli import main

main()
