"""What every request leaves behind: its request id (echoed), one JSON access line and the
request metrics.

Access lines are buffered and written together, at most ACCESS_LOG_FLUSH_S after their request
(at once when ACCESS_LOG_BUFFER are waiting, and when the app's lifespan ends), the way nginx
can buffer its access log: a line costs the worker less among many than alone after each
answer (`make bench-asgi` prints what the lines cost). Each line keeps its request's time; a
worker killed outright loses the lines of its last moments.

This is the one ASGI callable around the Litestar app, because Litestar's middleware (its
Prometheus and logging middleware included) runs inside a matched route's stack only: a request
for an unknown path or with a wrong method would be neither logged nor counted. Everything
else (auth, body limit, errors, OpenAPI, lifespan) is Litestar's own machinery.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from flightontime_server import metrics
from flightontime_server.logging import ACCESS_LOGGER

access_log = logging.getLogger(ACCESS_LOGGER)

# A client's request id is echoed and logged: short, and free of control characters.
_SAFE_REQUEST_ID: Final = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
ACCESS_LOG_FLUSH_S: Final = 0.01
ACCESS_LOG_BUFFER: Final = 1000


class Observer:
    """Request id (X-Request-ID in, or generated; echoed), access line, request metrics."""

    def __init__(
        self,
        app: ASGIApp,
        model_version: Callable[[], str | None],
        known_paths: frozenset[str] = frozenset(),
        *,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.model_version = model_version
        # A known path answered without a matched handler (405) keeps its own label.
        self.known_paths = known_paths
        self.requests = metrics.RequestMetrics()
        self.in_progress = metrics.HTTP_IN_PROGRESS
        # (time, fields) of the access lines not written yet.
        self._lines: list[tuple[float, dict[str, Any]]] = []
        self._write_scheduled = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one request (lifespan and other scopes pass through)."""
        if scope["type"] != ScopeType.HTTP:
            try:
                await self.app(scope, receive, send)
            finally:
                self.write_access_lines()  # the lifespan's end: nothing is left unwritten
            return
        await self._observe(scope, receive, send)

    def write_access_lines(self) -> None:
        """Write the buffered access lines, each with its request's time."""
        self._write_scheduled = False
        lines, self._lines = self._lines, []
        for created, fields in lines:
            record = access_log.makeRecord(
                access_log.name, logging.INFO, __file__, 0, "request", (), None,
                extra={"fields": fields},
            )  # fmt: skip
            record.created, record.msecs = created, (created % 1) * 1000
            access_log.handle(record)

    def _access_line(self, fields: dict[str, Any]) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        self._lines.append((time.time(), fields))
        if len(self._lines) >= ACCESS_LOG_BUFFER:
            self.write_access_lines()
        elif not self._write_scheduled:
            self._write_scheduled = True
            asyncio.get_running_loop().call_later(ACCESS_LOG_FLUSH_S, self.write_access_lines)

    async def _observe(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        request_id = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _SAFE_REQUEST_ID.match(value):
                    request_id = value
                break
        if not request_id:
            request_id = secrets.token_hex(16).encode()
        rid_header = (b"x-request-id", request_id)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        path: str = scope["path"]
        counted = path not in metrics.UNCOUNTED_PATHS
        if counted:
            self.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - start
            method: str = scope["method"]
            if counted:
                self.in_progress.dec()
                # Litestar names the matched route's template in the scope; none: unmatched.
                route: Any = scope.get("path_template") or (
                    path if path in self.known_paths else metrics.UNMATCHED_ROUTE
                )
                self.requests.record(route, method, status, duration)
            if self.access_log:
                # The path only: never the query string, a header or the body.
                self._access_line(
                    {
                        "method": method,
                        "path": path,
                        "status": status,
                        "duration_ms": round(duration * 1000, 3),
                        "request_id": request_id.decode(),
                        "model_version": self.model_version(),
                    }
                )
