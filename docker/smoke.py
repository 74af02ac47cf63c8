"""The serving image's smoke test (server.Dockerfile, stage `smoke`; standard library only):
the installed app served for real (2 workers, the image's bundles), checked as a user sees it.
"""

# A build step: it runs the image's own `flightontime`.
# ruff: noqa: S310, S607

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

FLIGHT = dict(companhia="AZU", origem="SBKP", destino="SBRP", data_partida="2025-11-10T14:30")  # noqa: C408
TOKEN = secrets.token_urlsafe(24)
URL = "http://127.0.0.1:8089"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(path: str, body: object = None, token: str | None = TOKEN) -> tuple[int, bytes]:
    """One request: (status, body); 0 when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(URL + path, data=data)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", token)
    try:
        with OPENER.open(request, timeout=15) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except OSError:
        return 0, b""


def check(ok: bool, what: str) -> None:
    """Fail the build with what went wrong."""
    if not ok:
        sys.exit(f"smoke test failed: {what}")
    print(f"[smoke] ok  {what}", flush=True)


def main() -> None:
    """Serve, exercise, stop."""
    env = dict(os.environ, PREDICTION_API_TOKEN=TOKEN, FLIGHTONTIME_PORT="8089")
    env.update(FLIGHTONTIME_HOST="127.0.0.1", FLIGHTONTIME_WORKERS="2")
    # serve verifies and self-tests every bundle first (exit 3 on a bad one), and each worker
    # loads them before it accepts a connection: the first 200 from /ready is the whole server.
    server = subprocess.Popen(["flightontime", "serve"], env=env)
    try:
        deadline = time.monotonic() + 90
        while http("/ready")[0] != 200 and time.monotonic() < deadline:
            check(server.poll() is None, f"serve exited with {server.returncode}")
            time.sleep(0.1)
        check(http("/ready")[0] == 200, "/ready answers 200")
        health = subprocess.run(["flightontime", "healthcheck"], env=env)
        check(health.returncode == 0, "flightontime healthcheck")
        status, body = http("/predict", FLIGHT)
        answer = json.loads(body) if status == 200 else {}
        check(answer.get("previsao") in (0, 1), f"/predict -> {status} {body[:160]!r}")
        check(http("/predict", FLIGHT, f"Bearer {TOKEN}")[0] == 200, "a Bearer token")
        check(http("/predict", FLIGHT, None)[0] == 401, "no token -> 401")
        status = http("/predict", dict(FLIGHT, data_partida="not a date"))[0]
        check(400 <= status < 500, f"a bad flight -> {status}")
        status, body = http("/openapi.json")
        check(status == 200 and "/predict" in json.loads(body)["paths"], "the OpenAPI document")
        status, page = http("/docs")
        assets = set(re.findall(rb"""(?:src|href)=['"]([^'"]*/docs/assets/[^'"]+)""", page))
        check(status == 200 and bool(assets), "/docs and its assets")
        for asset in sorted(assets):
            check(http(re.sub(r"^https?://[^/]+", "", asset.decode()))[0] == 200, asset.decode())
        check(http("/metrics")[0] == 200, "/metrics")
        server.send_signal(signal.SIGTERM)
        check(server.wait(timeout=60) == 0, "SIGTERM -> exit 0")
    finally:
        if server.poll() is None:  # SIGTERM: uvicorn stops its workers too (SIGKILL orphans them)
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
