"""`python -m search`: the same command as the `search` console script."""

from search.cli.main import main

main()
