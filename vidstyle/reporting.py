"""Messages and progress bars on stderr, quiet when asked; they never break a running bar."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Reporter:
    """Where the pipeline says what it does. ``quiet`` hides info and bars, never warnings."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            tqdm.write(message, file=sys.stderr)

    def notice(self, message: str) -> None:
        """A one-line note that shows even when quiet (a fallback the user should know of)."""
        tqdm.write(f"vidstyle: note: {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        tqdm.write(f"vidstyle: warning: {message}", file=sys.stderr)

    def bar(self, total: int | None, desc: str, unit: str) -> tqdm:
        return tqdm(total=total or None, desc=desc, unit=unit, disable=self.quiet, file=sys.stderr,
                    dynamic_ncols=True, leave=False)
