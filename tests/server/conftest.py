"""Fixtures: the real server on loopback with a real bundle.

`bundle_dir` is the committed default bundle (`default_model_dir`) when this code loads it; while
the default bundle is being retrained for a newer bundle format it can lag behind the core, and
then the small bundle trained for the session stands in (so these tests test the adapter, not
the retraining's timing). Neither is written to: tests that tamper copy it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import ROTATED, TOKEN, Server, start_server


@pytest.fixture(scope="session")
def bundle_dir(default_model_dir: Path, request: pytest.FixtureRequest) -> Path:
    """A bundle this code serves: the default one, else the session's small one."""
    from flightontime_core.errors import BundleError
    from flightontime_core.service import PredictionService

    try:
        PredictionService.load(default_model_dir)
    except BundleError:
        small: Path = request.getfixturevalue("small_bundle_dir")
        return small
    return default_model_dir


@pytest.fixture(scope="session")
def server(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ready server shared by the tests that do not change its configuration."""
    srv = start_server(
        tmp_path_factory.mktemp("server"),
        bundle_dir,
        env={"PREDICTION_API_TOKEN": f"{TOKEN},{ROTATED}", "FLIGHTONTIME_BATCH_MAX_FLIGHTS": "50"},
    )
    yield srv
    srv.stop()
