"""GET /health (liveness), GET /ready (readiness) and GET /metrics (Prometheus); no token."""

from __future__ import annotations

from typing import Final

from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from flightontime_core.service import PredictionService
from flightontime_server import metrics
from flightontime_server.routes.openapi import responses
from flightontime_server.schemas import HealthResponse
from flightontime_server.state import pending

_ALIVE: Final = HealthResponse(status="ok")


@get("/health", summary="Vivacidade (sem autenticação)", tags=["operação"])
async def health() -> HealthResponse:
    """The process answers; no model work."""
    return _ALIVE


@get(
    "/ready",
    responses=responses(503),
    summary="Prontidão (sem autenticação)",
    description="200 quando o modelo foi verificado e passou no autoteste; 503 antes.",
    tags=["operação"],
)
async def ready(service: NamedDependency[PredictionService]) -> HealthResponse:
    """200 once the bundle is verified and its self-test passed."""
    return HealthResponse(status="pronto", versao_modelo=service.version)


@get("/metrics", include_in_schema=False)
async def prometheus(state: State) -> Response[bytes]:
    """Prometheus text exposition, summed over the workers."""
    pending(state).flush()  # this worker's latest; the others' are at most a second old
    content, content_type = metrics.exposition()
    return Response(content, media_type=content_type)
