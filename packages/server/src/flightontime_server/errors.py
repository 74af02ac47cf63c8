"""The one error shape and the one mapping from exceptions to responses.

Every answer that is not a prediction is `{"erro": {"codigo", "mensagem", "detalhes"}}`, in the
request's language, whatever raised it: this adapter (`ApiError`), Litestar (404, 405, 413 from
`request_max_body_size`) or a bug (500, logged with its traceback, answered without internals).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from flightontime_core import contract
from flightontime_core.errors import FlightError, NotReadyError
from flightontime_core.messages import problem_text
from flightontime_server.language import request_language
from flightontime_server.schemas import ErrorDetail, ErrorInfo, ErrorResponse

logger = logging.getLogger("flightontime_server")

# Error codes: stable, for machines; `mensagem` is for people.
INVALID_INPUT: Final = "entrada_invalida"
UNAUTHORIZED: Final = "nao_autorizado"
NOT_FOUND: Final = "nao_encontrado"
METHOD_NOT_ALLOWED: Final = "metodo_nao_permitido"
BODY_TOO_LARGE: Final = "corpo_muito_grande"
BATCH_TOO_LARGE: Final = "lote_muito_grande"
NOT_READY: Final = "modelo_indisponivel"
INTERNAL: Final = "erro_interno"

WWW_AUTHENTICATE: Final = 'Bearer realm="flightontime"'
# msgspec.DecodeError's "... (byte 12)".
_BYTE: Final = re.compile(r"\(byte (\d+)\)")

# The transport's own sentences (the core words everything about flights).
MESSAGES: Final[dict[str, dict[str, str]]] = {
    "pt": {
        "invalid_flight": "Voo inválido.",
        "invalid_request": "Requisição inválida.",
        "missing_token": (  # nosec B105 (a message key)
            "Token ausente. Envie o cabeçalho Authorization com o token (puro ou Bearer)."
        ),
        "wrong_token": (  # nosec B105 (a message key)
            "Token inválido. Envie o cabeçalho Authorization com o token (puro ou Bearer)."
        ),
        "not_found": "Rota não encontrada.",
        "method_not_allowed": "Método não permitido nesta rota.",
        "body_too_large": "Corpo da requisição maior que o limite de {limit} bytes.",
        "batch_too_large": "Lote com {count} voos; o limite é {limit}.",
        "batch_limit": "no máximo {limit} voos",
        "loading": "Modelo ainda carregando; tente novamente em instantes.",
        "failed": "Modelo com falha ao carregar; veja os logs do servidor.",
        "internal": "Erro interno do servidor.",
        "http": "Erro HTTP {status}.",
    },
    "en": {
        "invalid_flight": "Invalid flight.",
        "invalid_request": "Invalid request.",
        "missing_token": (  # nosec B105 (a message key)
            "Missing token. Send the Authorization header with the token (raw or Bearer)."
        ),
        "wrong_token": (  # nosec B105 (a message key)
            "Invalid token. Send the Authorization header with the token (raw or Bearer)."
        ),
        "not_found": "Route not found.",
        "method_not_allowed": "Method not allowed on this route.",
        "body_too_large": "Request body larger than the limit of {limit} bytes.",
        "batch_too_large": "Batch of {count} flights; the limit is {limit}.",
        "batch_limit": "at most {limit} flights",
        "loading": "Model still loading; try again shortly.",
        "failed": "Model failed to load; see the server logs.",
        "internal": "Internal server error.",
        "http": "HTTP error {status}.",
    },
}


def message(key: str, language: str, **params: Any) -> str:
    """One of the transport's sentences in `language`."""
    text = MESSAGES.get(language, MESSAGES["pt"])[key]
    return text.format(**params) if params else text


def error_body(codigo: str, mensagem: str, detalhes: Sequence[ErrorDetail] = ()) -> ErrorResponse:
    """The error object: {"erro": {codigo, mensagem, detalhes}}."""
    return ErrorResponse(erro=ErrorInfo(codigo=codigo, mensagem=mensagem, detalhes=list(detalhes)))


def _field(name: str) -> str:
    # The core calls the flight as a whole "flight"; over HTTP it is the body (or a batch entry).
    return "body" if name == "flight" else name


