"""The bulk histogram update gives exactly what one observe() per value gives."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from flightontime.api import metrics


def _lines(text: str, prefix: str) -> list[str]:
    return [
        line.split()[-1]
        for line in text.splitlines()
        if line.startswith((f"{prefix}_bucket", f"{prefix}_sum", f"{prefix}_count"))
    ]


def test_observe_probabilities_matches_observe() -> None:
    values = np.random.default_rng(7).random(1000)
    values[:6] = [0.0, 0.05, 0.1, 0.95, 1.0, np.nan]  # bucket edges and a NaN (ignored)
    registry = CollectorRegistry()
    reference = Histogram(
        "ref", "ref", buckets=metrics.PREDICTION_PROBABILITY._upper_bounds[:-1], registry=registry
    )
    for value in values:
        if np.isfinite(value):
            reference.observe(float(value))
    before = _lines(
        generate_latest(metrics.REGISTRY).decode(), "flightontime_prediction_probability"
    )
    metrics.observe_probabilities(values)
    after = _lines(
        generate_latest(metrics.REGISTRY).decode(), "flightontime_prediction_probability"
    )
    delta = [str(float(a) - float(b)) for a, b in zip(after, before, strict=True)]
    expected = _lines(generate_latest(registry).decode(), "ref")
    assert [round(float(x), 6) for x in delta] == [round(float(x), 6) for x in expected]


def test_pending_predictions_flush_adds_what_record_would() -> None:
    from flightontime.api.service import Observation

    def snapshot() -> dict[str, float]:
        text = generate_latest(metrics.REGISTRY).decode()
        out = {}
        for line in text.splitlines():
            if line.startswith(
                (
                    "flightontime_predictions_total",
                    'flightontime_inference_seconds_count{kind="single"}',
                    'flightontime_inference_seconds_bucket{kind="single",le="0.001"}',
                    'flightontime_prediction_probability_bucket{le="0.5"}',
                    "flightontime_prediction_probability_count",
                )
            ):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    observations = [Observation(0.0002 * (i % 9), i % 3 == 0, (i % 20) / 20) for i in range(40)]
    start = snapshot()
    for o in observations:
        o.record()
    direct = snapshot()
    for o in observations:
        o.record_soon()
    assert snapshot() == direct  # nothing added before the flush
    metrics.PENDING.flush()
    bulk = snapshot()
    added_in_bulk = {k: bulk[k] - direct[k] for k in bulk}
    assert added_in_bulk == {k: direct[k] - start.get(k, 0.0) for k in direct}
