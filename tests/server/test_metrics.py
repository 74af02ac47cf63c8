"""/metrics: Prometheus text, names from docs/architecture.md, summed over two workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .server import JAVA_REQUEST, TOKEN, Server, start_server

N = 24


@pytest.fixture(scope="module")
def two_workers(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh two-worker server (multiprocess metrics)."""
    srv = start_server(
        tmp_path_factory.mktemp("metrics"),
        bundle_dir,
        env={"PREDICTION_API_TOKEN": TOKEN},
        args=["--workers", "2"],
    )
    # Both workers load the bundle; wait until each has answered /ready at least once.
    for _ in range(20):
        srv.wait_ready()
    yield srv
    assert srv.stop() == 0


def _samples(srv: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = srv.client(token=None).get("/metrics").text
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_metrics_are_summed_over_workers(two_workers: Server) -> None:
    client = two_workers.client()
    anonymous = two_workers.client(token=None)
    for _ in range(N):
        # New connections spread the requests over both workers.
        with two_workers.client() as c:
            assert c.post("/predict", json=JAVA_REQUEST).status_code == 200
    assert client.post("/predict/batch", json={"voos": [JAVA_REQUEST] * 5}).status_code == 200
    assert anonymous.post("/predict", json=JAVA_REQUEST).status_code == 401
    for _ in range(5):
        anonymous.get("/health")
        anonymous.get("/ready")

    # Predictions reach the metrics in bulk, at most a second after their answer (the
    # worker that answers the scrape flushes its own first; the other one on its timer).
    deadline = time.monotonic() + 10
    single = ("flightontime_inference_seconds_count", frozenset({("kind", "single")}))
    batch = ("flightontime_inference_seconds_count", frozenset({("kind", "batch")}))
    while (s := _samples(two_workers)).get(single, 0.0) < N or s.get(batch, 0.0) < 1:
        assert time.monotonic() < deadline, "predictions never reached /metrics"
        time.sleep(0.2)

    def value(name: str, **labels: str) -> float:
        return s.get((name, frozenset(labels.items())), 0.0)

    assert (
        value("flightontime_http_requests_total", route="/predict", method="POST", status="200")
        == N
    )
    assert (
        value("flightontime_http_requests_total", route="/predict", method="POST", status="401")
        == 1
    )
    assert (
        value(
            "flightontime_http_requests_total", route="/predict/batch", method="POST", status="200"
        )
        == 1
    )
    # Probes and scrapes are not counted.
    assert not any(
        name.startswith("flightontime_http_request")
        and dict(labels).get("route") in ("/health", "/ready", "/metrics")
        for name, labels in s
    )
    assert (
        value("flightontime_http_request_duration_seconds_count", route="/predict", method="POST")
        == N + 1
    )
    # Labelled by status and the answering bundle's version: summed over both.
    total = sum(
        v
        for (name, labels), v in s.items()
        if name == "flightontime_predictions_total"
        and dict(labels).get("status") in ("Atrasado", "Pontual")
    )
    assert total == N + 5
    assert value("flightontime_prediction_probability_count") == N + 5
    assert value("flightontime_prediction_probability_bucket", le="1.0") == N + 5
    assert value("flightontime_inference_seconds_count", kind="single") == N
    assert value("flightontime_inference_seconds_count", kind="batch") == 1
    # Every counted request (401s included) has ended: the gauge is exported and back to 0
    # (the scrape itself is not counted), so a request that never decrements it shows here.
    in_progress = ("flightontime_http_requests_in_progress", frozenset())
    assert in_progress in s
    assert s[in_progress] == 0
    info = [labels for name, labels in s if name == "flightontime_model_info"]
    assert info
    assert dict(info[0])["version"]
    assert s[("flightontime_model_info", info[0])] == 1


def test_probability_buckets_are_five_percent_wide(two_workers: Server) -> None:
    text = two_workers.client(token=None).get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    bounds = [
        s.labels["le"]
        for s in families["flightontime_prediction_probability"].samples
        if s.name.endswith("_bucket")
    ]
    assert bounds[:3] == ["0.05", "0.1", "0.15"]
    assert len(bounds) == 21  # twenty 0.05-wide buckets up to 1.0, plus +Inf
