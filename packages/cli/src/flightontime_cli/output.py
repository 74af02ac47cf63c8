"""What the command line shows: rich consoles, tables and progress bars, and its exits.

Rich is imported inside the functions: `flightontime --help` and `healthcheck` (the container
probe) should not pay for it. Tables go to stdout, progress and diagnostics to stderr, so a
command's output can be piped while its progress stays visible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

from flightontime_cli.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

# What `flightontime-core[train]` brings that the commands import (module names).
TRAIN_MODULES: Final = ("pandas", "pyarrow", "sklearn", "skl2onnx", "onnx", "matplotlib", "httpx")
TRAIN_HINT: Final = "pip install 'flightontime-core[train]'"


def stdout() -> Console:
    """A console on the current stdout (looked up per call, so test runners can swap it).

    Soft wrap: a line longer than the console is left to the terminal, not broken at 80
    columns when the output is a pipe."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    """A console on the current stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str) -> None:
    """A plain line on stderr (no rich markup: messages may hold brackets)."""
    click.echo(message, err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and end the command with `code`."""
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


def settings() -> Settings:
    """The environment's settings; a bad value is a usage error (exit 2) naming the variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.UsageError(f"bad setting: {exc}") from None


def missing_modules(modules: Iterable[str]) -> list[str]:
    """The modules of `modules` that cannot be imported here (looked up, not imported)."""
    missing = []
    for name in modules:
        try:
            found = find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def require(command: str, modules: Sequence[str] = TRAIN_MODULES) -> None:
    """Exit 1 with the install hint when the training extra a command needs is missing."""
    missing = missing_modules(modules)
    if missing:
        fail(
            f"`flightontime {command}` needs the training extra, which is not installed "
            f"(missing: {', '.join(missing)}): {TRAIN_HINT}"
        )


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: floats to `digits` decimals, None and NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(
    title: str | None,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric_from: int = 1,
) -> Any:
    """A rich Table; columns from `numeric_from` on are right-aligned numbers."""
    from rich.table import Table

    out = Table(title=title, title_justify="left")
    for i, header in enumerate(headers):
        out.add_column(header, justify="right" if i >= numeric_from else "left", overflow="fold")
    for row in rows:
        out.add_row(*(cell if isinstance(cell, str) else fmt(cell) for cell in row))
    return out


class Bar:
    """One task of a rich progress display."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, description: str | None = None, steps: float = 1) -> None:
        """Move on by `steps`, optionally naming what runs now."""
        if description is None:
            self._progress.advance(self._task, steps)
        else:
            self._progress.update(self._task, advance=steps, description=description)

    def update(self, done: float, total: float | None = None) -> None:
        """Set the completed amount (and the total), as the core's progress(done, total) says."""
        self._progress.update(self._task, completed=done, total=total)

    def finish(self) -> None:
        """Show the task complete (a total that was only an estimate is met)."""
        task = self._progress.tasks[self._task]
        done = task.completed
        self._progress.update(self._task, total=done, completed=done)


@contextmanager
def progress_bar(description: str, total: float | None = None) -> Iterator[Bar]:
    """A progress bar on stderr for the duration of the block."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
    ) as progress:
        yield Bar(progress, progress.add_task(description, total=total))
