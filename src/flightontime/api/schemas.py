"""Request and response schemas of the HTTP API (field names kept from the Java contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    return Field(default=None, ge=lo, le=hi, allow_inf_nan=False, description=description)


class Clima(BaseModel):
    """Forecast at the origin for the departure hour, metric units; any subset."""

    model_config = ConfigDict(extra="forbid")

    temperatura_c: float | None = _bounded(-90, 60, "Temperatura do ar, °C.")
    ponto_orvalho_c: float | None = _bounded(-90, 60, "Ponto de orvalho, °C.")
    umidade_pct: float | None = _bounded(0, 100, "Umidade relativa, %.")
    vento_direcao_graus: float | None = _bounded(0, 360, "Direção do vento, graus.")
    vento_kmh: float | None = _bounded(0, 450, "Velocidade do vento, km/h.")
    rajada_kmh: float | None = _bounded(0, 450, "Rajada, km/h.")
    precipitacao_mm: float | None = _bounded(0, 500, "Precipitação na hora, mm.")
    pressao_hpa: float | None = _bounded(850, 1100, "Pressão ao nível do mar, hPa.")
    visibilidade_km: float | None = _bounded(0, 100, "Visibilidade, km.")


AirportCode = Annotated[
    str,
    Field(
        pattern=r"^\s*[A-Za-z0-9]{3,4}\s*$",
        description="Código ICAO (SBGR) ou IATA (GRU) do aeroporto, maiúsculas ou minúsculas.",
    ),
]


class FlightRequest(BaseModel):
    """One flight to predict (the Java backend's request; extra fields are ignored)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [CONTRACT_EXAMPLE]},
    )

    companhia: str = Field(
        pattern=r"^\s*[A-Za-z0-9]{2,3}\s*$",
        description="Código ICAO (AZU) ou IATA (AD) da companhia aérea.",
    )
    origem: AirportCode
    destino: AirportCode
    data_partida: datetime = Field(
        description=(
            "Partida prevista, ISO 8601 (`2025-11-10T14:30:00`). Sem fuso: hora local do "
            "aeroporto de origem; com fuso (`-03:00`, `Z`): convertida para a hora local da origem."
        ),
    )
    distancia_m: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DISTANCE_M,
        allow_inf_nan=False,
        description="Distância em metros; calculada pelas coordenadas dos aeroportos se ausente.",
    )
    clima: Clima | None = Field(default=None, description="Previsão do tempo na origem (opcional).")

    @field_validator("data_partida", mode="before")
    @classmethod
    def _date_and_time_as_text(cls, value: Any) -> Any:
        # Numbers would be read as Unix timestamps and a bare date as midnight: both are
        # more likely a client bug than a departure, so only text with a time is accepted.
        if not isinstance(value, str):
            raise ValueError("deve ser texto ISO 8601 com data e hora, ex. 2025-11-10T14:30:00")
        if len(value.strip()) < 16:
            raise ValueError("falta a hora: use data e hora, ex. 2025-11-10T14:30:00")
        return value

    @field_validator("data_partida")
    @classmethod
    def _plausible_year(cls, value: datetime) -> datetime:
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"ano fora de {MIN_YEAR}..{MAX_YEAR}")
        return value


class BatchRequest(BaseModel):
    """Several flights in one call; each one is validated on its own."""

    # Items are validated one by one in the endpoint so that one bad flight gets its own error
    # entry instead of failing the whole batch; the schema still documents them as flights.
    voos: list[Any] = Field(
        json_schema_extra={"items": {"$ref": "#/components/schemas/FlightRequest"}},
        description="Voos no formato de `POST /predict`.",
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"voos": [CONTRACT_EXAMPLE]}]})


class ValidBatch(BaseModel):
    """A batch whose every flight is valid (the fast path; not part of the public schema)."""

    voos: list[FlightRequest]


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
