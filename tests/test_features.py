"""The one feature module: table path == one-row path, lookups, holidays, no leakage."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flightontime.data.schema import WEATHER_FIELDS, LoadResult
from flightontime.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FeatureTables,
    FlightInputs,
    build_features,
    build_row,
    datetime_minutes,
    days_to_holiday,
)
from flightontime.model.bundle import TABLES_FILE
from flightontime.model.train import TrainConfig, delay_label, train_bundle


@pytest.fixture(scope="module")
def tables(small_flights: LoadResult) -> FeatureTables:
    df = small_flights.flights
    train = (df["scheduled_departure"] < "2013-02-01").to_numpy()
    inputs = FlightInputs.from_frame(df)
    late = delay_label(df["dep_delay_min"].to_numpy(), 15)
    return FeatureTables.fit(
        inputs.take(train), late[train], label_threshold_min=15,
        window=(date(2013, 1, 1), date(2013, 1, 31)),
    )  # fmt: skip


def _single(row: pd.Series) -> FlightInputs:
    weather = {name: float(row[name]) for name in WEATHER_FIELDS if not pd.isna(row[name])}
    return FlightInputs.single(
        airline=str(row["airline"]),
        origin=str(row["origin"]),
        destination=str(row["destination"]),
        departure_local=row["scheduled_departure"].to_pydatetime(),
        distance_m=float(row["distance_m"]),
        weather=weather,
    )


def test_table_path_equals_one_row_path(small_flights: LoadResult, tables: FeatureTables) -> None:
    df = small_flights.flights.sample(400, random_state=1).reset_index(drop=True)
    # Cover what requests carry beyond the training data: an unseen airline, airport and route,
    # an ICAO airline code, a foreign origin, and no weather at all.
    extra = df.iloc[:4].copy()
    extra.loc[0, "airline"] = "ZZ"
    extra.loc[1, "destination"] = "SBGR"
    extra.loc[2, "airline"] = "UAL"
    extra.loc[3, ["origin", "destination"]] = ["SBKP", "SBRP"]
    extra.loc[3, list(WEATHER_FIELDS)] = np.nan
    df = pd.concat([df, extra], ignore_index=True)

    table = build_features(FlightInputs.from_frame(df), tables)
    rows = np.vstack([build_features(_single(row), tables) for _, row in df.iterrows()])
    assert table.shape == (len(df), len(FEATURE_NAMES))
    assert table.dtype == np.float64
    assert np.array_equal(table, rows, equal_nan=True)


def test_unseen_values_are_missing_categories_with_global_rates(tables: FeatureTables) -> None:
    x = build_features(
        FlightInputs.single("ZZ", "SBKP", "SBRP", datetime(2025, 11, 10, 14, 30), 218000.0),
        tables,
    )[0]
    for name in ("airline", "origin", "destination", "origin_hour_density"):
        assert np.isnan(x[FEATURE_INDEX[name]]), name
    for name in ("airline_delay_rate", "route_delay_rate", "origin_hour_delay_rate"):
        assert x[FEATURE_INDEX[name]] == pytest.approx(tables.global_rate)
    assert np.isnan(x[FEATURE_INDEX["temperatura_c"]])
    assert x[FEATURE_INDEX["hour"]] == 14
    assert x[FEATURE_INDEX["minute"]] == 30
    assert x[FEATURE_INDEX["weekday"]] == 0  # a Monday
    # Brazil's Republic Day (15 Nov 2025) is five days later.
    assert x[FEATURE_INDEX["days_to_holiday"]] == -5


def test_icao_airline_code_maps_to_the_vocabulary(tables: FeatureTables) -> None:
    when = datetime(2013, 1, 20, 8, 0)
    iata = build_features(FlightInputs.single("UA", "KEWR", "KORD", when, 1e6), tables)
    icao = build_features(FlightInputs.single("ual", "KEWR", "KORD", when, 1e6), tables)
    assert np.array_equal(iata, icao, equal_nan=True)
    assert tables.airlines[int(iata[0, FEATURE_INDEX["airline"]])] == "UA"


def test_days_to_holiday_is_signed_and_per_country() -> None:
    days = np.array(["2013-07-04", "2013-07-01", "2013-07-06", "2013-07-06"], dtype="datetime64[D]")
    out = days_to_holiday(days.astype(np.int64), ["US", "US", "US", None])
    assert out[:3].tolist() == [0.0, -3.0, 2.0]
    assert np.isnan(out[3])


def test_tables_json_round_trip(tables: FeatureTables) -> None:
    again = FeatureTables.from_json(tables.to_json())
    assert again == tables
    assert again.to_json() == tables.to_json()
    with pytest.raises(ValueError, match="format"):
        FeatureTables.from_dict({**tables.to_dict(), "format": 99})


def test_density_is_per_week_of_the_training_window() -> None:
    # Two Mondays in the window, three departures at 08:xx on those Mondays: 1.5 per week.
    when = np.array(
        ["2013-01-07T08:00", "2013-01-07T08:30", "2013-01-14T08:10", "2013-01-08T09:00"],
        dtype="datetime64[m]",
    )
    n = when.size
    inputs = FlightInputs(
        airline=np.array(["AA"] * n, dtype=object),
        origin=np.array(["KJFK"] * n, dtype=object),
        destination=np.array(["KLAX"] * n, dtype=object),
        departure_local=when,
        distance_m=np.full(n, 4e6),
        weather=np.full((n, len(WEATHER_FIELDS)), np.nan),
    )
    tables = FeatureTables.fit(
        inputs, np.array([1.0, 0.0, 1.0, 0.0]), label_threshold_min=15,
        window=(date(2013, 1, 7), date(2013, 1, 20)),
    )  # fmt: skip
    x = build_features(inputs, tables)
    assert x[0, FEATURE_INDEX["origin_hour_density"]] == pytest.approx(1.5)
    assert x[3, FEATURE_INDEX["origin_hour_density"]] == pytest.approx(0.5)


def test_no_statistic_uses_validation_or_test_rows(
    small_flights: LoadResult, small_bundle_dir: Path, tmp_path: Path
) -> None:
    """Scramble every label and add flights after the training window: tables do not move."""
    df = small_flights.flights.copy()
    later = df["scheduled_departure"] >= "2013-02-11"  # validation and test of the small split
    rng = np.random.default_rng(7)
    delays = df.loc[later, "dep_delay_min"].to_numpy()
    df.loc[later, "dep_delay_min"] = rng.permutation(delays) + 45.0
    df.loc[later, "cancelled"] = rng.random(int(later.sum())) < 0.5
    df.loc[later & df["cancelled"], "dep_delay_min"] = np.nan
    # New airline, airport and route, and extra departures, only after the training window.
    df.loc[later, "airline"] = "ZZ"
    df.loc[later, "destination"] = "KSFO"
    extra = df.loc[later].iloc[:500].copy()
    extra["origin"] = "KBOS"
    df = pd.concat([df, extra], ignore_index=True)

    scrambled = dataclasses.replace(small_flights, flights=df)
    out = tmp_path / "scrambled"
    train_bundle(scrambled, out, TrainConfig(max_rounds=5, baseline=False))
    assert (out / TABLES_FILE).read_bytes() == (small_bundle_dir / TABLES_FILE).read_bytes()


def test_one_row_path_equals_table_path_on_edges(
    edge_flights: pd.DataFrame, tables: FeatureTables
) -> None:
    df = edge_flights
    table = build_features(FlightInputs.from_frame(df), tables)
    for i, row in df.iterrows():
        one = build_features(_single(row), tables)
        assert np.array_equal(one[0], table[i], equal_nan=True), i
        weather = [float(row[name]) for name in WEATHER_FIELDS]
        given = None if all(np.isnan(weather)) else weather
        plain = build_row(
            tables,
            str(row["airline"]).upper(),
            str(row["origin"]),
            str(row["destination"]),
            datetime_minutes(row["scheduled_departure"].to_pydatetime()),
            float(row["distance_m"]),
            given,
        )
        assert np.array_equal(np.asarray(plain), table[i], equal_nan=True), i
    assert table[0, FEATURE_INDEX["days_to_holiday"]] == 0.0
    assert table[1, FEATURE_INDEX["days_to_holiday"]] == -1.0
    assert table[2, FEATURE_INDEX["days_to_holiday"]] == 1.0
    assert np.isnan(table[4, FEATURE_INDEX["days_to_holiday"]])


def test_datetime_minutes_drops_seconds_like_numpy() -> None:
    for when in (datetime(2013, 3, 10, 2, 30, 59, 999999), datetime(1969, 12, 31, 23, 59, 30)):
        expected = np.array([when], dtype="datetime64[s]").astype("datetime64[m]").astype(np.int64)
        assert datetime_minutes(when) == int(expected[0])
