"""The observer's access lines: buffered, written together soon after their requests (each with
its request's time, in order), at once when the buffer is full and when the lifespan ends."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flightontime_core.service import PredictionService
from flightontime_server import observe
from flightontime_server.app import asgi_app, create_app
from flightontime_server.logging import ACCESS_LOGGER
from flightontime_server.settings import Settings

from .server import JAVA_REQUEST, TOKEN

BODY = json.dumps(JAVA_REQUEST).encode()


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


async def _lifespan(app: Any, event: str, queue: asyncio.Queue[dict[str, str]]) -> None:
    done = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == f"lifespan.{event}.complete":
            done.set()

    queue.put_nowait({"type": f"lifespan.{event}"})
    if event == "startup":
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        asyncio.get_running_loop().create_task(app(scope, queue.get, send))
    await done.wait() if event == "startup" else await asyncio.sleep(0.01)


async def _post(app: Any, request_id: str) -> int:
    headers = [(b"authorization", TOKEN.encode()), (b"content-type", b"application/json")]
    headers.append((b"x-request-id", request_id.encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    pending = [{"type": "http.request", "body": BODY, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


def _ids(kept: _Kept) -> list[str]:
    return [r.fields["request_id"] for r in kept.records]  # type: ignore[attr-defined]


def test_lines_are_written_together_soon_after_their_requests(observed: Any, kept: _Kept) -> None:
    async def run() -> tuple[list[float], list[str], list[str]]:
        await _lifespan(observed, "startup", asyncio.Queue())
        times = [time.time()]
        for i in range(3):
            assert await _post(observed, f"buffered-{i}") == 200
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
        await _lifespan(observed, "startup", asyncio.Queue())
        for i in range(3):
            assert await _post(observed, f"full-{i}") == 200
        return _ids(kept)

    assert asyncio.run(run()) == ["full-0", "full-1"]


def test_the_lifespan_end_writes_what_is_left(observed: Any, kept: _Kept) -> None:
    async def run() -> list[str]:
        queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        await _lifespan(observed, "startup", queue)
        assert await _post(observed, "last-one") == 200
        await _lifespan(observed, "shutdown", queue)
        return _ids(kept)

    assert asyncio.run(run()) == ["last-one"]
