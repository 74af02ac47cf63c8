"""The serving state the handlers share (in `app.state`), and the dependencies that hand it to
them: the core service once its bundle passed, or 503 while there is none."""

from __future__ import annotations

from typing import Final

from litestar.datastructures import State
from litestar.di import Provide

from flightontime_core.errors import NotReadyError
from flightontime_core.service import PredictionService
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


def provide_service(state: State) -> PredictionService:
    """The `service` dependency: the core service, or NotReadyError (503, in the request's
    language, by the exception handlers) while there is none."""
    serving: ServingState = state.serving
    service = serving.service
    if service is None:
        raise NotReadyError("failed" if serving.failed else "loading")
    return service


def pending(state: State) -> PendingPredictions:
    """Predictions waiting for the metrics (the app's, in its state)."""
    serving: ServingState = state.serving
    return serving.pending


# The one dependency: a plain function, no I/O, run on the loop, not in a thread. (Litestar
# resolves dependencies of the same depth in a task group, which costs more than these
# functions; the answer language is a plain function of the request's header.)
DEPENDENCIES: Final = {"service": Provide(provide_service, sync_to_thread=False)}
