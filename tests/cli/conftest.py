"""Fixtures of the command-line tests: a bundle to score with, a runner, a clean environment.

The ANAC fixtures (`anac_dir`, `portal_server`, `vra_real_month`) are the source readers' own,
imported from their conftest so both suites serve the same files the same way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from core.training.sources.conftest import anac_dir, bts_dir, portal_server, vra_real_month
from flightontime_cli.main import cli
from flightontime_cli.settings import FIELDS, env_name

__all__ = ["anac_dir", "bts_dir", "portal_server", "vra_real_month"]


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FLIGHTONTIME_* variable of the machine reaches a test (each test sets its own)."""
    for field in FIELDS:
        monkeypatch.delenv(env_name(field), raising=False)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A private copy of the committed default bundle (it may be retrained while tests run);
    the small trained bundle when the default one is missing or does not load."""
    from flightontime_core import BundleError, PredictionService

    copy = tmp_path_factory.mktemp("default_bundle") / "model"
    try:
        default: Path = request.getfixturevalue("default_model_dir")
        shutil.copytree(default, copy)
        PredictionService.load(copy)
    except (AssertionError, OSError, BundleError):
        small: Path = request.getfixturevalue("small_bundle_dir")
        return small
    return copy


@pytest.fixture
def bundle_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the bundle this test may change."""
    target = tmp_path / "bundle"
    shutil.copytree(model_dir, target)
    return target


class Invoke:
    """Runs the `flightontime` group in process, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path) -> Result:
        return self.runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def run() -> Invoke:
    """`run("score", a, b)` -> click's Result (exit_code, stdout, stderr, output)."""
    return Invoke()
