"""The committed default model is what the code trains: retrained from the embedded data with
the defaults, it is the same bundle (the same model version: graph, tables and behaviour)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightontime_core import load_model
from flightontime_core.training.pipeline import TrainConfig, train_bundle
from flightontime_core.training.sources.table import LoadResult

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1800)
def test_training_reproduces_the_committed_default_model(
    default_model_dir: Path, nycflights13_full: LoadResult, tmp_path: Path
) -> None:
    committed = load_model(default_model_dir)
    result = train_bundle(nycflights13_full, tmp_path / "default", TrainConfig())
    assert result.manifest.model_version == committed.version
    assert result.manifest.behaviour == committed.manifest.behaviour
    assert result.manifest.metrics == committed.manifest.metrics
    assert result.manifest.self_test == committed.manifest.self_test
    for name in ("model.onnx", "feature_tables.json", "evaluation.json"):
        assert (tmp_path / "default" / name).read_bytes() == (default_model_dir / name).read_bytes()
