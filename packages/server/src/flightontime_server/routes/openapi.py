"""The request bodies and response shapes in the OpenAPI document.

Bodies are decoded by the routes straight from bytes with strict msgspec decoders (Litestar's
`data` parameter converts leniently: a number would pass for text, text for a number), so each
operation names its body through `operation_class`; the components are msgspec's JSON Schema of
the same Structs that validate (bounds, patterns, examples), merged into Litestar's document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, Operation, Reference, RequestBody

from flightontime_server import schemas

REF: Final = "#/components/schemas/{name}"
COMPONENTS: Final = (
    schemas.FlightRequest,
    schemas.BatchRequest,
    schemas.PredictionResponse,
    schemas.BatchResponse,
    schemas.ErrorResponse,
    schemas.HealthResponse,
)
EXAMPLES: Final = {
    "FlightRequest": schemas.FLIGHT_EXAMPLE,
    "BatchRequest": schemas.BATCH_EXAMPLE,
}
SECURITY: Final[list[dict[str, list[str]]]] = [{"token": []}]


def _body(name: str) -> RequestBody:
    return RequestBody(
        required=True,
        content={"application/json": OpenAPIMediaType(schema=Reference(ref=REF.format(name=name)))},
    )


@dataclass
class FlightOperation(Operation):
    """An operation whose body is a FlightRequest."""

    def __post_init__(self) -> None:
        self.request_body = _body("FlightRequest")


@dataclass
class BatchOperation(Operation):
    """An operation whose body is a BatchRequest."""

    def __post_init__(self) -> None:
        self.request_body = _body("BatchRequest")


_ERRORS: Final = {
    401: "Token ausente ou inválido.",
    413: "Corpo ou lote grande demais.",
    422: "Entrada inválida (campo e motivo em `detalhes`).",
    503: "Modelo ainda não carregado (com Retry-After).",
}


def responses(success: Any, *errors: int) -> dict[int, ResponseSpec]:
    """The documented answers of an operation: its success shape and its error statuses."""
    out = {
        code: ResponseSpec(
            data_container=schemas.ErrorResponse, description=_ERRORS[code], generate_examples=False
        )
        for code in errors
    }
    if success is not None:  # a Struct, or a plain type (the manifest: dict[str, Any])
        out[200] = ResponseSpec(data_container=success, description="OK", generate_examples=False)
    return out


def complete(document: OpenAPI) -> None:
    """Add the Structs' JSON Schemas (with the working examples) to Litestar's document."""
    _, components = msgspec.json.schema_components(COMPONENTS, ref_template=REF)
    for name, example in EXAMPLES.items():
        components[name]["examples"] = [example]
    if document.components.schemas is None:
        document.components.schemas = {}
    generated: dict[str, Any] = document.components.schemas
    generated.update(components)
