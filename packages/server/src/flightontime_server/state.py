"""The serving state the handlers share (in `app.state`), and the dependencies that hand it to
them: the core service once its bundle passed, or 503 while there is none."""

from __future__ import annotations

from typing import Final

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from flightontime_core.service import PredictionService
from flightontime_server.errors import NOT_READY, ApiError, message
from flightontime_server.language import provide_language
from flightontime_server.metrics import PendingPredictions


class ServingState:
    """The loaded service, or none yet (loading, waiting for the bundle, or rejected)."""

    def __init__(self, service: PredictionService | None = None) -> None:
        self.service = service
        self.failed = False
        # Single predictions reach the metrics in bulk (metrics.PendingPredictions).
        self.pending = PendingPredictions()

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


def provide_service(state: State, language: NamedDependency[str]) -> PredictionService:
    """The `service` dependency: the core service, or 503 while there is none."""
    serving: ServingState = state.serving
    return serving.require(language)


def provide_pending(state: State) -> PendingPredictions:
    """The `pending` dependency: predictions waiting for the metrics."""
    serving: ServingState = state.serving
    return serving.pending


# Plain functions, no I/O: run on the loop, not in a thread.
DEPENDENCIES: Final = {
    "language": Provide(provide_language, sync_to_thread=False),
    "service": Provide(provide_service, sync_to_thread=False),
    "pending": Provide(provide_pending, sync_to_thread=False),
}
