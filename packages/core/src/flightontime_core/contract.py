"""The public contract's names: the Portuguese field names the existing Java backend sends and
reads, mapped to the library's English ones, and an answer in the contract's shape.

The HTTP adapter's schemas and the command line's `score` columns both use these names, so a
flight is spelled the same way everywhere outside the library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, overload

import numpy as np

from flightontime_core.errors import FlightError, Problem, problem
from flightontime_core.explain import SMALL_SLOTS
from flightontime_core.flights import WEATHER_FIELDS, Flight, Weather
from flightontime_core.prediction_table import PredictionTable

# Contract name -> library name, for a flight.
FLIGHT_FIELDS: Final[dict[str, str]] = {
    "companhia": "airline",
    "origem": "origin",
    "destino": "destination",
    "data_partida": "departure",
    "distancia_m": "distance_m",
    "distancia_km": "distance_km",
    "clima": "weather",
}
REQUIRED_FIELDS: Final = ("companhia", "origem", "destino", "data_partida")
# Contract name -> library name, for the weather (`clima`).
WEATHER_NAMES: Final[dict[str, str]] = {
    "temperatura_c": "temperature_c",
    "ponto_orvalho_c": "dew_point_c",
    "umidade_pct": "humidity_pct",
    "vento_direcao_graus": "wind_direction_deg",
    "vento_kmh": "wind_kmh",
    "rajada_kmh": "gust_kmh",
    "precipitacao_mm": "precipitation_mm",
    "pressao_hpa": "pressure_hpa",
    "visibilidade_km": "visibility_km",
}
assert tuple(WEATHER_NAMES.values()) == WEATHER_FIELDS
_TO_CONTRACT = {v: k for k, v in FLIGHT_FIELDS.items()}
_WEATHER_TO_CONTRACT = {v: k for k, v in WEATHER_NAMES.items()}

# The answer's fields (the backend reads previsao and probabilidade).
ANSWER_FIELDS: Final = (
    "previsao",
    "probabilidade",
    "status",
    "limiar_decisao",
    "probabilidades",
    "probabilidade_cancelamento",
    "versao_modelo",
    "fatores",
    "avisos",
)
STATUS: Final = {"pt": ("Pontual", "Atrasado"), "en": ("On time", "Delayed")}

# The Java backend's request, as its documentation and tests show it.
EXAMPLE_REQUEST: Final[dict[str, Any]] = {
    "companhia": "AZU",
    "origem": "SBKP",
    "destino": "SBRP",
    "data_partida": "2025-11-10T14:30:00",
    "distancia_m": 218000,
}


def contract_field(field: str) -> str:
    """The contract's name of a library field path ("weather.wind_kmh" -> "clima.vento_kmh")."""
    head, _, rest = field.partition(".")
    name = _TO_CONTRACT.get(head, head)
    if rest:
        return f"{name}.{_WEATHER_TO_CONTRACT.get(rest, rest)}"
    return name


def round4(p: Any) -> Any:
    """Probabilities as the contract gives them: four decimals (an array or one float; half
    to even, as Python's round)."""
    return np.round(np.asarray(p, dtype=np.float64) * 10000.0) / 10000.0


T = TypeVar("T")


def _as_dict(*values: Any) -> dict[str, Any]:
    return dict(zip(ANSWER_FIELDS, values, strict=True))


@overload
def answers(table: PredictionTable, language: str = ...) -> list[dict[str, Any] | FlightError]: ...
@overload
def answers(
    table: PredictionTable, language: str, shape: Callable[..., T]
) -> list[T | FlightError]: ...
def answers(
    table: PredictionTable, language: str = "pt", shape: Callable[..., Any] = _as_dict
) -> list[Any]:
    """Every flight of a table in the contract's shape, in input order, every text in
    `language` (rendered once per distinct factor and notice list); a flight that cannot be
    predicted keeps its FlightError in its place. Each answer is `shape` called with the
    values of ANSWER_FIELDS in order (a dict by default; a Struct of those fields, in that
    order, is built with no dict in between)."""
    status = STATUS.get(language, STATUS["pt"])
    texts, index = table.factor_texts(language)
    notices = [list(n) for n in table.notice_texts(language)]
    rounded = round4(table.probabilities).tolist()
    cancellation = round4(table.cancellation).tolist()
    names = [str(t) for t in table.thresholds]
    versions = table.versions
    factors: list[list[str]]
    if index.size <= SMALL_SLOTS:
        factors = [[texts[j] for j in slots if j >= 0] for slots in index.tolist()]
    else:  # one gather; the flights with fewer than TOP factors mended after
        factors = np.array([*texts, None], dtype=object)[index].tolist()
        for row in np.flatnonzero(np.count_nonzero(index < 0, axis=1)).tolist():
            factors[row] = [text for text in factors[row] if text is not None]
    out: list[Any] = [None] * table.n
    for position, error in table.errors.items():
        out[position] = error
    for position, p, delayed, cut, c, v, fatores, k in zip(
        table.rows.tolist(),
        rounded,
        table.delayed.tolist(),
        table.decision_threshold.tolist(),
        cancellation,
        table.version.tolist(),
        factors,
        table.notice_index.tolist(),
        strict=True,
    ):
        out[position] = shape(
            int(delayed),
            p[0],
            status[delayed],
            cut,
            dict(zip(names, p, strict=True)),
            None if c != c else c,
            versions[v],
            fatores,
            notices[k].copy(),
        )
    return out


