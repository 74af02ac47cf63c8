"""The observer's access lines: buffered, written together soon after their requests (each with
its request's time, in order), at once when the buffer is full and when the lifespan ends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from flightontime_core.service import PredictionService
from flightontime_server import observe
from flightontime_server.app import asgi_app, create_app
from flightontime_server.logging import ACCESS_LOGGER
from flightontime_server.settings import Settings

from .server import JAVA_REQUEST, TOKEN


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[_Kept]:
    """The access logger's records, at info, for the test."""
    logger = logging.getLogger(ACCESS_LOGGER)
    handler, level, propagate = _Kept(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture(scope="module")
def service(bundle_dir: Path) -> PredictionService:
    return PredictionService.load(bundle_dir)


@pytest.fixture
def observed(bundle_dir: Path, service: PredictionService) -> Any:
    """A fresh observed app (its lifespan not started yet)."""
    settings = Settings.from_environ(
        {"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MODEL_DIR": str(bundle_dir)}
    )
    return asgi_app(create_app(settings, service))


def _ids(kept: _Kept) -> list[str]:
    return [r.fields["request_id"] for r in kept.records]  # type: ignore[attr-defined]


async def _post(client: AsyncTestClient[Any], request_id: str) -> int:
    headers = {"Authorization": TOKEN, "X-Request-ID": request_id}
    return (await client.post("/predict", json=JAVA_REQUEST, headers=headers)).status_code


def test_lines_are_written_together_soon_after_their_requests(observed: Any, kept: _Kept) -> None:
    async def run() -> tuple[list[float], list[str], list[str]]:
        async with AsyncTestClient(observed) as client:
            times = [time.time()]
            for i in range(3):
                assert await _post(client, f"buffered-{i}") == 200
                times.append(time.time())
            right_after = _ids(kept)
            await asyncio.sleep(observe.ACCESS_LOG_FLUSH_S * 3)
            return times, right_after, _ids(kept)

    times, right_after, later = asyncio.run(run())
    assert right_after == []  # none written as its request ended
    assert later == ["buffered-0", "buffered-1", "buffered-2"]
    for i, record in enumerate(kept.records):  # each at its own request's end, not the write's
        assert times[i] <= record.created <= times[i + 1]
        assert record.getMessage() == "request"
        assert record.levelno == logging.INFO


def test_a_full_buffer_is_written_at_once(
    observed: Any, kept: _Kept, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observe, "ACCESS_LOG_BUFFER", 2)

    async def run() -> list[str]:
        async with AsyncTestClient(observed) as client:
            for i in range(3):
                assert await _post(client, f"full-{i}") == 200
            return _ids(kept)

    assert asyncio.run(run()) == ["full-0", "full-1"]


def test_the_lifespan_end_writes_what_is_left(observed: Any, kept: _Kept) -> None:
    async def run() -> list[str]:
        async with AsyncTestClient(observed) as client:
            assert await _post(client, "last-one") == 200
        return _ids(kept)  # the client's exit ended the lifespan

    assert asyncio.run(run()) == ["last-one"]
