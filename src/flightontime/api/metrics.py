"""Prometheus metrics (names in docs/architecture.md); multiprocess-aware.

prometheus_client picks its storage when first imported: PROMETHEUS_MULTIPROC_DIR must already
be in the environment then (`flightontime serve` sets it before importing this module).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
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

# Paths left out of the request metrics (probes and scrapes would drown the real traffic).
UNCOUNTED_PATHS = frozenset({"/health", "/ready", "/metrics"})

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
    "Flights predicted, by predicted class.",
    ["status"],
)
PREDICTION_PROBABILITY = Histogram(
    "flightontime_prediction_probability",
    "Predicted probability of a delay (primary threshold), for drift monitoring.",
    buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
)
INFERENCE_SECONDS = Histogram(
    "flightontime_inference_seconds",
    "Time spent in Bundle.predict.",
    ["kind"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
MODEL_INFO = Gauge(
    "flightontime_model_info",
    "The model bundle being served (value 1).",
    ["version", "thresholds"],
    multiprocess_mode="max",
)

# Children resolved once: label lookups are measurable on the hot path.
PREDICTED_LATE = PREDICTIONS.labels(status="Atrasado")
PREDICTED_ON_TIME = PREDICTIONS.labels(status="Pontual")
INFERENCE_SINGLE = INFERENCE_SECONDS.labels(kind="single")
INFERENCE_BATCH = INFERENCE_SECONDS.labels(kind="batch")


def observe_many(hist: Any, values: np.ndarray[Any, Any]) -> None:
    """Add many values to an (unlabelled or labelled child) histogram, one increment per
    bucket; NaN and infinities are left out."""
    bounds = getattr(hist, "_upper_bounds", None)
    buckets = getattr(hist, "_buckets", None)
    total = getattr(hist, "_sum", None)
    finite = values[np.isfinite(values)]
    if bounds is None or buckets is None or total is None or len(finite) < 8:
        # Few values (and any prometheus_client without these internals): the public way.
        for value in finite.tolist():
            hist.observe(value)
        return
    # observe() counts a value in the first bucket whose upper bound is >= it; per-value calls
    # cost ~1.5 µs each in multiprocess mode, a third of the per-flight budget of a batch.
    index = np.searchsorted(np.asarray(bounds, dtype=np.float64), finite, side="left")
    for i, count in enumerate(np.bincount(index, minlength=len(bounds)).tolist()):
        if count:
            buckets[i].inc(count)
    total.inc(float(finite.sum()))


def observe_probabilities(values: np.ndarray[Any, Any]) -> None:
    """Add many predicted probabilities to their histogram."""
    observe_many(PREDICTION_PROBABILITY, values)


class PendingPredictions:
    """The metrics of single predictions, kept in memory and added in bulk by `flush`.

    A request appends three numbers; the shared-memory writes (six per prediction in
    multiprocess mode, a tenth of a request's work) happen once a second for all of them, from
    the event loop (`flush_every`), before each scrape this worker answers, and at shutdown.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._items: list[tuple[float, bool, float]] = []
        self._limit = limit

    def add(self, inference_s: float, late: bool, probability: float) -> None:
        """Remember one prediction (flushed at once if the backlog reaches its limit)."""
        self._items.append((inference_s, late, probability))
        if len(self._items) >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Add everything remembered to the Prometheus metrics."""
        items, self._items = self._items, []
        if not items:
            return
        seconds, late, probability = (np.asarray(column) for column in zip(*items, strict=True))
        n_late = int(late.sum())
        if n_late:
            PREDICTED_LATE.inc(n_late)
        if len(items) - n_late:
            PREDICTED_ON_TIME.inc(len(items) - n_late)
        observe_many(INFERENCE_SINGLE, seconds)
        observe_probabilities(probability)

    async def flush_every(self, interval_s: float) -> None:
        """Flush every `interval_s` seconds until cancelled (the app flushes once more then)."""
        while True:
            await asyncio.sleep(interval_s)
            self.flush()


PENDING = PendingPredictions()


def multiprocess_mode() -> bool:
    """True when values live in PROMETHEUS_MULTIPROC_DIR files shared by the workers."""
    return values.ValueClass is not values.MutexValue


def exposition() -> tuple[bytes, str]:
    """The text exposition (summed over workers in multiprocess mode) and its content type."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_exit() -> None:
    """Drop this worker's live gauges (in-progress) from the shared files when it stops."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
