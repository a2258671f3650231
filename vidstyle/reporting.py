"""Messages and progress on stderr, quiet when asked, and progress callbacks for library callers.

The one progress path: training steps, rendered frames and evaluated frames all report through
a `Reporter`'s bars; they never break a running bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType

from tqdm import tqdm

from vidstyle.errors import printable, spell

# A library caller's progress callback: (what, done, total) — e.g. ("training", 40, 200) or
# ("clip.mp4", 12, 100); total is None where unknown.
Progress = Callable[[str, int, "int | None"], None]


class Reporter:
    """Where vidstyle says what it does. ``quiet`` hides info and bars, never warnings or
    notes; ``progress`` is called on every bar update, quiet or not."""

    def __init__(self, quiet: bool = False, progress: Progress | None = None) -> None:
        self.quiet = quiet
        self.progress = progress

    def info(self, message: str) -> None:
        if not self.quiet:
            tqdm.write(spell(message), file=sys.stderr)

    def notice(self, message: str) -> None:
        """A one-line note that shows even when quiet (a fallback the user should know of)."""
        tqdm.write(f"vidstyle: note: {spell(message)}", file=sys.stderr)

    def warn(self, message: str) -> None:
        tqdm.write(f"vidstyle: warning: {spell(message)}", file=sys.stderr)

    def bar(self, total: int | None, desc: str, unit: str) -> Bar:
        return Bar(self, total or None, desc, unit)


class Bar:
    """One progress bar (tqdm on stderr, with ETA) that also feeds the reporter's callback."""

    def __init__(self, reporter: Reporter, total: int | None, desc: str, unit: str) -> None:
        self._callback = reporter.progress
        self._desc, self._total, self.done = desc, total, 0
        self._tqdm = tqdm(total=total, desc=printable(desc), unit=unit, disable=reporter.quiet, file=sys.stderr,
                          dynamic_ncols=True, leave=False)

    def update(self, count: int = 1) -> None:
        self.done += count
        self._tqdm.update(count)
        if self._callback is not None:
            self._callback(self._desc, self.done, self._total)

    def set_postfix(self, **values: str) -> None:
        """Figures shown after the bar (e.g. the current loss); redrawn with the next update."""
        self._tqdm.set_postfix(values, refresh=False)

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._tqdm.close()
