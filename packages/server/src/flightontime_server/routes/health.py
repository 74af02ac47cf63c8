"""GET /health (liveness), GET /ready (readiness) and GET /metrics (Prometheus); no token."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from flightontime_server import metrics, schemas
from flightontime_server.errors import respond
from flightontime_server.language import request_language
from flightontime_server.metrics import PendingPredictions
from flightontime_server.routes.openapi import responses
from flightontime_server.state import ServingState

_ALIVE = respond(200, {"status": "ok"}).content


def health_routes(state: ServingState, pending: PendingPredictions) -> list[HTTPRouteHandler]:
    """The probe and scrape handlers over the shared state."""

    @get(
        "/health",
        responses=responses(schemas.HealthResponse),
        summary="Vivacidade (sem autenticação)",
        tags=["operação"],
    )
    async def health() -> Response[bytes]:
        """The process answers; no model work."""
        return Response(_ALIVE, media_type="application/json")

    @get(
        "/ready",
        responses=responses(schemas.HealthResponse, 503),
        summary="Prontidão (sem autenticação)",
        description="200 quando o modelo foi verificado e passou no autoteste; 503 antes.",
        tags=["operação"],
    )
    async def ready(request: Request[Any, Any, Any]) -> Response[bytes]:
        """200 once the bundle is verified and its self-test passed."""
        service = state.require(request_language(request.headers.get("accept-language")))
        return respond(200, {"status": "pronto", "versao_modelo": service.version})

    @get("/metrics", include_in_schema=False)
    async def prometheus() -> Response[bytes]:
        """Prometheus text exposition, summed over the workers."""
        pending.flush()  # this worker's latest; the others' are at most a second old
        content, content_type = metrics.exposition()
        return Response(content, media_type=content_type)

    return [health, ready, prometheus]
