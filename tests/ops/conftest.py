"""Fixtures for the operations suite (`make test-ops`; deselected by the default `make test`).

The service is the second generation's server (flightontime_server, `flightontime serve` from
the repository's .venv) over the committed models/default. Everything talks to 127.0.0.1 (or
podman's own network) and cleans up after itself.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
DOCKER = ROOT / "docker"
ABOUT = ROOT / "packages" / "core" / "src" / "flightontime_core" / "__about__.py"
MODEL_DIR = Path(os.environ.get("FLIGHTONTIME_OPS_MODEL", str(ROOT / "models" / "default")))
# Worker processes of the service under test: several, so its metrics are the multiprocess sum
# a container answers with.
WORKERS = 2
BACKEND_REQUEST = {
    "companhia": "AA",
    "origem": "JFK",
    "destino": "LAX",
    "data_partida": "2013-11-10T14:30:00",
}


def package_version() -> str:
    """The packages' one version (the images are tagged with it)."""
    found = re.search(r'^__version__ = "([^"]+)"', ABOUT.read_text(encoding="utf-8"), re.M)
    assert found, f"no __version__ in {ABOUT}"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: run `make ops-tools` (Debian package prometheus)")
    return path


def wait_until(check, timeout: float, what: str, interval: float = 0.25):  # type: ignore[no-untyped-def]
    """Call check() until it returns a truthy value; fail with `what` after timeout seconds."""
    end = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


@dataclass
class Service:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": self.token}


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`flightontime serve` from the repo's .venv on a free loopback port, with a token; two
    workers, so the metrics are the multiprocess sum a container answers with."""
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.fail(
            f"no model bundle at {MODEL_DIR} (models/default is committed; "
            "FLIGHTONTIME_OPS_MODEL names another bundle directory)"
        )
    exe = Path(sys.executable).with_name("flightontime")
    port = free_port()
    token = secrets.token_urlsafe(24)
    log = tmp_path_factory.mktemp("service") / "serve.log"
    env = {
        **os.environ,
        "PREDICTION_API_TOKEN": token,
        # info: each worker logs "model ready" (readiness below counts them).
        "FLIGHTONTIME_LOG_LEVEL": "info",
        "FLIGHTONTIME_WORKERS": str(WORKERS),
    }
    env.pop("PREDICTION_API_TOKEN_FILE", None)
    env.pop("FLIGHTONTIME_METRICS_DIR", None)  # the server makes (and removes) its own
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--model",
                str(MODEL_DIR),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    svc = Service(url=url, token=token, process=proc, log=log)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"flightontime serve exited ({proc.returncode}):\n{log.read_text()}")
            # Each worker loads the bundle itself and /ready speaks for the worker that took
            # the connection: ready means every worker logged "model ready".
            loaded = log.read_text(errors="replace").count('"message":"model ready"')
            return loaded >= WORKERS and httpx.get(f"{url}/ready", timeout=2).status_code == 200

        wait_until(ready, 90, f"the service's {WORKERS} workers to become ready")
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert token not in log.read_text(errors="replace"), "the token appeared in the service log"


@pytest.fixture(scope="session")
def traffic(service: Service) -> dict[str, int]:
    """Some real traffic so every labelled series exists: predictions, a batch, a 422, a 401."""
    counts = {"predict": 0}
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for hour in range(6, 22):
            body = {**BACKEND_REQUEST, "data_partida": f"2013-11-10T{hour:02d}:30:00"}
            r = client.post("/predict", json=body, headers=service.headers())
            assert r.status_code == 200, r.text
            counts["predict"] += 1
        r = client.post(
            "/predict/batch",
            json={"voos": [BACKEND_REQUEST, {**BACKEND_REQUEST, "origem": "EWR"}]},
            headers=service.headers(),
        )
        assert r.status_code == 200, r.text
        r = client.post(
            "/predict", json={**BACKEND_REQUEST, "origem": "ZZ-Z"}, headers=service.headers()
        )
        assert r.status_code == 422
        r = client.post("/predict", json=BACKEND_REQUEST)
        assert r.status_code == 401
    return counts
