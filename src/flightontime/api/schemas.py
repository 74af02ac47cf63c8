"""Request and response schemas of the HTTP API (field names kept from the Java contract)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter, with_config
from typing_extensions import TypedDict

# The request the Java backend sends today; the docs' examples are this one and work as shown.
CONTRACT_EXAMPLE: dict[str, Any] = {
    "companhia": "AZU",
    "origem": "SBKP",
    "destino": "SBRP",
    "data_partida": "2025-11-10T14:30:00",
    "distancia_m": 218000,
}

# Longest great-circle distance between two points on Earth is about 20,015 km.
MAX_DISTANCE_M = 20_000_000.0
# Departures outside these years are typos, not flights; also keeps time zone maths in range.
MIN_YEAR, MAX_YEAR = 1950, 2100


def _bounded(lo: float, hi: float, description: str) -> Any:
    return Field(ge=lo, le=hi, allow_inf_nan=False, description=description)


# Requests are TypedDicts, not models: pydantic-core validates them into plain dicts in half the
# time it takes to build model instances (measured on a 1000-flight batch), and every check is
# a declared constraint, so no Python runs per flight while validating.


@with_config(ConfigDict(extra="forbid"))
class Clima(TypedDict, total=False):
    """Forecast at the origin for the departure hour, metric units; any subset."""

    temperatura_c: Annotated[float | None, _bounded(-90, 60, "Temperatura do ar, °C.")]
    ponto_orvalho_c: Annotated[float | None, _bounded(-90, 60, "Ponto de orvalho, °C.")]
    umidade_pct: Annotated[float | None, _bounded(0, 100, "Umidade relativa, %.")]
    vento_direcao_graus: Annotated[float | None, _bounded(0, 360, "Direção do vento, graus.")]
    vento_kmh: Annotated[float | None, _bounded(0, 450, "Velocidade do vento, km/h.")]
    rajada_kmh: Annotated[float | None, _bounded(0, 450, "Rajada, km/h.")]
    precipitacao_mm: Annotated[float | None, _bounded(0, 500, "Precipitação na hora, mm.")]
    pressao_hpa: Annotated[float | None, _bounded(850, 1100, "Pressão ao nível do mar, hPa.")]
    visibilidade_km: Annotated[float | None, _bounded(0, 100, "Visibilidade, km.")]


AirportCode = Annotated[
    str,
    Field(
        pattern=r"^\s*[A-Za-z0-9]{3,4}\s*$",
        description="Código ICAO (SBGR) ou IATA (GRU) do aeroporto, maiúsculas ou minúsculas.",
    ),
]

# Strict: text only (a number would be read as a Unix timestamp) with a date and a time (a bare
# date would become midnight); both more likely a client bug than a departure. The years bound
# typos and keep time zone arithmetic in range (compared on the wall clock, offset or not).
Departure = Annotated[
    datetime,
    Strict(),
    Field(
        ge=datetime(MIN_YEAR, 1, 1),
        lt=datetime(MAX_YEAR + 1, 1, 1),
        description=(
            "Partida prevista, ISO 8601 (`2025-11-10T14:30:00`). Sem fuso: hora local do "
            "aeroporto de origem; com fuso (`-03:00`, `Z`): convertida para a hora local da origem."
        ),
    ),
]


Distance = Annotated[
    float | None,
    Field(
        gt=0,
        le=MAX_DISTANCE_M,
        allow_inf_nan=False,
        description="Distância em metros; calculada pelas coordenadas dos aeroportos se ausente.",
    ),
]


@with_config(ConfigDict(extra="ignore", json_schema_extra={"examples": [CONTRACT_EXAMPLE]}))
class FlightRequest(TypedDict):
    """One flight to predict (the Java backend's request; extra fields are ignored)."""

    companhia: Annotated[
        str,
        Field(
            pattern=r"^\s*[A-Za-z0-9]{2,3}\s*$",
            description="Código ICAO (AZU) ou IATA (AD) da companhia aérea.",
        ),
    ]
    origem: AirportCode
    destino: AirportCode
    data_partida: Departure
    distancia_m: NotRequired[Distance]
    clima: NotRequired[
        Annotated[Clima | None, Field(description="Previsão do tempo na origem (opcional).")]
    ]


FLIGHT = TypeAdapter(FlightRequest)


def flight_from_values(data: Any) -> FlightRequest:
    """Validate a flight given as values parsed from JSON (a batch item, the CLI's options) by
    the rules of a JSON body: strict fields read text as text, so the values go back to JSON."""
    return FLIGHT.validate_json(json.dumps(data))


class BatchRequest(BaseModel):
    """Several flights in one call; each one is validated on its own."""

    # Items are validated one by one in the endpoint so that one bad flight gets its own error
    # entry instead of failing the whole batch; the schema still documents them as flights.
    voos: list[Any] = Field(
        json_schema_extra={"items": {"$ref": "#/components/schemas/FlightRequest"}},
        description="Voos no formato de `POST /predict`.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"voos": [CONTRACT_EXAMPLE]}]})


class ValidBatch(TypedDict):
    """A batch whose every flight is valid (the fast path; not part of the public schema)."""

    voos: list[FlightRequest]


VALID_BATCH = TypeAdapter(ValidBatch)


class PredictionResponse(BaseModel):
    """The answer for one flight."""

    previsao: int = Field(description="1 = atrasado, 0 = pontual (contrato original).")
    probabilidade: float = Field(
        description="Probabilidade (0..1, 4 casas) de atraso de pelo menos o limiar principal."
    )
    status: str = Field(description='"Atrasado" ou "Pontual" (o mesmo que `previsao`).')
    limiar_decisao: float = Field(description="Probabilidade a partir da qual previsao = 1.")
    probabilidades: dict[str, float] = Field(
        description="Probabilidade de atraso de pelo menos N minutos, para cada limiar do modelo."
    )
    probabilidade_cancelamento: float | None = Field(
        description="Probabilidade de cancelamento; null se o modelo não tem essa parte."
    )
    versao_modelo: str
    fatores: list[str] = Field(description="Os três fatores que mais pesaram nesta previsão.")
    avisos: list[str] = Field(description="Avisos sobre a entrada (ex. companhia desconhecida).")


class ErrorDetail(BaseModel):
    """One problem with the input."""

    campo: str
    motivo: str
    tipo: str | None = None


class ErrorInfo(BaseModel):
    """What went wrong."""

    codigo: str
    mensagem: str
    detalhes: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """The one error shape of every endpoint (and of each failed entry of a batch)."""

    erro: ErrorInfo


class BatchResponse(BaseModel):
    """One entry per flight, in the order of the request."""

    resultados: list[PredictionResponse | ErrorResponse]


class HealthResponse(BaseModel):
    """Liveness or readiness."""

    status: str
    versao_modelo: str | None = None
