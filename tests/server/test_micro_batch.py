"""Micro-batching of concurrent POST /predict requests (batching.MicroBatcher): each request
gets the answer it gets alone, its own 422, its own language, its own 500; one core call per
flush; FLIGHTONTIME_MICRO_BATCH=false answers one call per request as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from flightontime_core.errors import FlightError
from flightontime_core.service import PredictionService
from flightontime_server.app import asgi_app, create_app
from flightontime_server.batching import Direct, MicroBatcher, Predictor
from flightontime_server.body import read_flight
from flightontime_server.metrics import PendingPredictions
from flightontime_server.schemas import PredictionResponse
from flightontime_server.settings import Settings

from .server import JAVA_REQUEST, TOKEN, Server, start_server

N = 32
BAD = {**JAVA_REQUEST, "data_partida": "2250-01-01T00:00:00"}  # the core refuses the year


def _flights() -> list[dict[str, Any]]:
    """N distinct flights (days, hours, routes), the one the core refuses at position 5."""
    routes = [("SBKP", "SBRP"), ("SBGR", "SBRJ"), ("JFK", "LAX"), ("EWR", "ORD")]
    out = []
    for i in range(N):
        origin, destination = routes[i % len(routes)]
        out.append(
            {
                **JAVA_REQUEST,
                "origem": origin,
                "destino": destination,
                "data_partida": f"2025-11-{1 + i % 28:02d}T{6 + i % 14:02d}:15:00",
            }
        )
    out[5] = BAD
    return out


def _languages() -> list[str | None]:
    return [("en", None, "pt-BR", "en-US,pt;q=0.5")[i % 4] for i in range(N)]


def _post(base_url: str, body: dict[str, Any], language: str | None) -> tuple[int, Any]:
    headers = {"Authorization": TOKEN}
    if language is not None:
        headers["Accept-Language"] = language
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as c:
        r = c.post("/predict", json=body, headers=headers)
        return r.status_code, r.json()


def _concurrently(base_url: str, bodies: list[dict[str, Any]], languages: list[str | None]) -> Any:
    """Every request in flight at once (one thread each), bounded in time."""
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        futures = [
            pool.submit(_post, base_url, b, x) for b, x in zip(bodies, languages, strict=True)
        ]
        return [f.result(timeout=60) for f in futures]


def _single_count(srv: Server) -> float:
    text = srv.client(token=None).get("/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "flightontime_inference_seconds_count" and s.labels == {"kind": "single"}:
                return s.value
    return 0.0


@pytest.fixture(scope="module")
def batched(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A one-worker server of its own (its metrics count only this module's requests)."""
    srv = start_server(
        tmp_path_factory.mktemp("micro"), bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN}
    )
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def unbatched(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same with FLIGHTONTIME_MICRO_BATCH=false."""
    srv = start_server(
        tmp_path_factory.mktemp("unbatched"),
        bundle_dir,
        env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MICRO_BATCH": "false"},
    )
    yield srv
    assert srv.stop() == 0


@pytest.mark.parametrize("mode", ["batched", "unbatched"])
def test_concurrent_requests_get_their_own_answers(
    mode: str, request: pytest.FixtureRequest
) -> None:
    srv: Server = request.getfixturevalue(mode)
    bodies, languages = _flights(), _languages()
    alone = [_post(srv.base_url, b, x) for b, x in zip(bodies, languages, strict=True)]
    assert sum(status == 200 for status, _ in alone) == N - 1
    assert alone[5][0] == 422
    assert alone[5][1]["erro"]["detalhes"][0]["campo"] == "data_partida"
    # The languages differ: an answer in the wrong one would not be equal.
    assert (
        alone[0][1]["status"] != alone[1][1]["status"]
        or alone[0][1]["fatores"] != alone[1][1]["fatores"]
    )
    for _ in range(3):
        assert _concurrently(srv.base_url, bodies, languages) == alone


def test_concurrent_requests_share_core_calls(batched: Server) -> None:
    """The server really batches: fewer inference observations than requests answered (bursts
    of N requests in flight, at most 5 of them)."""
    bodies, languages = [JAVA_REQUEST] * N, _languages()
    before = _single_count(batched)
    for burst in range(1, 6):
        assert {s for s, _ in _concurrently(batched.base_url, bodies, languages)} == {200}
        if _single_count(batched) - before < burst * N:
            return
    pytest.fail("no flush answered more than one request in 5 bursts of 32")


def test_unbatched_is_one_core_call_per_request(unbatched: Server) -> None:
    before = _single_count(unbatched)
    bodies, languages = [JAVA_REQUEST] * N, _languages()
    assert {s for s, _ in _concurrently(unbatched.base_url, bodies, languages)} == {200}
    assert _single_count(unbatched) - before == N


class _Counting(PredictionService):
    calls: list[int]

    def predict_table(self, flights: Any) -> Any:
        self.calls.append(len(flights))
        return super().predict_table(flights)


class _Broken(PredictionService):
    def predict_table(self, flights: Any) -> Any:
        raise RuntimeError("internal detail /srv/secret/path")


@pytest.fixture(scope="module")
def service(bundle_dir: Path) -> PredictionService:
    return PredictionService.load(bundle_dir)


def _counting(service: PredictionService) -> _Counting:
    counting = _Counting(service.model)
    counting.calls = []
    return counting


async def _answer_all(predictor: Predictor, flights: list[Any], languages: list[str]) -> list[Any]:
    return await asyncio.gather(
        *(predictor.answer(f, x) for f, x in zip(flights, languages, strict=True)),
        return_exceptions=True,
    )


def _read(bodies: list[dict[str, Any]]) -> list[Any]:
    return [read_flight(b, "pt") for b in bodies]


def test_a_flush_of_n_requests_is_one_predict_table_call(service: PredictionService) -> None:
    flights, languages = _read(_flights()), [("pt", "en")[i % 2] for i in range(N)]
    batched = _counting(service)
    got = asyncio.run(
        _answer_all(MicroBatcher(batched, PendingPredictions(), 1000), flights, languages)
    )
    assert batched.calls == [N]
    # The same answers, one by one (and the counter sees one call per request there: it can
    # tell the two apart).
    direct = _counting(service)
    assert asyncio.run(_answer_all(Direct(direct, PendingPredictions()), flights, languages)) == got
    assert direct.calls == [1] * N
    assert isinstance(got[5], FlightError)
    first, second = got[0], got[1]
    assert isinstance(first, PredictionResponse)
    assert isinstance(second, PredictionResponse)
    assert first.status != second.status or first.fatores != second.fatores


def test_a_flush_takes_at_most_max_flights(service: PredictionService) -> None:
    flights = _read([JAVA_REQUEST] * 8)
    counting = _counting(service)
    got = asyncio.run(
        _answer_all(MicroBatcher(counting, PendingPredictions(), 3), flights, ["pt"] * 8)
    )
    assert counting.calls == [3, 3, 2]
    assert all(isinstance(a, PredictionResponse) for a in got)


def test_a_broken_service_fails_every_waiting_request(service: PredictionService) -> None:
    broken = _Broken(service.model)
    flights = _read([JAVA_REQUEST] * 8)
    got = asyncio.run(
        _answer_all(MicroBatcher(broken, PendingPredictions(), 1000), flights, ["pt"] * 8)
    )
    assert all(isinstance(a, RuntimeError) for a in got)


@pytest.mark.parametrize("micro_batch", ["true", "false"])
def test_a_broken_service_is_a_500_for_each_concurrent_request(
    service: PredictionService, micro_batch: str
) -> None:
    settings = Settings.from_environ(
        {"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MICRO_BATCH": micro_batch}
    )
    app = create_app(settings, _Broken(service.model))

    async def burst() -> list[httpx.Response]:
        async with AsyncTestClient(asgi_app(app)) as client:  # type: ignore[arg-type]
            return await asyncio.gather(
                *(
                    client.post(
                        "/predict",
                        json=JAVA_REQUEST,
                        headers={"Authorization": TOKEN, "Accept-Language": ("pt", "en")[i % 2]},
                    )
                    for i in range(8)
                )
            )

    responses = asyncio.run(asyncio.wait_for(burst(), 60))
    assert [r.status_code for r in responses] == [500] * 8
    assert [r.json()["erro"]["mensagem"] for r in responses] == [
        ("Erro interno do servidor.", "Internal server error.")[i % 2] for i in range(8)
    ]
