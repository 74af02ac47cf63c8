"""`flightontime data ...`: download and inspect source data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def register(app: typer.Typer) -> None:
    """Add the `data` command group to the CLI."""
    data_app = typer.Typer(
        name="data", help="Download and inspect flight data sources.", no_args_is_help=True
    )
    data_app.command("anac")(anac)
    app.add_typer(data_app, name="data")


def parse_month(value: str) -> tuple[int, int]:
    """'2023-01' -> (2023, 1); typer.BadParameter with the expected format otherwise."""
    match = _MONTH.match(value.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise typer.BadParameter(f"{value!r} is not a month; use YYYY-MM, e.g. 2023-01")
    return int(match.group(1)), int(match.group(2))


def anac(
    start: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")],
    end: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM (inclusive).")],
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Cache directory [default: <data cache dir>/anac]."),
    ] = None,
    read: Annotated[
        bool, typer.Option("--read", help="Also parse the files and print row counts.")
    ] = False,
) -> None:
    """Download ANAC VRA monthly files (cached months are never downloaded again)."""
    from flightontime.config import get_settings
    from flightontime.data.anac import (
        AnacDownloadError,
        cached_month_path,
        download_anac,
        month_range,
    )

    first, last = parse_month(start), parse_month(end)
    try:
        months = month_range(first, last)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--to'") from exc
    cache_dir = cache if cache is not None else get_settings().data_cache_dir / "anac"
    cached = sum(cached_month_path(cache_dir, y, m).is_file() for y, m in months)
    try:
        paths = download_anac(first, last, cache_dir)
    except AnacDownloadError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for path in paths:
        typer.echo(str(path))
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    typer.echo(
        f"{len(paths)} month(s) in {cache_dir}: {len(paths) - cached} downloaded, "
        f"{cached} from cache, {size_mb:.1f} MB",
        err=True,
    )
    if read:
        from flightontime.data.anac import read_anac

        result = read_anac(paths)
        flights = result.flights
        typer.echo(
            f"rows read {result.rows_read}, kept {len(flights)} "
            f"({int(flights['cancelled'].sum())} cancelled)",
            err=True,
        )
        for reason, count in result.bad_rows.most_common():
            typer.echo(f"  dropped {count} row(s): {reason}", err=True)
