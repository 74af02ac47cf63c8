"""Evaluation helpers: table rows as the library's flights, refusals, rates by hour."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pandas")

from flightontime_core.flights import WEATHER_FIELDS, Flight, Weather
from flightontime_core.model import Model
from flightontime_core.training.evaluate import baseline_frame, flights_of, predicted, rate_by_hour

FULL = [5.0, -2.0, 60.0, 180.0, 10.0, 20.0, 0.5, 1010.0, 16.0]


def _table() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "airline": ["UA", "AA", "B6"],
            "origin": ["KEWR", "KJFK", "KLGA"],
            "destination": ["KORD", "KLAX", "KBOS"],
            "scheduled_departure": pd.to_datetime(
                ["2013-12-24 18:45:59", "2013-11-03 01:30:00", "2013-03-10 02:30:00"]
            ),
            "distance_m": [1.15e6, 3.98e6, 3.0e5],
            "dep_delay_min": [20.0, -3.0, np.nan],
            "cancelled": [False, False, True],
        }
    )
    for name in WEATHER_FIELDS:
        df[name] = np.nan
    df.loc[0, "temperature_c"] = -1.5
    df.loc[0, "visibility_km"] = 0.4
    df.loc[1, list(WEATHER_FIELDS)] = FULL
    return df


def test_flights_of_gives_local_departures_and_the_weather_given() -> None:
    with_weather = flights_of(_table(), True)
    assert with_weather[0] == Flight(
        airline="UA",
        origin="KEWR",
        destination="KORD",
        departure="2013-12-24T18:45:59",
        distance_m=1.15e6,
        weather=Weather(temperature_c=-1.5, visibility_km=0.4),
    )
    assert with_weather[1].weather == Weather(**dict(zip(WEATHER_FIELDS, FULL, strict=True)))
    assert with_weather[2].weather is None  # no value at all: no weather
    without = flights_of(_table(), False)
    assert [f.weather for f in without] == [None, None, None]
    assert [f.departure for f in without] == [f.departure for f in with_weather]
    no_columns = _table().drop(columns=list(WEATHER_FIELDS))
    assert all(f.weather is None for f in flights_of(no_columns, True))


def test_predicted_refuses_a_table_with_an_unusable_flight(default_model: Model) -> None:
    good = flights_of(_table(), True)
    answers = predicted(default_model, good)
    assert len(answers) == 3
    bad = Flight(airline="UA", origin="KEWR", destination="KEWR", departure="2013-12-24T18:45")
    with pytest.raises(ValueError, match="1 evaluation flights could not be predicted"):
        predicted(default_model, [*good, bad])


def test_rate_by_hour() -> None:
    minutes = np.array([9 * 60, 9 * 60 + 30, 10 * 60, 24 * 60 + 9 * 60 + 5, 23 * 60])
    y = np.array([1.0, 0.0, 1.0, 1.0, np.nan])
    rates = rate_by_hour(minutes, y)
    assert len(rates) == 24
    assert rates[9] == pytest.approx(2 / 3, abs=1e-6)
    assert rates[10] == 1.0
    assert rates[23] is None  # only a cancelled flight
    assert rates[0] is None


def test_baseline_frame_marks_unseen_categories_missing() -> None:
    df = _table()
    frame = baseline_frame(df, {"airline": ["UA", "AA"], "origin": ["KEWR"], "destination": []})
    assert frame["airline"].isna().tolist() == [False, False, True]
    assert frame["origin"].isna().tolist() == [False, True, True]
    assert frame["hour"].tolist() == [18, 1, 2]
    assert frame["weekday"].tolist() == [1, 6, 6]
    assert math.isclose(frame["distance"].iloc[0], 1.15e6)
