"""Progress bars (rich) when stderr is a terminal; silent otherwise, so logs stay clean."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

T = TypeVar("T")


class Task(Protocol):
    """A running progress task."""

    def advance(self, n: float = 1) -> None:
        """Move the bar forward by n units."""


class _Silent:
    def advance(self, n: float = 1) -> None:
        pass


class _RichTask:
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self._progress = progress
        self._task_id = task_id

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task_id, n)


def enabled() -> bool:
    """True when progress bars would be shown (stderr is an interactive terminal)."""
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None)) and stream.isatty()


@contextmanager
def task(description: str, total: float | None = None) -> Iterator[Task]:
    """A progress bar for the block (indeterminate when total is None); no-op off a terminal."""
    if not enabled():
        yield _Silent()
        return
    # Imported here: rich is only needed when a human is watching.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as progress:
        yield _RichTask(progress, progress.add_task(description, total=total))


def progress_iter(
    iterable: Iterable[T], description: str, total: float | None = None
) -> Iterator[T]:
    """Yield the items of iterable, advancing a progress bar by one per item on a terminal."""
    if total is None and isinstance(iterable, Sized):
        total = len(iterable)
    with task(description, total) as bar:
        for item in iterable:
            yield item
            bar.advance(1)
