"""How POST /predict reaches the core: one flight at a time, or micro-batched per event loop.

The core's one prediction path, `PredictionService.predict_table`, pays its per-call cost (numpy
overhead per operation) once whatever the batch size. `MicroBatcher` answers the /predict
requests that are waiting on this worker's event loop at the same moment with one call, the way
ML serving engines batch dynamically: a request queues its flight and a future; the first one
to queue schedules a flush on the loop (a zero-delay hop of two `loop.call_soon`s, no timer: a
lone request waits for no company, only for the loop to come round twice); the flush predicts
the queued flights in one `predict_table`, renders the answers once per language present, and
resolves each future with its own flight's answer, or its FlightError (the route's 422). If the
service raises, every waiting request gets the exception (each its 500, as alone). `Direct` is
the old way, one call per request (FLIGHTONTIME_MICRO_BATCH=false).

The flush runs synchronously on the loop, as a lone request's prediction did: it is CPU work,
short, and a thread hop would cost more than it saves.
"""

from __future__ import annotations

import abc
import asyncio
import time
from typing import TypeAlias

from flightontime_core import contract
from flightontime_core.errors import FlightError
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import Flight
from flightontime_core.service import PredictionService
from flightontime_server.metrics import PendingPredictions
from flightontime_server.schemas import PredictionResponse

Answer: TypeAlias = "PredictionResponse | FlightError"


class Predictor(abc.ABC):
    """Answers one flight in a language: the contract's answer, or its FlightError."""

    def __init__(self, service: PredictionService, pending: PendingPredictions) -> None:
        self.service = service
        self.pending = pending

    @abc.abstractmethod
    async def answer(self, flight: Flight, language: str) -> Answer:
        """The flight's answer (raises what the service raises)."""

    def answer_all(self, flights: list[Flight], languages: list[str]) -> list[Answer]:
        """Each flight's answer in its language, from one `predict_table` call: the answers
        rendered once per language present, the call observed once in the metrics."""
        start = time.perf_counter()
        table = self.service.predict_table(FlightTable.from_flights(flights))
        seconds = time.perf_counter() - start
        rendered = {
            language: contract.answers(table, language, PredictionResponse)
            for language in set(languages)
        }
        if table.rows.size:
            self.pending.single(seconds, table)
        return [rendered[language][i] for i, language in enumerate(languages)]


class Direct(Predictor):
    """One `predict_table` per request, on the request's own turn."""

    async def answer(self, flight: Flight, language: str) -> Answer:
        """A batch of one through the core's columnar path."""
        (answer,) = self.answer_all([flight], [language])
        return answer


_Waiting: TypeAlias = "tuple[Flight, str, asyncio.Future[Answer]]"


class MicroBatcher(Predictor):
    """The requests queued on this event loop since the last flush, answered by one call."""

    def __init__(
        self, service: PredictionService, pending: PendingPredictions, max_flights: int
    ) -> None:
        super().__init__(service, pending)
        self.max_flights = max(1, max_flights)
        self._queue: list[_Waiting] = []
        self._scheduled = False

    async def answer(self, flight: Flight, language: str) -> Answer:
        """Queue the flight, schedule a flush unless one is, wait for the flight's answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._queue.append((flight, language, future))
        if not self._scheduled:
            self._scheduled = True
            # A zero-delay hop: the flush runs on the loop's turn after next, so the requests
            # whose bytes arrived with this one and are one step behind it join the batch
            # (a single call_soon left them out more often under load).
            loop.call_soon(loop.call_soon, self.flush)
        return await future

    def flush(self) -> None:
        """Answer up to `max_flights` queued requests with one `predict_table` call (and
        schedule the next flush when more are queued)."""
        self._scheduled = False
        taken, self._queue = self._queue[: self.max_flights], self._queue[self.max_flights :]
        if self._queue:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)  # already waited their hop
        # A request whose client went away was cancelled: its flight is not predicted.
        waiting = [w for w in taken if not w[2].done()]
        if not waiting:
            return
        # One observation per flush, every flight counted once (`answer_all`): the inference
        # histogram times `predict_table` calls (as for /predict/batch, one per call), and the
        # flush is one call; observing its seconds once per request would repeat the same
        # call's time n times and pull the quantiles toward the larger flushes.
        try:
            answers = self.answer_all([w[0] for w in waiting], [w[1] for w in waiting])
        except Exception as exc:  # each request raises it: its 500, as alone
            for _, _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for answer, (_, _, future) in zip(answers, waiting, strict=True):
            if not future.done():
                future.set_result(answer)
