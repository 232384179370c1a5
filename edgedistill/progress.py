"""Progress display: rich bars on a terminal, silent otherwise (or under --quiet)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

LOG_WIDTH = 160  # columns of a table written to a file or pipe, where rich would assume 80 and wrap it


def table_console(file=None, quiet: bool = False, width: int = LOG_WIDTH) -> Console:
    """A console for tables: a terminal's own width, or `width` columns when the output is a file or a pipe."""
    console = Console(file=file, quiet=quiet)
    return console if console.is_terminal else Console(file=file, quiet=quiet, width=width)


def stderr_console(quiet: bool = False) -> Console:
    """A table console on its own duplicate of stderr, so it keeps drawing while native logs on fd 2 are redirected
    to a file (export.native_logs.stderr_to)."""
    return table_console(os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1), quiet)


class Progress:
    def __init__(self, console: Console | None = None, enabled: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled

    @contextlib.contextmanager
    def task(self, label: str, total: int | None = None, unit: str | None = None) -> Iterator[Callable[..., None]]:
        """A bar (total given) or a spinner; the yielded advance(description=None, steps=1, completed=None) moves
        it on. With a unit ("images"), the bar also shows the rate (images/s) and the time left."""
        if not self.enabled:
            yield lambda description=None, steps=1, completed=None: None
            return
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        if unit is not None:
            columns += [_Rate(unit), TimeRemainingColumn()]
        if total is None:
            columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
        with RichProgress(*columns, console=self.console, transient=True) as bar:
            task_id = bar.add_task(label, total=total)

            shown = [label]

            def advance(description: str | None = None, steps: int = 1, completed: int | None = None) -> None:
                text = description or label
                if completed is not None:
                    bar.update(task_id, completed=completed, description=text)
                else:
                    bar.update(task_id, advance=steps, description=text)
                if text != shown[0]:  # a new phase is drawn at once, not at the next timed refresh
                    shown[0] = text
                    bar.refresh()

            yield advance


class _Rate(TextColumn):
    """Units per second, e.g. "1,234 images/s" (blank until measured)."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        from rich.text import Text

        return Text("" if task.speed is None else f"{task.speed:,.0f} {self.unit}/s")


def quiet() -> Progress:
    return Progress(Console(file=sys.stderr), enabled=False)
