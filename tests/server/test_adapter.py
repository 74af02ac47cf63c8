"""The adapter as the core finds it (`flightontime serve`), and the serving options."""

from __future__ import annotations

from flightontime_core.adapters import Adapter, ServeOptions, load_adapter
from flightontime_server.adapter import HTTP_ADAPTER, _settings


def test_the_core_finds_the_http_adapter() -> None:
    adapter = load_adapter("http")
    assert adapter is HTTP_ADAPTER
    assert isinstance(adapter, Adapter)
    assert adapter.name == "http"
    assert adapter.description


def test_options_win_over_the_environment(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("FLIGHTONTIME_PORT", "9001")
    monkeypatch.setenv("FLIGHTONTIME_MODEL_DIR", "/from/env")
    s = _settings(ServeOptions(port=9002, workers=3, insecure_no_auth=True))
    assert (s.port, s.workers, s.insecure_no_auth, s.model_dir) == (9002, 3, True, "/from/env")
