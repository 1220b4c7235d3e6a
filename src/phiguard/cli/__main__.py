"""`python -m phiguard.cli`: the same as the `phiguard` console script."""

from phiguard.cli import main

main()
