"""The one error shape of the API and the handlers that produce it."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import Response

logger = logging.getLogger("flightontime.api")

# Error codes (stable, machine-readable); `mensagem` is for people.
INVALID_INPUT = "entrada_invalida"
UNAUTHORIZED = "nao_autorizado"
NOT_FOUND = "nao_encontrado"
METHOD_NOT_ALLOWED = "metodo_nao_permitido"
BODY_TOO_LARGE = "corpo_muito_grande"
BATCH_TOO_LARGE = "lote_muito_grande"
NOT_READY = "modelo_indisponivel"
INTERNAL = "erro_interno"

WWW_AUTHENTICATE = 'Bearer realm="flightontime"'


class JSONResponse(StarletteJSONResponse):
    """JSON response rendered with orjson (numpy-free dicts of plain Python values)."""

    def render(self, content: Any) -> bytes:
        """Serialise with orjson."""
        return orjson.dumps(content)


def error_body(
    codigo: str, mensagem: str, detalhes: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The error object every endpoint returns: {"erro": {codigo, mensagem, detalhes}}."""
    return {"erro": {"codigo": codigo, "mensagem": mensagem, "detalhes": detalhes or []}}


class ApiError(Exception):
    """An error answered in the API's error shape."""

    def __init__(
        self,
        status: int,
        codigo: str,
        mensagem: str,
        detalhes: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(mensagem)
        self.status = status
        self.codigo = codigo
        self.mensagem = mensagem
        self.detalhes = detalhes or []
        self.headers = headers

    def response(self) -> JSONResponse:
        """This error as an HTTP response."""
        return JSONResponse(
            error_body(self.codigo, self.mensagem, self.detalhes),
            status_code=self.status,
            headers=self.headers,
        )


def pydantic_details(errors: Any, strip_prefix: int = 1) -> list[dict[str, str]]:
    """Pydantic errors as detalhes: field path (dotted, without 'body'), reason, error type."""
    out: list[dict[str, str]] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))[strip_prefix:]
        kind = str(err.get("type", ""))
        if kind == "json_invalid":
            # loc holds the byte offset of the syntax error, not a field.
            ctx = err.get("ctx") or {}
            motivo = f"JSON malformado: {ctx.get('error', err.get('msg', ''))}"
            out.append({"campo": "body", "motivo": motivo, "tipo": kind})
            continue
        campo = ".".join(str(part) for part in loc) or "body"
        out.append({"campo": campo, "motivo": str(err.get("msg", "")), "tipo": kind})
    return out


_STATUS_CODES = {
    401: UNAUTHORIZED,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    413: BODY_TOO_LARGE,
    422: INVALID_INPUT,
    503: NOT_READY,
}


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        error_body(INVALID_INPUT, "Requisição inválida.", pydantic_details(exc.errors())),
        status_code=422,
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codigo = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    mensagem = {404: "Rota não encontrada.", 405: "Método não permitido nesta rota."}.get(
        exc.status_code, str(exc.detail)
    )
    return JSONResponse(
        error_body(codigo, mensagem),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected_error(_: Request, exc: Exception) -> Response:
    # A 500 is always a bug: log it with the traceback, answer without internals.
    logger.error("unhandled error", exc_info=exc)
    return JSONResponse(error_body(INTERNAL, "Erro interno do servidor."), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, including FastAPI's own, use the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
