"""`flightontime serve` through the adapter entry point, and `flightontime healthcheck`
against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import flightontime_core.adapters as adapters
from flightontime_core.adapters import ENTRY_POINT_GROUP, ServeOptions


class FakeAdapter:
    """Stands for the HTTP server package: records what it is asked and exits with 3."""

    name = "http"
    description = "a fake HTTP adapter"

    def __init__(self) -> None:
        self.calls: list[ServeOptions] = []

    def serve(self, options: ServeOptions) -> int:
        self.calls.append(options)
        return 3


class FakeEntryPoint:
    def __init__(self, name: str, target: object) -> None:
        self.name = name
        self.value = f"fake:{name}"
        self.group = ENTRY_POINT_GROUP
        self._target = target

    def load(self) -> object:
        return self._target


def installed(monkeypatch: pytest.MonkeyPatch, *points: FakeEntryPoint) -> None:
    """Make the adapter entry points exactly `points` (an environment without the server)."""

    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        return [p for p in points if p.group == group]

    monkeypatch.setattr(adapters, "entry_points", entry_points)


def test_serve_calls_the_installed_adapter(run, monkeypatch, tmp_path: Path) -> None:
    fake = FakeAdapter()
    installed(monkeypatch, FakeEntryPoint("http", fake))
    result = run(
        "serve", "--model", tmp_path, "--host", "127.0.0.1", "--port", "8123", "--workers", "2",
        "--insecure-no-auth",
    )  # fmt: skip
    assert result.exit_code == 3  # the adapter's own exit code
    assert fake.calls == [
        ServeOptions(
            model_dir=str(tmp_path),
            host="127.0.0.1",
            port=8123,
            workers=2,
            insecure_no_auth=True,
            generate_token=False,
        )
    ]
    assert run("serve", "--generate-token").exit_code == 3
    assert fake.calls[-1] == ServeOptions(generate_token=True)  # the rest: the server's settings


def test_serve_without_the_adapter_says_how_to_install_it(run, monkeypatch) -> None:
    installed(monkeypatch)
    result = run("serve")
    assert result.exit_code == 1
    assert "pip install flightontime-server" in result.stderr
    assert "Traceback" not in result.output


def test_serve_refuses_an_entry_point_that_is_no_adapter(run, monkeypatch) -> None:
    installed(monkeypatch, FakeEntryPoint("http", object()))
    result = run("serve")
    assert result.exit_code == 1
    assert "is not a serving adapter" in result.stderr


def test_serve_rejects_bad_options(run, monkeypatch) -> None:
    installed(monkeypatch, FakeEntryPoint("http", FakeAdapter()))
    assert run("serve", "--port", "70000").exit_code == 2
    assert run("serve", "--workers", "0").exit_code == 2


def test_version_lists_packages_extras_and_adapters(run, monkeypatch) -> None:
    installed(monkeypatch, FakeEntryPoint("http", FakeAdapter()))
    result = run("version")
    assert result.exit_code == 0
    assert result.stdout.startswith("flightontime ")
    assert "flightontime-core:" in result.stdout
    assert "flightontime-cli:" in result.stdout
    assert "flightontime-core[train]: installed" in result.stdout
    assert "serving adapters: http (fake:http)" in result.stdout
    installed(monkeypatch)
    assert "serving adapters: none" in run("version").stdout


# -- healthcheck --------------------------------------------------------------------------------


@pytest.fixture
def health_server() -> Iterator[str]:
    """A tiny HTTP server: /ready answers 200, /starting 503, anything else 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = {"/ready": 200, "/starting": 503}.get(self.path, 404)
            body = b'{"status": "ok"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthcheck_ready(run, health_server: str, monkeypatch) -> None:
    # Proxy variables must not reroute the probe of this host.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    result = run("healthcheck", "--url", f"{health_server}/ready")
    assert result.exit_code == 0, result.output
    assert "ready" in result.stdout


def test_healthcheck_not_ready(run, health_server: str) -> None:
    starting = run("healthcheck", "--url", f"{health_server}/starting")
    assert starting.exit_code == 1
    assert "HTTP 503" in starting.stderr
    assert run("healthcheck", "--url", f"{health_server}/nope").exit_code == 1


def test_healthcheck_closed_port_fails_fast(run) -> None:
    started = time.monotonic()
    result = run(
        "healthcheck", "--url", f"http://127.0.0.1:{closed_port()}/ready", "--timeout", "1"
    )
    assert result.exit_code == 1
    assert "not ready" in result.stderr
    assert time.monotonic() - started < 5
    assert run("healthcheck", "--url", "file:///etc/passwd").exit_code == 1


def test_healthcheck_default_url_uses_the_port_setting(run, health_server: str, monkeypatch):
    monkeypatch.setenv("FLIGHTONTIME_PORT", health_server.rsplit(":", 1)[1])
    assert run("healthcheck").exit_code == 0
    monkeypatch.setenv("FLIGHTONTIME_PORT", str(closed_port()))
    assert run("healthcheck").exit_code == 1
    monkeypatch.setenv("FLIGHTONTIME_PORT", "eighty")
    bad = run("healthcheck")
    assert bad.exit_code == 2
    assert "FLIGHTONTIME_PORT" in bad.stderr
