"""Prometheus metrics, with the names and labels the dashboards and alerts read
(docs/architecture.md, deploy/monitoring/); summed over workers in multiprocess mode.

Not Litestar's Prometheus plugin (litestar.plugins.prometheus): its middleware names its labels
`path`, `status_code` and `app_name` on all three request metrics (the duration histogram and
the in-progress gauge included) and takes extra labels only in addition to those, so it cannot
give `route`/`status`, a duration labelled by route and method only, or an unlabelled gauge;
and, being Litestar middleware, it runs only for requests that matched a route, so a scanner's
404s and wrong methods would go uncounted. The request metrics are therefore recorded by
`observe.Observer`, which sees every request.

prometheus_client chooses its storage when first imported: PROMETHEUS_MULTIPROC_DIR must be in
the environment by then (the adapter sets it before uvicorn starts the workers).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from flightontime_core.prediction_table import PredictionTable

# Probes and scrapes would drown the real traffic.
UNCOUNTED_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})
# Every path no route matched shares this label (bounded cardinality under scanning).
UNMATCHED_ROUTE: Final = "unmatched"

HTTP_REQUESTS = Counter(
    "flightontime_http_requests_total",
    "HTTP requests answered.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "flightontime_http_request_duration_seconds",
    "Time from request start to the end of the response.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HTTP_IN_PROGRESS = Gauge(
    "flightontime_http_requests_in_progress",
    "Requests being answered now.",
    multiprocess_mode="livesum",
)
PREDICTIONS = Counter(
    "flightontime_predictions_total",
    "Flights predicted, by predicted class and the bundle version that answered.",
    ["status", "version"],
)
PREDICTION_PROBABILITY = Histogram(
    "flightontime_prediction_probability",
    "Predicted probability of a delay (primary threshold), for drift monitoring.",
    buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
)
INFERENCE_SECONDS = Histogram(
    "flightontime_inference_seconds",
    "Time spent predicting (the core service's predict or predict_many).",
    ["kind"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
MODEL_INFO = Gauge(
    "flightontime_model_info",
    "The model bundle being served (value 1).",
    ["version", "thresholds"],
    multiprocess_mode="max",
)

# The status label keeps the first generation's Portuguese values whatever language the answer
# spoke.
STATUS_LABELS: Final = ("Pontual", "Atrasado")
INFERENCE_SINGLE = INFERENCE_SECONDS.labels(kind="single")
INFERENCE_BATCH = INFERENCE_SECONDS.labels(kind="batch")


class RequestMetrics:
    """The request metrics' children per (route, method, status), created once each."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._durations: dict[tuple[str, str], Histogram] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request."""
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self._counters[(route, method, status)] = HTTP_REQUESTS.labels(
                route, method, str(status)
            )
        counter.inc()
        duration = self._durations.get((route, method))
        if duration is None:
            duration = self._durations[(route, method)] = HTTP_DURATION.labels(route, method)
        duration.observe(seconds)


class PendingPredictions:
    """Prediction metrics kept in memory and added by `flush`, off the request's path.

    In multiprocess mode each observation is a few writes to a shared file; a request only
    appends its numbers here and they are added from the event loop every few hundredths of a
    second (`flush_every`: each flush short, rather than a second's worth of observations at
    once in front of the requests waiting), before each scrape this worker answers, and at
    shutdown.
    """

    def __init__(self, limit: int = 50_000) -> None:
        self._single: list[tuple[float, PredictionTable]] = []
        self._batches: list[tuple[float, PredictionTable]] = []
        self._pending = 0
        self._limit = limit
        # Children resolved once per (delayed, version): label lookups cost on every flush.
        self._counters: dict[tuple[bool, str], Counter] = {}

    def single(self, seconds: float, answers: PredictionTable) -> None:
        """One `predict_table` call for POST /predict: a request's flight alone, or the flights
        of the requests one micro-batch flush answered together (batching.MicroBatcher); its
        seconds observed once (kind="single"), each answered flight counted once."""
        self._single.append((seconds, answers))
        self._pending += max(1, int(answers.rows.size))
        if self._pending >= self._limit:
            self.flush()

    def batch(self, seconds: float, answers: PredictionTable) -> None:
        """A batch's answered flights, predicted in one call."""
        self._batches.append((seconds, answers))
        self._pending += int(answers.rows.size)
        if self._pending >= self._limit:
            self.flush()

    def _counter(self, delayed: bool, version: str) -> Counter:
        counter = self._counters.get((delayed, version))
        if counter is None:
            counter = self._counters[(delayed, version)] = PREDICTIONS.labels(
                status=STATUS_LABELS[delayed], version=version
            )
        return counter

    def flush(self) -> None:
        """Add everything pending to the Prometheus metrics."""
        single, self._single = self._single, []
        batches, self._batches = self._batches, []
        self._pending = 0
        counts: dict[tuple[bool, str], int] = {}
        observe_probability = PREDICTION_PROBABILITY.observe
        observe_single = INFERENCE_SINGLE.observe
        for observe, kept in ((observe_single, single), (INFERENCE_BATCH.observe, batches)):
            for seconds, answers in kept:
                observe(seconds)
                versions = answers.versions
                for probability, delayed, version in zip(
                    answers.probabilities[:, 0].tolist(),
                    answers.delayed.tolist(),
                    answers.version.tolist(),
                    strict=True,
                ):
                    observe_probability(probability)
                    key = (delayed, versions[version])
                    counts[key] = counts.get(key, 0) + 1
        for (delayed, version), n in counts.items():
            self._counter(delayed, version).inc(n)

    async def flush_every(self, interval_s: float) -> None:
        """Flush every `interval_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.flush()


def set_model_info(version: str, thresholds: Sequence[int]) -> None:
    """Say which bundle this worker serves, and expose its prediction counters from zero (a
    scrape before the first prediction sees them, as the rules and the dashboard expect)."""
    MODEL_INFO.labels(version=version, thresholds=",".join(str(t) for t in thresholds)).set(1)
    for status in STATUS_LABELS:
        PREDICTIONS.labels(status=status, version=version)


def multiprocess_mode() -> bool:
    """True when values live in PROMETHEUS_MULTIPROC_DIR files shared by the workers."""
    return values.ValueClass is not values.MutexValue


def exposition() -> tuple[bytes, str]:
    """The text exposition (summed over the workers in multiprocess mode) and its type."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_exit() -> None:
    """Drop this worker's live gauges (in progress) from the shared files when it stops."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
