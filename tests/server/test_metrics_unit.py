"""Prediction metrics added in bulk give exactly what one observation per prediction gives."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY, generate_latest

from flightontime_core.prediction_table import PredictionTable
from flightontime_core.service import PredictionService
from flightontime_server import metrics
from flightontime_server.app import create_app
from flightontime_server.settings import Settings

WATCHED = (
    "flightontime_predictions_total",
    "flightontime_inference_seconds_count",
    "flightontime_inference_seconds_sum",
    'flightontime_inference_seconds_bucket{kind="single",le="0.001"}',
    'flightontime_inference_seconds_bucket{kind="batch",le="0.01"}',
    "flightontime_prediction_probability_bucket",
    "flightontime_prediction_probability_count",
    "flightontime_prediction_probability_sum",
)


def _snapshot() -> dict[str, float]:
    out = {}
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith(WATCHED):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _answers(*flights: tuple[bool, float, str]) -> PredictionTable:
    """The core's answers (as columns) of flights given as (late, probability, version)."""
    m = len(flights)
    versions = sorted({version for _, _, version in flights})
    return PredictionTable(
        n=m,
        thresholds=(15,),
        rows=np.arange(m),
        probabilities=np.array([[p] for _, p, _ in flights]).reshape(m, 1),
        cancellation=np.full(m, np.nan),
        # A late flight's cut-off is its probability, an on-time one's just above it.
        decision_threshold=np.array([p if late else p + 0.01 for late, p, _ in flights]),
        version=np.array([versions.index(v) for _, _, v in flights], dtype=np.intp),
        versions=versions,
        factor_group=np.full((m, 3), -1),
        factor_weight=np.zeros((m, 3)),
        factor_key=np.full((m, 3), -1),
        factor_params=[],
        notice_index=np.zeros(m, dtype=np.intp),
        notices=[()],
        errors={},
    )


def _prediction(late: bool, probability: float, version: str = "m-test") -> PredictionTable:
    return _answers((late, probability, version))


def _counted(late: bool, version: str = "m-test") -> None:
    status = "Atrasado" if late else "Pontual"
    metrics.PREDICTIONS.labels(status=status, version=version).inc()


def _direct(
    single: list[tuple[float, bool, float]], batches: list[tuple[float, list[float], list[bool]]]
) -> None:
    for seconds, late, probability in single:
        metrics.INFERENCE_SINGLE.observe(seconds)
        metrics.PREDICTION_PROBABILITY.observe(probability)
        _counted(late)
    for seconds, probabilities, lates in batches:
        metrics.INFERENCE_BATCH.observe(seconds)
        for probability, late in zip(probabilities, lates, strict=True):
            metrics.PREDICTION_PROBABILITY.observe(probability)
            _counted(late)


def test_flush_adds_what_direct_observation_adds() -> None:
    single = [(0.0002 * (i % 9), i % 3 == 0, (i % 20) / 20) for i in range(40)]
    probabilities = [0.0, 0.05, 0.1, 0.5, 0.95, 1.0, 0.3333]
    lates = [p >= 0.3 for p in probabilities]
    batches = [(0.004, probabilities, lates), (0.02, [0.2], [False])]
    start = _snapshot()
    _direct(single, batches)
    direct = _snapshot()
    pending = metrics.PendingPredictions()
    for seconds, late, probability in single:
        pending.single(seconds, _prediction(late, probability))
    for seconds, batch, late_flags in batches:
        pending.batch(
            seconds, _answers(*((f, p, "m-test") for p, f in zip(batch, late_flags, strict=True)))
        )
    assert _snapshot() == direct  # nothing is added before the flush
    pending.flush()
    bulk = _snapshot()
    assert {k: round(bulk[k] - direct[k], 9) for k in bulk} == {
        k: round(direct[k] - start.get(k, 0.0), 9) for k in direct
    }
    pending.flush()
    assert _snapshot() == bulk  # flushed once


def test_a_full_backlog_flushes_itself() -> None:
    pending = metrics.PendingPredictions(limit=3)
    before = _snapshot()
    pending.single(0.001, _prediction(True, 0.9))
    pending.batch(0.002, _answers((True, 0.8, "m-test"), (False, 0.1, "m-test")))
    after = _snapshot()
    assert after["flightontime_prediction_probability_count"] == (
        before["flightontime_prediction_probability_count"] + 3
    )


def test_probability_buckets_are_five_percent_wide() -> None:
    text = generate_latest(REGISTRY).decode()
    bounds = [
        line.split('le="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("flightontime_prediction_probability_bucket")
    ]
    assert bounds[:3] == ["0.05", "0.1", "0.15"]
    assert len(bounds) == 21


def test_predictions_carry_the_version_of_the_bundle_that_answered() -> None:
    def count(version: str) -> float:
        key = f'flightontime_predictions_total{{status="Atrasado",version="{version}"}}'
        return _snapshot().get(key, 0.0)

    before_a, before_b = count("m-a"), count("m-b")
    pending = metrics.PendingPredictions()
    pending.batch(0.001, _answers((True, 0.9, "m-a"), (True, 0.8, "m-b")))
    pending.single(0.001, _prediction(True, 0.7, "m-b"))
    pending.flush()
    assert (count("m-a") - before_a, count("m-b") - before_b) == (1.0, 2.0)


def test_a_served_bundles_prediction_counters_are_exposed_from_zero() -> None:
    # The rules and the dashboard read flightontime_predictions_total before any prediction.
    version = "m-served-never-predicted"
    assert f'version="{version}"' not in generate_latest(REGISTRY).decode()
    metrics.set_model_info(version, (15, 30))
    text = generate_latest(REGISTRY).decode()
    for status in ("Atrasado", "Pontual"):
        line = f'flightontime_predictions_total{{status="{status}",version="{version}"}} 0.0'
        assert line in text


def test_a_serving_app_adds_pending_predictions_within_a_tenth_of_a_second(
    bundle_dir: Path,
) -> None:
    """Between scrapes the app's periodic flush adds them (another worker's scrape shows them),
    often enough that no flush piles up a second of observations in front of a request."""
    settings = Settings.from_environ(
        {"PREDICTION_API_TOKEN": "t" * 24, "FLIGHTONTIME_MODEL_DIR": str(bundle_dir)}
    )
    app = create_app(settings, PredictionService.load(bundle_dir))
    key = "flightontime_prediction_probability_count"

    async def run() -> tuple[float, float]:
        async with AsyncTestClient(app):
            before = _snapshot()[key]
            app.state.serving.pending.single(0.001, _prediction(True, 0.9))
            await asyncio.sleep(0.1)
            return before, _snapshot()[key]

    before, after = asyncio.run(run())
    assert after == before + 1
