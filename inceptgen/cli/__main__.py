"""`python -m inceptgen.cli`."""

from inceptgen.cli import main

main()
