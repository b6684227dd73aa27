from mnistgen.training.cli import main

main()