def flight_details(error: FlightError, language: str) -> list[ErrorDetail]:
    """A FlightError's problems as `detalhes`, named as the contract and worded by the core."""
    return [
        ErrorDetail(campo=_field(field), motivo=reason, tipo=code)
        for field, reason, code in contract.problems(error, language)
    ]


def problem_detail(
    field: str, code: str, language: str, expected: str | None = None
) -> ErrorDetail:
    """One problem of the request's shape, worded by the core."""
    params = {} if expected is None else {"expected": expected}
    return ErrorDetail(campo=field, motivo=problem_text(code, params, language), tipo=code)


def json_position(text: str) -> dict[str, Any]:
    """Where msgspec's decode error says the JSON broke: {"byte": N}, {"truncated": True} or
    nothing (its message is English, so only the position reaches the answer)."""
    at = _BYTE.search(text)
    if at is not None:
        return {"byte": int(at.group(1))}
    if "truncated" in text:
        return {"truncated": True}
    return {}


def malformed_json(error: str, language: str) -> list[ErrorDetail]:
    """`detalhes` for a body that is not JSON (`error`: msgspec's message)."""
    reason = problem_text("invalid_json", json_position(error), language)
    return [ErrorDetail(campo="body", motivo=reason, tipo="invalid_json")]


def flight_error_body(error: FlightError, language: str) -> ErrorResponse:
    """The error entry of one refused flight."""
    return error_body(
        INVALID_INPUT, message("invalid_flight", language), flight_details(error, language)
    )


class ApiError(Exception):
    """An error answered in the error shape."""

    def __init__(
        self,
        status: int,
        codigo: str,
        mensagem: str,
        detalhes: Sequence[ErrorDetail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(mensagem)
        self.status = status
        self.body = error_body(codigo, mensagem, detalhes)
        self.headers = dict(headers or {})


def invalid_input(
    language: str, detalhes: Sequence[ErrorDetail] = (), flight: FlightError | None = None
) -> ApiError:
    """422: the request (or, given `flight`, the flight and its problems) cannot be used."""
    if flight is not None:
        return ApiError(
            422,
            INVALID_INPUT,
            message("invalid_flight", language),
            flight_details(flight, language),
        )
    return ApiError(422, INVALID_INPUT, message("invalid_request", language), detalhes)


def _api_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    assert isinstance(exc, ApiError)
    return Response(exc.body, status_code=exc.status, headers=exc.headers)


def _not_ready(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    # No verified model yet (loading, waiting for the bundle) or it failed: 503, retry soon.
    language = request_language(request.headers.get("accept-language"))
    key = "failed" if str(exc) == "failed" else "loading"
    body = error_body(NOT_READY, message(key, language))
    return Response(body, status_code=503, headers={"Retry-After": "1"})


# Litestar's own HTTP errors (routing, the body size limit, ...) in our shape.
_HTTP_CODES: Final = {
    401: (UNAUTHORIZED, "missing_token"),
    404: (NOT_FOUND, "not_found"),
    405: (METHOD_NOT_ALLOWED, "method_not_allowed"),
    413: (BODY_TOO_LARGE, "body_too_large"),
}


def http_error_handler(max_body_bytes: int) -> Any:
    """The handler of Litestar's HTTPExceptions (the body limit is named in its message)."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
        assert isinstance(exc, HTTPException)
        language = request_language(request.headers.get("accept-language"))
        status = exc.status_code
        if status >= 500:
            return _internal_error(request, exc)
        codigo, key = _HTTP_CODES.get(status, (INVALID_INPUT, "http"))
        text = message(key, language, limit=max_body_bytes, status=status)
        headers = dict(exc.headers or {})
        if status == 413:
            # The unread rest of the body makes the connection unusable.
            headers["Connection"] = "close"
        return Response(error_body(codigo, text), status_code=status, headers=headers)

    return handle


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    # A 500 is always a bug: the log has the traceback, the answer no internals.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    language = request_language(request.headers.get("accept-language"))
    return Response(error_body(INTERNAL, message("internal", language)), status_code=500)


def exception_handlers(max_body_bytes: int) -> ExceptionHandlersMap:
    """Every exception -> the error shape."""
    return {
        ApiError: _api_error,
        NotReadyError: _not_ready,
        HTTPException: http_error_handler(max_body_bytes),
        Exception: _internal_error,
    }
