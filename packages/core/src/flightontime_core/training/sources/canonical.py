"""Helpers shared by the source readers: airport resolution, canonical dtypes, progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TypeAlias, TypeVar

import numpy as np
import pandas as pd

from flightontime_core.airports import haversine_m, resolve_airport
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.training.sources.table import (
    AIRLINE,
    CANCELLED,
    CANONICAL_COLUMNS,
    DEP_DELAY_MIN,
    DESTINATION,
    DISTANCE_M,
    ORIGIN,
    SCHEDULED_DEPARTURE,
)

METRES_PER_MILE = 1609.344

T = TypeVar("T")

# progress(done, total): called with done == 0 before the first item, then after each item, so a
# caller can size its bar at once; the core shows nothing itself.
ProgressCallback: TypeAlias = Callable[[int, int], None]


def with_progress(items: Sequence[T], progress: ProgressCallback | None) -> Iterator[T]:
    """Yield items, reporting progress(done, total) before the first and after each one."""
    total = len(items)
    if progress is not None:
        progress(0, total)
    for done, item in enumerate(items, start=1):
        yield item
        if progress is not None:
            progress(done, total)


def resolve_codes(codes: pd.Series) -> pd.DataFrame:
    """ICAO code, lat and lon per airport code (NaN where unknown); one lookup per distinct code."""
    text = codes.astype("string").str.strip().str.upper()
    uniques = text.dropna().unique()
    # Resolve each distinct code once: a month of flights has a few hundred airports.
    table = {code: resolve_airport(code) for code in uniques}
    icao = {code: a.icao for code, a in table.items() if a is not None}
    lat = {code: a.lat for code, a in table.items() if a is not None}
    lon = {code: a.lon for code, a in table.items() if a is not None}
    return pd.DataFrame(
        {
            "icao": text.map(icao).astype("str"),
            "lat": text.map(lat).astype("float64"),
            "lon": text.map(lon).astype("float64"),
        },
        index=codes.index,
    )


def great_circle_m(origin: pd.DataFrame, destination: pd.DataFrame) -> pd.Series:
    """Haversine distance in metres between two resolve_codes() frames."""
    values = haversine_m(origin["lat"], origin["lon"], destination["lat"], destination["lon"])
    return pd.Series(values, index=origin.index, dtype="float64")


def drop_counted(
    df: pd.DataFrame, bad: pd.Series, reason: str, counts: Counter[str]
) -> pd.DataFrame:
    """Drop the rows flagged in `bad`, adding how many to counts[reason]."""
    n = int(bad.sum())
    if n:
        counts[reason] += n
        return df.loc[~bad]
    return df


def finalize(df: pd.DataFrame, with_weather: bool) -> pd.DataFrame:
    """Canonical column order and dtypes; code columns use pandas' default string dtype."""
    columns = list(CANONICAL_COLUMNS) + (list(WEATHER_FIELDS) if with_weather else [])
    out = df.loc[:, columns].reset_index(drop=True)
    for name in (AIRLINE, ORIGIN, DESTINATION):
        out[name] = out[name].astype("str")
    out[SCHEDULED_DEPARTURE] = out[SCHEDULED_DEPARTURE].astype("datetime64[ns]")
    out[DISTANCE_M] = out[DISTANCE_M].astype("float64")
    out[DEP_DELAY_MIN] = out[DEP_DELAY_MIN].astype("float64")
    out[CANCELLED] = out[CANCELLED].astype("bool")
    if with_weather:
        for name in WEATHER_FIELDS:
            out[name] = out[name].astype("float64")
    # A cancelled flight never departed: its delay is unknown whatever the source wrote.
    out.loc[out[CANCELLED], DEP_DELAY_MIN] = np.nan
    return out
