"""The canonical flights table every source reader produces."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

# The weather columns carry the names of the core's `Weather` fields, so one vocabulary runs from
# training data to predictions.
from flightontime_core.flights import WEATHER_FIELDS as WEATHER_FIELDS

if TYPE_CHECKING:
    import pandas as pd

# Column names of the canonical flights table (a pandas DataFrame).
AIRLINE = "airline"  # carrier code as the source gives it (IATA for US data, ICAO for ANAC)
ORIGIN = "origin"  # ICAO code of the origin airport (resolved through airportsdata)
DESTINATION = "destination"  # ICAO code of the destination airport
SCHEDULED_DEPARTURE = "scheduled_departure"  # datetime64[ns], naive, local time at the origin
DISTANCE_M = "distance_m"  # float64, great-circle or source distance in metres
DEP_DELAY_MIN = "dep_delay_min"  # float64, departure delay in minutes (NaN when cancelled)
CANCELLED = "cancelled"  # bool

CANONICAL_COLUMNS: tuple[str, ...] = (
    AIRLINE,
    ORIGIN,
    DESTINATION,
    SCHEDULED_DEPARTURE,
    DISTANCE_M,
    DEP_DELAY_MIN,
    CANCELLED,
)


@dataclass
class LoadResult:
    """A source reader's output: canonical flights, optional weather columns, bad-row counts."""

    flights: pd.DataFrame  # CANONICAL_COLUMNS, plus WEATHER_FIELDS columns when the source has them
    source: str
    has_weather: bool = False
    bad_rows: Counter[str] = field(default_factory=Counter)  # reason -> dropped flight rows
    rows_read: int = 0  # flight rows read; rows_read == len(flights) + sum(bad_rows.values())
    # Weather rows dropped or values blanked (never flights): reason -> count.
    weather_issues: Counter[str] = field(default_factory=Counter)
