"""POST /predict and POST /predict/batch: the body read by the core (`body.py`), the core
service and the answer language injected, the contract's Structs returned."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody

from flightontime_core import contract
from flightontime_core.errors import FlightError
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import Flight
from flightontime_core.service import PredictionService
from flightontime_server.batching import Predictor
from flightontime_server.body import BatchBody, FlightBody
from flightontime_server.errors import flight_error_body, invalid_input, malformed_json
from flightontime_server.language import request_language
from flightontime_server.routes.openapi import responses
from flightontime_server.schemas import BatchResponse, ErrorResponse, PredictionResponse
from flightontime_server.state import pending


def _empty(language: str) -> Exception:
    # Litestar hands a DTO no empty body: the same answer as any other truncated JSON.
    return invalid_input(language, malformed_json("Input data was truncated", language))


@post(
    "/predict",
    status_code=200,
    dto=FlightBody,
    return_dto=None,
    responses=responses(400, 401, 413, 422, 503),
    summary="Previsão para um voo",
    description=(
        "Probabilidade de atraso na partida, com os fatores e avisos. Respostas em português; "
        "`Accept-Language: en` para inglês."
    ),
    tags=["previsão"],
)
async def predict(
    predictor: NamedDependency[Predictor],
    request: Request[Any, Any, State],
    data: JSONBody[Flight | None] = None,
) -> PredictionResponse:
    """One flight's answer: through the core's columnar path with the other /predict requests
    waiting on this worker's loop (batching.MicroBatcher), or alone."""
    language = request_language(request.headers.get("accept-language"))
    if data is None:
        raise _empty(language)
    answer = await predictor.answer(data, language)
    if isinstance(answer, FlightError):
        raise invalid_input(language, flight=answer)
    return answer


@post(
    "/predict/batch",
    status_code=200,
    dto=BatchBody,
    return_dto=None,
    responses=responses(400, 401, 413, 422, 503),
    summary="Previsão para vários voos",
    description=(
        "Até `FLIGHTONTIME_BATCH_MAX_FLIGHTS` voos (1000 por padrão) numa chamada vetorizada; "
        "cada voo recusado recebe sua própria entrada de erro, os outros são respondidos."
    ),
    tags=["previsão"],
)
async def predict_batch(
    service: NamedDependency[PredictionService],
    request: Request[Any, Any, State],
    data: JSONBody[FlightTable | None] = None,
) -> BatchResponse:
    """Every flight's answer or error, in request order."""
    language = request_language(request.headers.get("accept-language"))
    if data is None:
        raise _empty(language)
    start = time.perf_counter()
    table = service.predict_table(data)
    seconds = time.perf_counter() - start
    slots: list[PredictionResponse | ErrorResponse] = [
        flight_error_body(a, language) if isinstance(a, FlightError) else a
        for a in contract.answers(table, language, PredictionResponse)
    ]
    if table.rows.size:
        pending(request.app.state).batch(seconds, table)
    return BatchResponse(resultados=slots)
