"""Fixtures: the real server on loopback with the small real bundle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import ROTATED, TOKEN, Server, start_server


@pytest.fixture(scope="session")
def server(small_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ready server shared by the tests that do not change its configuration."""
    srv = start_server(
        tmp_path_factory.mktemp("server"),
        small_bundle_dir,
        env={"PREDICTION_API_TOKEN": f"{TOKEN},{ROTATED}", "FLIGHTONTIME_BATCH_MAX_FLIGHTS": "50"},
    )
    yield srv
    srv.stop()