def problems(error: FlightError, language: str = "pt") -> list[tuple[str, str, str]]:
    """(contract field, reason in `language`, reason code) for every problem of a flight."""
    return [(contract_field(p.field), p.text(language), p.code) for p in error.problems]


def _blank(value: Any) -> bool:
    """None, an empty string, or a table's missing marker (NaN, NaT, NA)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(value != value)  # NaN and NaT are the values unequal to themselves
    except TypeError:  # pandas' NA refuses to be a truth value
        return True


def flight_from_record(record: Mapping[str, Any]) -> Flight | FlightError:
    """A flight from a flat record named as the contract (a table row: the weather fields as
    their own columns, blank or NaN where missing); a FlightError names what is missing."""
    found: list[Problem] = [
        problem(FLIGHT_FIELDS[name], "required")
        for name in REQUIRED_FIELDS
        if _blank(record.get(name))
    ]
    if found:
        return FlightError(found)
    weather: dict[str, Any] = {}
    for contract_name, name in WEATHER_NAMES.items():
        value = record.get(contract_name)
        if not _blank(value):
            weather[name] = value
    distance = record.get("distancia_m")
    distance_km = record.get("distancia_km")
    departure = record["data_partida"]
    try:
        return Flight(
            airline=str(record["companhia"]),
            origin=str(record["origem"]),
            destination=str(record["destino"]),
            departure=departure if hasattr(departure, "isoformat") else str(departure),
            distance_m=None if _blank(distance) else distance,
            distance_km=None if _blank(distance_km) else distance_km,
            weather=Weather(**weather) if weather else None,
        )
    except TypeError as exc:  # a value of a type no Flight field accepts
        return FlightError([problem("flight", "invalid", detail=str(exc))])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def flight_from_json(data: Any) -> Flight | FlightError:
    """A flight from a decoded JSON object in the contract's shape (`clima` nested), or a
    FlightError naming every field of the wrong type, missing, or unknown in `clima`.

    Fields beyond the contract's are ignored, as the backend has always been allowed to send
    them; the values' rules (codes, dates, bounds) are the resolver's, after this."""
    if not isinstance(data, dict):
        return FlightError([problem("flight", "wrong_type", expected="object")])
    found: list[Problem] = []
    for name in REQUIRED_FIELDS:
        if data.get(name) is None:
            found.append(problem(FLIGHT_FIELDS[name], "required"))
        elif not isinstance(data[name], str):
            found.append(problem(FLIGHT_FIELDS[name], "wrong_type", expected="text"))
    distance = data.get("distancia_m")
    if distance is not None and not _is_number(distance):
        found.append(problem("distance_m", "wrong_type", expected="number"))
    distance_km = data.get("distancia_km")
    if distance_km is not None and not _is_number(distance_km):
        found.append(problem("distance_km", "wrong_type", expected="number"))
    clima = data.get("clima")
    weather: dict[str, float] = {}
    if clima is not None and not isinstance(clima, dict):
        found.append(problem("weather", "wrong_type", expected="object"))
    elif clima is not None:
        for key, value in clima.items():
            known = WEATHER_NAMES.get(key)
            if known is None:
                found.append(problem(f"weather.{key}", "unknown_field"))
            elif value is not None and not _is_number(value):
                found.append(problem(f"weather.{known}", "wrong_type", expected="number"))
            elif value is not None:
                weather[known] = float(value)
    if found:
        return FlightError(found)
    return Flight(
        airline=data["companhia"],
        origin=data["origem"],
        destination=data["destino"],
        departure=data["data_partida"],
        distance_m=None if distance is None else float(distance),
        distance_km=None if distance_km is None else float(distance_km),
        weather=Weather(**weather) if weather else None,
    )
