"""Progress display: rich bars on a terminal, silent otherwise (or under --quiet)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, console: Console | None = None, enabled: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled

    @contextlib.contextmanager
    def task(self, label: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """A bar (total given) or a spinner; the yielded advance(description=None, steps=1) moves it on."""
        if not self.enabled:
            yield lambda description=None, steps=1: None
            return
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        if total is None:
            columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
        with RichProgress(*columns, console=self.console, transient=True) as bar:
            task_id = bar.add_task(label, total=total)

            def advance(description: str | None = None, steps: int = 1) -> None:
                bar.update(task_id, advance=steps, description=description or label)

            yield advance


def quiet() -> Progress:
    return Progress(Console(file=sys.stderr), enabled=False)
