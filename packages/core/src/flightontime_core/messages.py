"""Every sentence the library says, in English and Portuguese.

Problems, notices and factors are data (a code and parameters); this module turns them into
words. Each answer speaks one language: Portuguese for the HTTP API's users by default,
English for the library. Rendered sentences are cached by what they say: traffic repeats the
same airlines, airports, hours and rates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Final

LANGUAGES: Final = ("en", "pt")
DEFAULT_LANGUAGE: Final = "en"

Params = Mapping[str, Any]
_Template = Callable[[Params], str]


# -- problems (why an input cannot be used) ------------------------------------------------------

_UNIT_WORDS = {
    "en": {"m": "metres", "km": "km", "mi": "miles"},
    "pt": {"m": "metros", "km": "km", "mi": "milhas"},
}


def _num(value: float) -> str:
    """A number as sent, without a float's noise (218000.0 -> 218000, 0.5 -> 0.5)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _num_pt(value: float) -> str:
    return _num(value).replace(".", ",")


_PT_TYPES = {
    "text": "texto",
    "number": "número",
    "object": "objeto",
    "array": "lista",
    "integer": "inteiro",
    "boolean": "booleano",
}

_PROBLEMS: dict[str, dict[str, _Template]] = {
    "en": {
        "required": lambda p: "required field is missing",
        "wrong_type": lambda p: f"expected {p['expected']}",
        "invalid_airline_code": lambda p: (
            "airline code must be 2 or 3 letters or digits (IATA or ICAO)"
        ),
        "invalid_airport_code": lambda p: (
            "airport code must be 3 or 4 letters or digits (IATA or ICAO)"
        ),
        "invalid_departure": lambda p: "not an ISO 8601 date and time, e.g. 2025-11-10T14:30:00",
        "departure_needs_time": lambda p: "a date alone is not a departure: give the time too",
        "departure_out_of_range": lambda p: f"year must be between {p['min']} and {p['max']}",
        "not_finite": lambda p: "must be a finite number",
        "out_of_range": lambda p: f"must be between {p['min']:g} and {p['max']:g}",
        "not_positive": lambda p: f"must be greater than 0 and at most {p['max']:g}",
        "unknown_field": lambda p: "unknown field",
        "distances_disagree": lambda p: (
            f"the distances in metres and in km disagree: {_num(p['metres'])} m is not "
            f"{_num(p['km'])} km"
        ),
        "same_airports": lambda p: f"destination equals the origin ({p['icao']})",
        "invalid_json": lambda p: (
            "malformed JSON: the body ends before its JSON does"
            if p.get("truncated")
            else f"malformed JSON at byte {p['byte']}"
            if "byte" in p
            else "malformed JSON"
        ),
        "invalid": lambda p: str(p.get("detail", "invalid value")),
    },
    "pt": {
        "required": lambda p: "campo obrigatório ausente",
        "wrong_type": lambda p: f"esperado {_PT_TYPES.get(p['expected'], p['expected'])}",
        "invalid_airline_code": lambda p: (
            "código da companhia deve ter 2 ou 3 letras ou dígitos (IATA ou ICAO)"
        ),
        "invalid_airport_code": lambda p: (
            "código do aeroporto deve ter 3 ou 4 letras ou dígitos (IATA ou ICAO)"
        ),
        "invalid_departure": lambda p: "não é data e hora ISO 8601, ex. 2025-11-10T14:30:00",
        "departure_needs_time": lambda p: "só a data não basta: informe também a hora",
        "departure_out_of_range": lambda p: f"o ano deve estar entre {p['min']} e {p['max']}",
        "not_finite": lambda p: "deve ser um número finito",
        "out_of_range": lambda p: f"deve estar entre {p['min']:g} e {p['max']:g}",
        "not_positive": lambda p: f"deve ser maior que 0 e no máximo {p['max']:g}",
        "unknown_field": lambda p: "campo desconhecido",
        "distances_disagree": lambda p: (
            f"as distâncias em metros e em km divergem: {_num_pt(p['metres'])} m não são "
            f"{_num_pt(p['km'])} km"
        ),
        "same_airports": lambda p: f"destino igual à origem ({p['icao']})",
        "invalid_json": lambda p: (
            "JSON malformado: o corpo termina antes do JSON"
            if p.get("truncated")
            else f"JSON malformado no byte {p['byte']}"
            if "byte" in p
            else "JSON malformado"
        ),
        "invalid": lambda p: str(p.get("detail", "valor inválido")),
    },
}


