"""python -m mnistgen.export: the same as mnistgen-export."""
from mnistgen.export.cli import main

main()
