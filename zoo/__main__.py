"""`python -m zoo` is the `zoo` command."""

from zoo.cli.main import main

main()