def problem_text(code: str, params: Params, language: str = DEFAULT_LANGUAGE) -> str:
    """A problem's reason in words."""
    catalog = _PROBLEMS.get(language, _PROBLEMS[DEFAULT_LANGUAGE])
    template = catalog.get(code)
    return template(params) if template is not None else code


# -- notices (warnings attached to an answer) ----------------------------------------------------

_NOTICES: dict[str, dict[str, _Template]] = {
    "en": {
        "unknown_airline": lambda p: (
            f"airline {p['airline']} unknown to the model; predicted without its history"
        ),
        "unknown_airport": lambda p: (
            f"airport {p['airports']} unknown to the model; predicted without its history"
        ),
        "unknown_airports": lambda p: (
            f"airports {p['airports']} unknown to the model; predicted without their history"
        ),
        "unseen_route": lambda p: f"route {p['route']} never seen in training",
        "weather_ignored": lambda p: "weather ignored: this model was trained without weather",
        "weather_missing": lambda p: (
            "no weather given: predicted from the schedule alone, less precise"
        ),
        "unknown_timezone": lambda p: (
            f"time zone of {p['airport']} unknown; the given clock time was used"
        ),
        "renamed_airport": lambda p: (
            f"airport {p['old']} was renamed {p['current']}: answered as {p['current']}"
        ),
        "unlisted_airport": lambda p: (
            f"airport {p['airport']} is in no reference table: with no location or time zone, "
            "the distance is the one given (if any) and the departure the clock time given"
        ),
        "distance_replaced": lambda p: (
            f"distance {_num(p['value'])} {_UNIT_WORDS['en'][p['unit']]} does not fit route "
            f"{p['route']} (great circle {_num(p['km'])} km): "
            + (
                f"probably given in {_UNIT_WORDS['en'][p['probable']]}"
                if p["probable"]
                else "it fits the route in no unit"
            )
            + f"; the great-circle distance of {_num(p['km'])} km was used"
        ),
    },
    "pt": {
        "unknown_airline": lambda p: (
            f"companhia {p['airline']} desconhecida pelo modelo; previsão sem o histórico dela"
        ),
        "unknown_airport": lambda p: (
            f"aeroporto {p['airports']} desconhecido pelo modelo; previsão sem o histórico dele"
        ),
        "unknown_airports": lambda p: (
            f"aeroportos {p['airports']} desconhecidos pelo modelo; previsão sem o histórico deles"
        ),
        "unseen_route": lambda p: f"rota {p['route']} nunca vista no treino",
        "weather_ignored": lambda p: "clima ignorado: este modelo foi treinado sem dados de clima",
        "weather_missing": lambda p: "clima não informado: previsão só pelo horário, menos precisa",
        "unknown_timezone": lambda p: (
            f"fuso horário de {p['airport']} desconhecido; usada a hora informada"
        ),
        "renamed_airport": lambda p: (
            f"o aeroporto {p['old']} passou a se chamar {p['current']}: respondido como "
            f"{p['current']}"
        ),
        "unlisted_airport": lambda p: (
            f"aeroporto {p['airport']} não consta das tabelas de referência: sem localização nem "
            "fuso, a distância é a informada (se houver) e a partida, a hora informada"
        ),
        "distance_replaced": lambda p: (
            f"distância de {_num_pt(p['value'])} {_UNIT_WORDS['pt'][p['unit']]} incompatível "
            f"com a rota {p['route']} (distância em linha reta de {_num_pt(p['km'])} km): "
            + (
                f"provavelmente em {_UNIT_WORDS['pt'][p['probable']]}"
                if p["probable"]
                else "não corresponde à rota em nenhuma unidade"
            )
            + f"; usada a distância em linha reta de {_num_pt(p['km'])} km"
        ),
    },
}


