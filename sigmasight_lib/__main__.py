"""``python -m sigmasight_lib`` runs the command-line interface."""

from sigmasight_lib.cli import main

if __name__ == "__main__":
    main()
