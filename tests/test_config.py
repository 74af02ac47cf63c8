"""Settings: the tree engine is an operator's choice, checked when read."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flightontime.config import Settings


def test_tree_engine_defaults_to_auto_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLIGHTONTIME_TREE_ENGINE", raising=False)
    assert Settings().tree_engine == "auto"
    monkeypatch.setenv("FLIGHTONTIME_TREE_ENGINE", "lightgbm")
    assert Settings().tree_engine == "lightgbm"


def test_unknown_tree_engine_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLIGHTONTIME_TREE_ENGINE", "gpu")
    with pytest.raises(ValidationError, match="tree_engine"):
        Settings()
