"""The serving state the handlers share (in `app.state`), and the dependencies that hand it to
them: the core service once its bundle passed (and /predict's way to it, micro-batched or
not), or 503 while there is none."""

from __future__ import annotations

from typing import Final

from litestar.datastructures import State
from litestar.di import Provide

from flightontime_core.errors import NotReadyError
from flightontime_core.service import PredictionService
from flightontime_server.batching import Direct, MicroBatcher, Predictor
from flightontime_server.metrics import PendingPredictions


class ServingState:
    """The loaded service, or none yet (loading, waiting for the bundle, or rejected)."""

    def __init__(
        self,
        service: PredictionService | None = None,
        *,
        micro_batch: bool = True,
        max_flights: int = 1000,
    ) -> None:
        self.failed = False
        # Single predictions reach the metrics in bulk (metrics.PendingPredictions).
        self.pending = PendingPredictions()
        self.micro_batch = micro_batch
        self.max_flights = max_flights
        self.service: PredictionService | None = None
        self.predictor: Predictor | None = None
        if service is not None:
            self.serve(service)

    def serve(self, service: PredictionService) -> None:
        """Serve `service` from now on (and /predict through it, micro-batched or not)."""
        self.predictor = (
            MicroBatcher(service, self.pending, self.max_flights)
            if self.micro_batch
            else Direct(service, self.pending)
        )
        self.service = service

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


def provide_predictor(state: State) -> Predictor:
    """The `predictor` dependency (POST /predict's way to the service), or NotReadyError
    while there is no service."""
    serving: ServingState = state.serving
    predictor = serving.predictor
    if predictor is None:
        raise NotReadyError("failed" if serving.failed else "loading")
    return predictor


def pending(state: State) -> PendingPredictions:
    """Predictions waiting for the metrics (the app's, in its state)."""
    serving: ServingState = state.serving
    return serving.pending


# One dependency per handler: a plain function, no I/O, run on the loop, not in a thread.
# (Litestar resolves dependencies of the same depth in a task group, which costs more than
# these functions; the answer language is a plain function of the request's header.)
DEPENDENCIES: Final = {
    "service": Provide(provide_service, sync_to_thread=False),
    "predictor": Provide(provide_predictor, sync_to_thread=False),
}
