"""Serving adapters found through their entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from flightontime_core import adapters
from flightontime_core.adapters import (
    ENTRY_POINT_GROUP,
    Adapter,
    AdapterNotFoundError,
    ServeOptions,
    available,
    load_adapter,
)
from flightontime_core.errors import FlightOnTimeError


class _Fake:
    name = "fake"
    description = "a transport for tests"

    def serve(self, options: ServeOptions) -> int:
        return 0 if options.port == 1 else 3


FAKE = _Fake()


def _installed(monkeypatch: pytest.MonkeyPatch, *points: EntryPoint) -> None:
    monkeypatch.setattr(
        adapters, "entry_points", lambda group: [p for p in points if p.group == group]
    )


def test_an_installed_adapter_is_found_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, EntryPoint("fake", f"{__name__}:FAKE", ENTRY_POINT_GROUP))
    assert available() == {"fake": f"{__name__}:FAKE"}
    adapter = load_adapter("fake")
    assert adapter is FAKE
    assert isinstance(adapter, Adapter)
    assert adapter.serve(ServeOptions(port=1)) == 0


def test_a_missing_adapter_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, EntryPoint("fake", f"{__name__}:FAKE", ENTRY_POINT_GROUP))
    with pytest.raises(AdapterNotFoundError, match="pip install flightontime-server") as info:
        load_adapter("http")
    assert "installed adapters: fake" in str(info.value)
    assert isinstance(info.value, FlightOnTimeError)
    with pytest.raises(AdapterNotFoundError, match="no known package provides it"):
        load_adapter("grpc")
    _installed(monkeypatch)
    with pytest.raises(AdapterNotFoundError, match="installed adapters: none"):
        load_adapter("http")


def test_an_entry_point_that_is_not_an_adapter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, EntryPoint("json", "json:dumps", ENTRY_POINT_GROUP))
    with pytest.raises(AdapterNotFoundError, match="not a serving adapter"):
        load_adapter("json")


def test_the_http_adapter_of_this_workspace_is_registered() -> None:
    pytest.importorskip("flightontime_server")
    assert "http" in available()
    adapter = load_adapter("http")
    assert adapter.name == "http"
    assert adapter.description


def test_serve_options_defaults_leave_the_adapter_settings() -> None:
    options = ServeOptions()
    assert (options.model_dir, options.host, options.port, options.workers) == (None,) * 4
    assert not options.insecure_no_auth
    assert not options.generate_token
    assert not options.reload
