"""GET /model: the served bundles' public manifest (the core's `describe()`), token needed."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency

from flightontime_core.service import PredictionService
from flightontime_server.routes.openapi import responses


@get(
    "/model",
    responses=responses(401, 503),
    summary="Manifesto do modelo servido",
    description=(
        "Versão, dados, divisão temporal, limiares e métricas do modelo padrão, e `bundles`: "
        "cada modelo servido; nada secreto."
    ),
    tags=["modelo"],
)
async def model(service: NamedDependency[PredictionService]) -> dict[str, Any]:
    """The bundles' public manifest."""
    return service.describe()
