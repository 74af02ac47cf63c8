"""GET /model: the served bundle's public manifest (the core's `describe()`), token needed."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from flightontime_server.auth import TokenGuard
from flightontime_server.errors import respond
from flightontime_server.language import request_language
from flightontime_server.routes.openapi import SECURITY, responses
from flightontime_server.state import ServingState


def model_routes(state: ServingState, guard: TokenGuard) -> list[HTTPRouteHandler]:
    """The model handler over the shared state."""

    @get(
        "/model",
        guards=[guard],
        responses=responses(dict[str, Any], 401, 503),
        security=SECURITY,
        summary="Manifesto do modelo servido",
        description="Versão, dados, divisão temporal, limiares e métricas; nada secreto.",
        tags=["modelo"],
    )
    async def model(request: Request[Any, Any, Any]) -> Response[bytes]:
        """The bundle's public manifest."""
        service = state.require(request_language(request.headers.get("accept-language")))
        return respond(200, service.describe())

    return [model]
