"""POST /predict and POST /predict/batch.

The fast path decodes the body straight into the contract's Structs (one strict msgspec pass,
bounds included) and hands the core's service Flights. When that decode fails, the raw JSON is
decoded and the core finds the problems (`contract.flight_from_json`, then the service's own
checks), so every reason is the core's, in the request's language; malformed JSON is a `body`
problem.
"""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from flightontime_core import contract
from flightontime_core.errors import FlightError
from flightontime_core.flights import Flight
from flightontime_core.messages import problem_text
from flightontime_core.prediction import Prediction
from flightontime_server import schemas
from flightontime_server.auth import TokenGuard
from flightontime_server.errors import (
    BATCH_TOO_LARGE,
    INVALID_INPUT,
    ApiError,
    Detail,
    flight_details,
    flight_error_body,
    malformed_json,
    message,
    respond,
)
from flightontime_server.language import request_language
from flightontime_server.metrics import PendingPredictions
from flightontime_server.routes.openapi import (
    SECURITY,
    BatchOperation,
    FlightOperation,
    responses,
)
from flightontime_server.state import ServingState

_FLIGHT: Final = msgspec.json.Decoder(schemas.FlightRequest)
_BATCH: Final = msgspec.json.Decoder(schemas.BatchRequest)
_ANY: Final = msgspec.json.Decoder()

Body = Response[bytes]


def _invalid(language: str, detalhes: list[Detail], key: str = "invalid_request") -> ApiError:
    return ApiError(422, INVALID_INPUT, message(key, language), detalhes)


def _raw(body: bytes, language: str) -> Any:
    """The body as plain JSON values; 422 naming `body` when it is not JSON."""
    try:
        return _ANY.decode(body)
    except msgspec.DecodeError as exc:
        raise _invalid(language, malformed_json(exc, language)) from None


def decode_flight(body: bytes, language: str) -> Flight:
    """The body's flight: the Struct's fast path, else the core's verdict (422 on a problem)."""
    try:
        return _FLIGHT.decode(body).flight()
    except msgspec.DecodeError:
        pass
    flight = contract.flight_from_json(_raw(body, language))
    if isinstance(flight, FlightError):
        raise _invalid(language, flight_details(flight, language), "invalid_flight")
    return flight


def _problem(field: str, code: str, language: str, **params: Any) -> Detail:
    return {"campo": field, "motivo": problem_text(code, params, language), "tipo": code}


def decode_batch(body: bytes, language: str) -> list[Flight | FlightError]:
    """The batch's flights in request order, each refused one as its FlightError."""
    try:
        return [f.flight() for f in _BATCH.decode(body).voos]
    except msgspec.DecodeError:
        pass
    data = _raw(body, language)
    if not isinstance(data, dict):
        raise _invalid(language, [_problem("body", "wrong_type", language, expected="object")])
    items = data.get("voos")
    if items is None:
        raise _invalid(language, [_problem("voos", "required", language)])
    if not isinstance(items, list):
        raise _invalid(language, [_problem("voos", "wrong_type", language, expected="array")])
    return [contract.flight_from_json(item) for item in items]


def predict_routes(
    state: ServingState,
    guard: TokenGuard,
    pending: PendingPredictions,
    batch_max_flights: int,
) -> list[HTTPRouteHandler]:
    """The prediction handlers over the shared state."""

    @post(
        "/predict",
        status_code=200,
        guards=[guard],
        operation_class=FlightOperation,
        responses=responses(schemas.PredictionResponse, 401, 413, 422, 503),
        security=SECURITY,
        summary="Previsão para um voo",
        description=(
            "Probabilidade de atraso na partida, com os fatores e avisos. Respostas em português; "
            "`Accept-Language: en` para inglês."
        ),
        tags=["previsão"],
    )
    async def predict(request: Request[Any, Any, Any]) -> Body:
        language = request_language(request.headers.get("accept-language"))
        flight = decode_flight(await request.body(), language)
        service = state.require(language)
        start = time.perf_counter()
        try:
            prediction = service.predict(flight)
        except FlightError as exc:
            raise _invalid(language, flight_details(exc, language), "invalid_flight") from None
        pending.single(time.perf_counter() - start, prediction)
        return respond(200, contract.answer(prediction, language))

    @post(
        "/predict/batch",
        status_code=200,
        guards=[guard],
        operation_class=BatchOperation,
        responses=responses(schemas.BatchResponse, 401, 413, 422, 503),
        security=SECURITY,
        summary="Previsão para vários voos",
        description=(
            f"Até {batch_max_flights} voos numa chamada vetorizada; cada voo recusado recebe sua "
            "própria entrada de erro, os outros são respondidos."
        ),
        tags=["previsão"],
    )
    async def predict_batch(request: Request[Any, Any, Any]) -> Body:
        language = request_language(request.headers.get("accept-language"))
        flights = decode_batch(await request.body(), language)
        if len(flights) > batch_max_flights:
            raise ApiError(
                413,
                BATCH_TOO_LARGE,
                message("batch_too_large", language, count=len(flights), limit=batch_max_flights),
                [
                    {
                        "campo": "voos",
                        "motivo": message("batch_limit", language, limit=batch_max_flights),
                        "tipo": "max_length",
                    }
                ],
            )
        service = state.require(language)
        start = time.perf_counter()
        results = service.predict_many(flights) if flights else []
        seconds = time.perf_counter() - start
        predictions = [r for r in results if isinstance(r, Prediction)]
        answered = iter(contract.answers(predictions, language))
        slots = [
            next(answered) if isinstance(r, Prediction) else flight_error_body(r, language)
            for r in results
        ]
        if predictions:
            pending.batch(seconds, predictions)
        return respond(200, {"resultados": slots})

    return [predict, predict_batch]
