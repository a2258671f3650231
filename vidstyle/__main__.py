"""`python -m vidstyle` is the same program as the `vidstyle` command."""

from vidstyle.cli import run

if __name__ == "__main__":
    run()
