"""The serving state the routes share: the core service once its bundle passed, or why not."""

from __future__ import annotations

from flightontime_core.service import PredictionService
from flightontime_server.errors import NOT_READY, ApiError, message


class ServingState:
    """The loaded service, or none yet (loading, waiting for the bundle, or rejected)."""

    def __init__(self, service: PredictionService | None = None) -> None:
        self.service = service
        self.failed = False

    def version(self) -> str | None:
        """The model version served, None before a bundle is loaded."""
        return self.service.version if self.service is not None else None

    def require(self, language: str) -> PredictionService:
        """The service, or 503 with Retry-After while there is none."""
        service = self.service
        if service is None:
            raise ApiError(
                503,
                NOT_READY,
                message("failed" if self.failed else "loading", language),
                headers={"Retry-After": "1"},
            )
        return service
