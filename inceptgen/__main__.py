"""`python -m inceptgen`: the command line."""

from inceptgen.cli import main

main()
