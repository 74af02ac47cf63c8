"""The HTTP adapter's own cost, without a socket: the Litestar app called in process (its
lifespan run, then `GET /health` and `POST /predict` with the backend's request, interleaved
slots of many calls), next to the core's `predict` of the same flight. What `/predict` costs
beyond `/health` that is not the model is the adapter's (decoding, token check, dependencies,
answer, metrics, access line). Logging is configured as the server does (JSON lines at info),
written to /dev/null; `POST /predict` runs with the access line and without it
(FLIGHTONTIME_ACCESS_LOG=false).

    python bench/asgi_bench.py [--model models/default] [--calls 2000] [--slots 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.config
import os
import secrets
import statistics
import subprocess
import time
from typing import Any

from flightontime_core import Flight
from flightontime_core.contract import EXAMPLE_REQUEST
from flightontime_core.service import PredictionService
from flightontime_server.app import asgi_app, create_app
from flightontime_server.logging import log_config
from flightontime_server.settings import Settings

TOKEN = secrets.token_urlsafe(24)
BODY = json.dumps(EXAMPLE_REQUEST).encode()


async def _started(app: Any) -> None:
    """Run the app's lifespan startup (the service is handed in, so it is ready at once)."""
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    queue.put_nowait({"type": "lifespan.startup"})
    done = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            done.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    asyncio.get_running_loop().create_task(app(scope, queue.get, send))
    await done.wait()


async def _call(app: Any, method: str, path: str, body: bytes = b"") -> int:
    headers = [(b"host", b"bench"), (b"authorization", TOKEN.encode())]
    headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _slot(app: Any, calls: int, method: str, path: str, body: bytes = b"") -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await _call(app, method, path, body)
    return (time.perf_counter() - start) / calls * 1e6


async def main(model: str, calls: int, slots: int) -> None:
    """Interleaved slots of each request; medians in microseconds per call."""
    service = PredictionService.load(model)
    logging.config.dictConfig(log_config("info"))
    devnull = open(os.devnull, "w")  # noqa: SIM115  # the log stream for the whole run
    for name in ("flightontime_server", "flightontime_core", "uvicorn"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(devnull)
    apps = []
    for access_log in ("true", "false"):
        settings = Settings.from_environ(
            {
                "PREDICTION_API_TOKEN": TOKEN,
                "FLIGHTONTIME_MODEL_DIR": model,
                "FLIGHTONTIME_ACCESS_LOG": access_log,
            }
        )
        apps.append(asgi_app(create_app(settings, service)))
        await _started(apps[-1])
        assert await _call(apps[-1], "POST", "/predict", BODY) == 200
    app, quiet = apps
    flight = Flight(
        airline="AZU", origin="SBKP", destination="SBRP", departure="2025-11-10T14:30:00",
        distance_m=218000,
    )  # fmt: skip
    found: dict[str, list[float]] = {"health": [], "predict": [], "quiet": [], "core": []}
    for _ in range(slots):
        found["health"].append(await _slot(app, calls, "GET", "/health"))
        found["predict"].append(await _slot(app, calls, "POST", "/predict", BODY))
        found["quiet"].append(await _slot(quiet, calls, "POST", "/predict", BODY))
        start = time.perf_counter()
        for _ in range(calls):
            service.predict(flight)
        found["core"].append((time.perf_counter() - start) / calls * 1e6)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench-asgi: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, "
          f"load average {load}; {slots} slots of {calls} calls, medians per call")  # fmt: skip
    h, p, q, c = (statistics.median(found[k]) for k in ("health", "predict", "quiet", "core"))
    print(f"GET /health {h:8.1f} us\nPOST /predict {p:6.1f} us\ncore predict {c:7.1f} us")
    print(f"POST /predict, access log off {q:.1f} us (the access line: {p - q:.1f} us)")
    print(f"/predict beyond /health {p - h:.1f} us, of which the core's predict {c:.1f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--slots", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.model, args.calls, args.slots))
