"""Pure ASGI middlewares: request id + access log + request metrics, and the body size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightontime.api import metrics
from flightontime.api.errors import BODY_TOO_LARGE, error_body
from flightontime.api.logs import ACCESS_LOGGER

access_log = logging.getLogger(ACCESS_LOGGER)

# A client's request id is echoed and logged, so keep it short and free of control characters.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class ObservabilityMiddleware:
    """Request id (X-Request-ID in or generated, echoed), one JSON log line, request metrics."""

    def __init__(
        self, app: ASGIApp, model_version: Callable[[], str | None], routes: frozenset[str]
    ) -> None:
        self.app = app
        self.model_version = model_version
        # Every route is a fixed path: known paths are their own label, anything else shares
        # one label so that scanners cannot blow up the metrics' cardinality.
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SAFE_REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        if not request_id:
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        rid_header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), rid_header]}
            await send(message)

        counted = scope["path"] not in metrics.UNCOUNTED_PATHS
        if counted:
            metrics.HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - start
            method = scope["method"]
            if counted:
                metrics.HTTP_IN_PROGRESS.dec()
                route = scope["path"] if scope["path"] in self.routes else "unmatched"
                metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
                metrics.HTTP_DURATION.labels(route, method).observe(duration)
            # Path only: no query string, headers or body (they may carry the token or data).
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(duration * 1000, 3),
                        "request_id": request_id,
                        "model_version": self.model_version(),
                    }
                },
            )


class BodyLimitMiddleware:
    """413 for bodies over the limit, checked on Content-Length and while reading (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = orjson.dumps(
            error_body(
                BODY_TOO_LARGE, f"Corpo da requisição maior que o limite de {self.max_bytes} bytes."
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The unread rest of the body makes the connection unusable.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body (bounded) before the app sees it."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await self._reject(send)
                    return
                break
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away before sending the body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await self.app(scope, replay, send)
