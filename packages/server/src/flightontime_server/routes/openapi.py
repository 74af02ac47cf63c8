"""What the OpenAPI document says beyond the handlers' signatures: the error answers."""

from __future__ import annotations

from typing import Final

from litestar.openapi.datastructures import ResponseSpec

from flightontime_server.schemas import ErrorResponse

SECURITY: Final[list[dict[str, list[str]]]] = [{"token": []}]

_ERRORS: Final = {
    # Litestar documents a 400 for every operation with a body; answered in the one shape.
    400: "Requisição malformada.",
    401: "Token ausente ou inválido.",
    413: "Corpo ou lote grande demais.",
    422: "Entrada inválida (campo e motivo em `detalhes`).",
    503: "Modelo ainda não carregado (com Retry-After).",
}


def responses(*errors: int) -> dict[int, ResponseSpec]:
    """The documented error answers of an operation (the one error shape)."""
    return {
        code: ResponseSpec(
            data_container=ErrorResponse, description=_ERRORS[code], generate_examples=False
        )
        for code in errors
    }
