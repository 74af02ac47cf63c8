"""BTS On-Time Reporting (US DOT) reader: CSV or the zipped monthly download (one CSV inside).

Accepts both column styles BTS ships: the TranStats table download (`FL_DATE`, `OP_CARRIER`,
`OP_UNIQUE_CARRIER`, `CRS_DEP_TIME`, ...) and the monthly "prezipped" files (`FlightDate`,
`Reporting_Airline`, `CRSDepTime`, ...). Times are local at the origin already.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pandas as pd

from flightontime_core.training.sources.canonical import (
    METRES_PER_MILE,
    ProgressCallback,
    drop_counted,
    finalize,
    great_circle_m,
    resolve_codes,
    with_progress,
)
from flightontime_core.training.sources.table import (
    AIRLINE,
    CANCELLED,
    CANONICAL_COLUMNS,
    DEP_DELAY_MIN,
    DESTINATION,
    DISTANCE_M,
    ORIGIN,
    SCHEDULED_DEPARTURE,
    LoadResult,
)

SOURCE = "bts"

# Canonical field -> accepted column names (lower case, only letters and digits), preferred first.
# The IATA-style carrier columns come before the "unique" ones, which add suffixes for reused codes.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("fldate", "flightdate"),
    "carrier": (
        "opcarrier",
        "iatacodereportingairline",
        "reportingairline",
        "opuniquecarrier",
        "uniquecarrier",
        "carrier",
    ),
    "origin": ("origin",),
    "dest": ("dest",),
    "crs_dep_time": ("crsdeptime",),
    "dep_delay": ("depdelay",),
    "cancelled": ("cancelled",),
    "distance": ("distance",),
}
_OPTIONAL = frozenset({"cancelled", "distance"})

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y")


class BtsFormatError(ValueError):
    """A file without the needed BTS columns; the message names the file and the columns."""


def _normalise(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


@contextmanager
def _open_csv(path: Path) -> Iterator[IO[bytes]]:
    """The CSV bytes of path: the file itself, or the one .csv member of a .zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            # The BTS download ships a readme.html next to the CSV; only one CSV is allowed.
            if len(members) != 1:
                raise BtsFormatError(f"{path}: expected one .csv in the zip, found {members}")
            with archive.open(members[0]) as member:
                yield member
    else:
        with path.open("rb") as handle:
            yield handle


def _column_map(path: Path) -> dict[str, str]:
    with _open_csv(path) as handle:
        header = pd.read_csv(handle, nrows=0, encoding="latin-1").columns
    by_norm: dict[str, str] = {}
    for name in header:
        by_norm.setdefault(_normalise(str(name)), str(name))
    found: dict[str, str] = {}
    missing: list[str] = []
    for field, aliases in _COLUMNS.items():
        match = next((by_norm[a] for a in aliases if a in by_norm), None)
        if match is not None:
            found[field] = match
        elif field not in _OPTIONAL:
            missing.append(field)
    if missing:
        raise BtsFormatError(f"{path}: no column for {', '.join(missing)}")
    return found


def parse_bts_date(values: pd.Series) -> pd.Series:
    """FL_DATE as `YYYY-MM-DD`, `M/D/YYYY 12:00:00 AM` or `M/D/YYYY`; NaT when unparseable."""
    text = values.str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in _DATE_FORMATS:
        todo = out.isna() & (text != "")
        if not todo.any():
            break
        out.loc[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    return out


def parse_hhmm(values: pd.Series) -> pd.Series:
    """Minutes after midnight from hhmm (`600`, `0600`, `600.0`); 2400 is 1440; NaN when invalid."""
    number = pd.to_numeric(values.str.strip(), errors="coerce")
    whole = number.where(number == number.round())
    hours, minutes = whole // 100, whole % 100
    valid = (hours >= 0) & (minutes < 60) & ((hours < 24) | ((hours == 24) & (minutes == 0)))
    return (hours * 60 + minutes).where(valid)


def _read_one(path: Path, counts: Counter[str]) -> tuple[pd.DataFrame, int]:
    columns = _column_map(path)
    wanted = set(columns.values())
    with _open_csv(path) as handle:
        raw = pd.read_csv(
            handle,
            usecols=lambda c: c in wanted,
            dtype=str,
            keep_default_na=False,
            encoding="latin-1",  # a superset of ASCII that never fails; only codes are used
        )
    rows_read = len(raw)
    df = pd.DataFrame({f: raw[name].str.strip() for f, name in columns.items()})

    required = ["date", "carrier", "origin", "dest", "crs_dep_time"]
    df = drop_counted(df, (df[required] == "").any(axis=1), "missing_field", counts)

    day = parse_bts_date(df["date"])
    df = drop_counted(df, day.isna(), "bad_date", counts)
    minutes = parse_hhmm(df["crs_dep_time"])
    df = drop_counted(df, minutes.isna(), "bad_time", counts)
    # 2400 means midnight at the end of the day: the next day's 00:00.
    scheduled = day.loc[df.index] + pd.to_timedelta(minutes.loc[df.index], unit="min")

    origin = resolve_codes(df["origin"])
    dest = resolve_codes(df["dest"])
    df = drop_counted(df, origin["icao"].isna() | dest["icao"].isna(), "unknown_airport", counts)
    keep = df.index
    origin, dest, scheduled = origin.loc[keep], dest.loc[keep], scheduled.loc[keep]

    delay = pd.to_numeric(df["dep_delay"], errors="coerce")
    if "cancelled" in df:
        flag = pd.to_numeric(df["cancelled"], errors="coerce")
        df = drop_counted(df, flag.isna(), "missing_field", counts)
        cancelled = flag.loc[df.index] != 0
    else:
        cancelled = pd.Series(False, index=df.index)
    keep = df.index
    delay, origin, dest, scheduled = (
        delay.loc[keep],
        origin.loc[keep],
        dest.loc[keep],
        scheduled.loc[keep],
    )

    distance = great_circle_m(origin, dest)
    if "distance" in df:
        miles = pd.to_numeric(df["distance"], errors="coerce")
        # Missing or zero source distances fall back to the great circle.
        distance = (miles.where(miles > 0) * METRES_PER_MILE).fillna(distance)

    out = pd.DataFrame(
        {
            AIRLINE: df["carrier"].str.upper(),
            ORIGIN: origin["icao"],
            DESTINATION: dest["icao"],
            SCHEDULED_DEPARTURE: scheduled,
            DISTANCE_M: distance,
            DEP_DELAY_MIN: delay.where(~cancelled),
            CANCELLED: cancelled,
        },
        index=keep,
    )
    out = drop_counted(out, ~cancelled & delay.isna(), "missing_delay", counts)
    return out, rows_read


def read_bts(paths: Sequence[Path], *, progress: ProgressCallback | None = None) -> LoadResult:
    """Canonical table from BTS On-Time Reporting CSV or zip files (cancelled rows kept).

    `progress(done, total)`, when given, is called with 0 files read, then after each file.
    """
    counts: Counter[str] = Counter()
    frames: list[pd.DataFrame] = []
    rows_read = 0
    for path in with_progress(list(paths), progress):
        frame, n = _read_one(Path(path), counts)
        frames.append(frame)
        rows_read += n
    if frames:
        flights = pd.concat(frames, ignore_index=True)
    else:
        flights = pd.DataFrame({name: pd.Series(dtype="float64") for name in CANONICAL_COLUMNS})
    return LoadResult(
        flights=finalize(flights, with_weather=False),
        source=SOURCE,
        has_weather=False,
        bad_rows=counts,
        rows_read=rows_read,
    )
