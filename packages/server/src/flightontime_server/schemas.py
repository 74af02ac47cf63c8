"""The contract's messages as msgspec Structs, from which Litestar generates the OpenAPI document.

The answers (`PredictionResponse`, `BatchResponse`, `ErrorResponse`, `HealthResponse`) are what
the handlers return, so the documented schema is the wire shape. The requests (`FlightRequest`,
`BatchRequest`) document the body; the body itself is read by the core (`body.py`), which finds
and words every problem, so the bounds declared here with `Meta` are the core's own constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

from flightontime_core.contract import EXAMPLE_REQUEST, WEATHER_NAMES
from flightontime_core.flights import (
    AIRLINE_PATTERN,
    AIRPORT_PATTERN,
    MAX_DISTANCE_KM,
    MAX_DISTANCE_M,
    MAX_YEAR,
    MIN_YEAR,
    WEATHER_BOUNDS,
)


def _weather(name: str, description: str) -> Meta:
    lo, hi = WEATHER_BOUNDS[WEATHER_NAMES[name]]
    return Meta(ge=lo, le=hi, description=description)


class Clima(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Previsão do tempo na origem na hora da partida, unidades métricas; qualquer subconjunto."""

    temperatura_c: Annotated[float, _weather("temperatura_c", "Temperatura do ar, °C.")] | None = (
        None
    )
    ponto_orvalho_c: (
        Annotated[float, _weather("ponto_orvalho_c", "Ponto de orvalho, °C.")] | None
    ) = None
    umidade_pct: Annotated[float, _weather("umidade_pct", "Umidade relativa, %.")] | None = None
    vento_direcao_graus: (
        Annotated[float, _weather("vento_direcao_graus", "Direção do vento, graus.")] | None
    ) = None
    vento_kmh: Annotated[float, _weather("vento_kmh", "Velocidade do vento, km/h.")] | None = None
    rajada_kmh: Annotated[float, _weather("rajada_kmh", "Rajada, km/h.")] | None = None
    precipitacao_mm: (
        Annotated[float, _weather("precipitacao_mm", "Precipitação na hora, mm.")] | None
    ) = None
    pressao_hpa: (
        Annotated[float, _weather("pressao_hpa", "Pressão ao nível do mar, hPa.")] | None
    ) = None
    visibilidade_km: Annotated[float, _weather("visibilidade_km", "Visibilidade, km.")] | None = (
        None
    )


assert set(Clima.__struct_fields__) == set(WEATHER_NAMES), "Clima must name every weather field"

AirportCode = Annotated[
    str,
    Meta(
        pattern=AIRPORT_PATTERN,
        description="Código ICAO (SBGR) ou IATA (GRU) do aeroporto, maiúsculas ou minúsculas.",
    ),
]


class FlightRequest(msgspec.Struct, kw_only=True):
    """Um voo (o pedido do backend Java; campos a mais são ignorados)."""

    companhia: Annotated[
        str,
        Meta(
            pattern=AIRLINE_PATTERN,
            description="Código ICAO (AZU) ou IATA (AD) da companhia aérea.",
        ),
    ]
    origem: AirportCode
    destino: AirportCode
    # Text, checked by the core (a date and a time, ISO 8601, years MIN_YEAR..MAX_YEAR): a
    # number is never read as a timestamp and a date alone never becomes midnight.
    data_partida: Annotated[
        str,
        Meta(
            description=(
                "Partida prevista, ISO 8601 com data e hora (`2025-11-10T14:30:00`), anos "
                f"{MIN_YEAR} a {MAX_YEAR}. Sem fuso: hora local do aeroporto de origem; com fuso "
                "(`-03:00`, `Z`): convertida para a hora local da origem."
            ),
            examples=[EXAMPLE_REQUEST["data_partida"]],
        ),
    ]
    distancia_m: (
        Annotated[
            float,
            Meta(
                gt=0,
                le=MAX_DISTANCE_M,
                description=(
                    "Distância em metros; calculada pelas coordenadas se ausente. Fora de "
                    "[0,8 x, 2 x + 50 km] da distância em linha reta entre aeroportos conhecidos, "
                    "é substituída por ela, com um aviso."
                ),
            ),
        ]
        | None
    ) = None
    distancia_km: (
        Annotated[
            float,
            Meta(
                gt=0,
                le=MAX_DISTANCE_KM,
                description=(
                    "A mesma distância em km (alternativa a `distancia_m`); se as duas vierem, "
                    "devem concordar (1 km de tolerância)."
                ),
            ),
        ]
        | None
    ) = None
    clima: Annotated[Clima | None, Meta(description="Previsão do tempo na origem.")] = None


class BatchRequest(msgspec.Struct, kw_only=True):
    """Vários voos numa chamada; cada um é validado e respondido por si."""

    voos: Annotated[
        list[FlightRequest],
        Meta(description="Voos no formato de `POST /predict`."),
    ]


class PredictionResponse(msgspec.Struct):
    """A resposta para um voo."""

    # Positional, in contract.ANSWER_FIELDS' order: contract.answers builds it with no dict.

    previsao: Annotated[int, Meta(description="1 = atrasado, 0 = pontual (contrato original).")]
    probabilidade: Annotated[
        float, Meta(description="Probabilidade (0..1, 4 casas) de atraso do limiar principal.")
    ]
    status: Annotated[str, Meta(description='"Atrasado"/"Pontual" (en: "Delayed"/"On time").')]
    limiar_decisao: Annotated[
        float, Meta(description="Probabilidade a partir da qual previsao = 1.")
    ]
    probabilidades: Annotated[
        dict[str, float],
        Meta(description="Probabilidade de atraso de pelo menos N minutos, por limiar."),
    ]
    probabilidade_cancelamento: Annotated[
        float | None, Meta(description="Probabilidade de cancelamento; null sem esse modelo.")
    ]
    versao_modelo: str
    fatores: Annotated[list[str], Meta(description="Os fatores que mais pesaram (até três).")]
    avisos: Annotated[list[str], Meta(description="Avisos sobre a entrada.")]


class ErrorDetail(msgspec.Struct, kw_only=True):
    """Um problema da entrada: o campo (caminho com pontos), o motivo e seu código."""

    campo: str
    motivo: str
    tipo: str | None = None


class ErrorInfo(msgspec.Struct, kw_only=True):
    """O que deu errado."""

    codigo: str
    mensagem: str
    detalhes: list[ErrorDetail]


class ErrorResponse(msgspec.Struct, kw_only=True):
    """O formato de erro de todas as rotas (e de cada voo recusado de um lote)."""

    erro: ErrorInfo


# A dataclass, not a Struct: msgspec takes no union of untagged Structs in a Struct's fields (nor
# in its inspection, from which Litestar documents a Struct), and a tag would add a field to the
# wire. msgspec encodes a dataclass as it does a Struct, and Litestar documents the union as
# `oneOf` the two Structs.
@dataclass(slots=True)
class BatchResponse:
    """Uma entrada por voo, na ordem do pedido: a resposta ou o erro daquele voo."""

    resultados: list[PredictionResponse | ErrorResponse]


class HealthResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Vivacidade ou prontidão."""

    status: str
    versao_modelo: str | None = None


FLIGHT_EXAMPLE: Final[dict[str, Any]] = dict(EXAMPLE_REQUEST)
BATCH_EXAMPLE: Final[dict[str, Any]] = {"voos": [dict(EXAMPLE_REQUEST)]}