@lru_cache(maxsize=8192)
def notice_text(code: str, params: tuple[tuple[str, Any], ...], language: str) -> str:
    """A notice in words (params as sorted key/value pairs, so the result can be cached)."""
    catalog = _NOTICES.get(language, _NOTICES[DEFAULT_LANGUAGE])
    template = catalog.get(code)
    return template(dict(params)) if template is not None else code


# -- factors (why a prediction is what it is) ----------------------------------------------------

_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "pt": (
        "na segunda-feira",
        "na terça-feira",
        "na quarta-feira",
        "na quinta-feira",
        "na sexta-feira",
        "no sábado",
        "no domingo",
    ),
}
_EFFECT = {
    "en": ("lowers the delay risk", "raises the delay risk"),
    "pt": ("reduz o risco de atraso", "aumenta o risco de atraso"),
}
_WEATHER_EFFECT = {
    "en": ("lowers the risk", "raises the risk"),
    "pt": ("reduz o risco", "aumenta o risco"),
}


def _pct(rate: float) -> str:
    return f"{rate:.0%}"


def _weather_en(name: str, v: float) -> str:
    words = {
        "temperature_c": lambda: f"temperature {v:.0f} °C",
        "dew_point_c": lambda: f"dew point {v:.0f} °C",
        "humidity_pct": lambda: f"humidity {v:.0f}%",
        "wind_direction_deg": lambda: f"wind from {v:.0f}°",
        "wind_kmh": lambda: f"wind {v:.0f} km/h",
        "gust_kmh": lambda: f"gusts {v:.0f} km/h",
        "precipitation_mm": lambda: f"precipitation {v:.1f} mm" if v > 0 else "no precipitation",
        "pressure_hpa": lambda: f"pressure {v:.0f} hPa",
        "visibility_km": lambda: (
            f"low visibility {v:.1f} km" if v < 5 else f"visibility {v:.0f} km"
        ),
    }
    return words.get(name, lambda: f"{name} {v:g}")()


def _weather_pt(name: str, v: float) -> str:
    words = {
        "temperature_c": lambda: f"temperatura {v:.0f} °C",
        "dew_point_c": lambda: f"ponto de orvalho {v:.0f} °C",
        "humidity_pct": lambda: f"umidade {v:.0f}%",
        "wind_direction_deg": lambda: f"vento de {v:.0f}°",
        "wind_kmh": lambda: f"vento {v:.0f} km/h",
        "gust_kmh": lambda: f"rajadas {v:.0f} km/h",
        "precipitation_mm": lambda: f"precipitação {v:.1f} mm" if v > 0 else "sem precipitação",
        "pressure_hpa": lambda: f"pressão {v:.0f} hPa",
        "visibility_km": lambda: (
            f"visibilidade baixa {v:.1f} km" if v < 5 else f"visibilidade {v:.0f} km"
        ),
    }
    return words.get(name, lambda: f"{name} {v:g}")()


def _holiday_en(days: int) -> str:
    if days == 0:
        return "Departure on a public holiday"
    when = "before" if days < 0 else "after"
    plural = "s" if abs(days) != 1 else ""
    return f"{abs(days)} day{plural} {when} a public holiday"


def _holiday_pt(days: int) -> str:
    if days == 0:
        return "Partida em um feriado"
    when = "antes de" if days < 0 else "depois de"
    plural = "s" if abs(days) != 1 else ""
    return f"{abs(days)} dia{plural} {when} um feriado"


def _distance(km: float) -> str:
    """A distance to the precision that shows it (never "0 km" for a short one)."""
    if km >= 10:
        return f"{km:,.0f} km"
    if km >= 1:
        return f"{km:.1f} km"
    return f"{km * 1000:.0f} m"


def _distance_pt(km: float) -> str:
    # Portuguese swaps the separators: 1.234 km, 2,5 km.
    return _distance(km).translate(str.maketrans(",.", ".,"))


def _factor_en(group: str, p: Params, up: bool) -> str:
    effect = _EFFECT["en"][up]
    if group == "time":
        return f"Departure time {p['hour']:02d}:{p['minute']:02d} {effect}"
    if group == "weekday":
        return f"Departure on a {_WEEKDAYS['en'][p['weekday']]} {effect}"
    if group == "holiday":
        return f"{_holiday_en(p['days'])} {effect}"
    if group == "airline":
        return f"Airline {p['airline']} (historically late {_pct(p['rate'])} of the time) {effect}"
    if group == "origin":
        return (
            f"Departing from {p['origin']} around {p['hour']:02d}:00 (historically late "
            f"{_pct(p['rate'])} of the time) {effect}"
        )
    if group == "destination":
        return f"Destination {p['destination']} {effect}"
    if group == "route":
        if not p.get("seen", 1):
            return (
                f"Route {p['origin']} → {p['destination']} (not in the training data; flights "
                f"overall late {_pct(p['rate'])} of the time) {effect}"
            )
        return (
            f"Route {p['origin']} → {p['destination']} (historically late {_pct(p['rate'])} "
            f"of the time) {effect}"
        )
    if group == "density":
        return f"Busy hour at {p['origin']}: about {p['flights']:.0f} planned departures {effect}"
    if group == "distance":
        return f"Distance {_distance(p['km'])} {effect}"
    return f"Origin weather: {_weather_en(group, p['value'])} {_WEATHER_EFFECT['en'][up]}"


def _factor_pt(group: str, p: Params, up: bool) -> str:
    effect = _EFFECT["pt"][up]
    if group == "time":
        return f"Partida às {p['hour']:02d}:{p['minute']:02d} {effect}"
    if group == "weekday":
        return f"Partida {_WEEKDAYS['pt'][p['weekday']]} {effect}"
    if group == "holiday":
        return f"{_holiday_pt(p['days'])} {effect}"
    if group == "airline":
        return (
            f"Companhia {p['airline']} (historicamente atrasada em {_pct(p['rate'])} dos voos) "
            f"{effect}"
        )
    if group == "origin":
        return (
            f"Partidas de {p['origin']} por volta das {p['hour']:02d}:00, historicamente "
            f"atrasadas em {_pct(p['rate'])} dos voos, {effect}"
        )
    if group == "destination":
        return f"Destino {p['destination']} {effect}"
    if group == "route":
        if not p.get("seen", 1):
            return (
                f"Rota {p['origin']} → {p['destination']} (fora dos dados de treino; "
                f"{_pct(p['rate'])} dos voos atrasados no geral) {effect}"
            )
        return (
            f"Rota {p['origin']} → {p['destination']}, historicamente atrasada em "
            f"{_pct(p['rate'])} dos voos, {effect}"
        )
    if group == "density":
        return (
            f"Horário movimentado em {p['origin']}: cerca de {p['flights']:.0f} partidas "
            f"previstas {effect}"
        )
    if group == "distance":
        return f"Distância de {_distance_pt(p['km'])} {effect}"
    return f"Tempo na origem: {_weather_pt(group, p['value'])} {_WEATHER_EFFECT['pt'][up]}"


_FACTORS = {"en": _factor_en, "pt": _factor_pt}


@lru_cache(maxsize=16384)
def factor_text(
    group: str, params: tuple[tuple[str, Any], ...], raises: bool, language: str
) -> str:
    """A factor in words (params as sorted key/value pairs, so the result can be cached)."""
    render = _FACTORS.get(language, _FACTORS[DEFAULT_LANGUAGE])
    return render(group, dict(params), raises)
