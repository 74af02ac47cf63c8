"""The factors behind a prediction: features grouped into ideas a reader knows, and the plain
English sentence for each of the three groups that moved a prediction most.

Contributions come from `PathExplainer` (model/predictor.py) already summed per group; this
module only ranks them and writes the sentences. Serving writes three sentences per flight, so
the writers work on plain Python floats (one `tolist` per batch) and dispatch by group index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from flightontime.data.schema import WEATHER_FIELDS
from flightontime.features import FEATURE_INDEX, FEATURE_NAMES, FeatureTables

# Features explained together: a category and its historical rate are one idea for a reader.
FACTOR_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("time", ("hour", "minute")),
    ("weekday", ("weekday",)),
    ("holiday", ("days_to_holiday",)),
    ("airline", ("airline", "airline_delay_rate")),
    ("origin", ("origin", "origin_hour_delay_rate")),
    ("destination", ("destination",)),
    ("route", ("route_delay_rate",)),
    ("density", ("origin_hour_density",)),
    ("distance", ("distance_km",)),
    *((name, (name,)) for name in WEATHER_FIELDS),
)
GROUP_NAMES = tuple(name for name, _ in FACTOR_GROUPS)
# (n_features, n_groups) 0/1 matrix: per-feature contributions @ GROUP_MATRIX = per group.
GROUP_MATRIX = np.zeros((len(FEATURE_NAMES), len(FACTOR_GROUPS)))
for _g, (_, _features) in enumerate(FACTOR_GROUPS):
    for _f in _features:
        GROUP_MATRIX[FEATURE_INDEX[_f], _g] = 1.0
assert set(np.flatnonzero(GROUP_MATRIX.sum(axis=1))) == set(range(len(FEATURE_NAMES)))
# A group whose defining feature is missing (weather not given, no holiday calendar) is no
# factor: "temperature unknown raises the risk" would tell a reader nothing.
_GROUP_KEY_FEATURE = np.array([FEATURE_INDEX[features[0]] for _, features in FACTOR_GROUPS])
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EFFECT = ("lowers the delay risk", "raises the delay risk")  # indexed by "pushes it up"
_WEATHER_EFFECT = ("lowers the risk", "raises the risk")

_HOUR, _MINUTE, _WEEKDAY, _HOLIDAY = (FEATURE_INDEX[n] for n in FEATURE_NAMES[:4])
_AIRLINE = FEATURE_INDEX["airline"]
_AIRLINE_RATE = FEATURE_INDEX["airline_delay_rate"]
_ORIGIN_RATE = FEATURE_INDEX["origin_hour_delay_rate"]
_ROUTE_RATE = FEATURE_INDEX["route_delay_rate"]
_DENSITY = FEATURE_INDEX["origin_hour_density"]
_DISTANCE = FEATURE_INDEX["distance_km"]

# (features of one flight, airline as sent, origin ICAO, destination ICAO, pushes up) -> text
Writer = Callable[[list[float], str, str, str, bool], str]


@lru_cache(maxsize=4096)
def _airport_label(icao: str) -> str:
    # IATA codes read better for people ("JFK" rather than "KJFK") where one exists.
    from flightontime.data.airports import resolve_airport

    airport = resolve_airport(icao)
    return airport.iata if airport is not None and airport.iata else icao


def weather_text(name: str, v: float) -> str:
    """A weather field's value in words (metric units)."""
    if name == "temperatura_c":
        return f"temperature {v:.0f} °C"
    if name == "ponto_orvalho_c":
        return f"dew point {v:.0f} °C"
    if name == "umidade_pct":
        return f"humidity {v:.0f}%"
    if name == "vento_direcao_graus":
        return f"wind from {v:.0f}°"
    if name == "vento_kmh":
        return f"wind {v:.0f} km/h"
    if name == "rajada_kmh":
        return f"gusts {v:.0f} km/h"
    if name == "precipitacao_mm":
        return f"precipitation {v:.1f} mm" if v > 0 else "no precipitation"
    if name == "pressao_hpa":
        return f"pressure {v:.0f} hPa"
    if name == "visibilidade_km":
        return f"low visibility {v:.1f} km" if v < 5 else f"visibility {v:.0f} km"
    return f"{name} {v:g}"


# Sentences are cached by what they say: traffic repeats the same airlines, airports, hours
# and rates, and formatting costs more than the rest of a factor's work (bounded caches).
_CACHE = 8192


@lru_cache(maxsize=_CACHE)
def _time_text(hour: int, minute: int, up: bool) -> str:
    return f"Departure time {hour:02d}:{minute:02d} {_EFFECT[up]}"


@lru_cache(maxsize=64)
def _weekday_text(weekday: int, up: bool) -> str:
    return f"Departure on a {_WEEKDAYS[weekday]} {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _holiday_text(days: int, up: bool) -> str:
    if days == 0:
        return f"Departure on a public holiday {_EFFECT[up]}"
    when = "before" if days < 0 else "after"
    plural = "s" if abs(days) != 1 else ""
    return f"{abs(days)} day{plural} {when} a public holiday {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _rate_text(subject: str, rate: float, up: bool) -> str:
    return f"{subject} historically late {rate:.0%} of the time {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _airline_text(airline: str, rate: float, up: bool) -> str:
    return f"Airline {airline} (historically late {rate:.0%} of the time) {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _airport_text(template: str, icao: str, value: float, up: bool) -> str:
    return template.format(airport=_airport_label(icao), value=value, effect=_EFFECT[up])


@lru_cache(maxsize=_CACHE)
def _route_text(origin: str, destination: str, rate: float, up: bool) -> str:
    return _rate_text(f"Route {_airport_label(origin)} → {_airport_label(destination)}", rate, up)


@lru_cache(maxsize=_CACHE)
def _weather_sentence(name: str, value: float, up: bool) -> str:
    return f"Origin weather: {weather_text(name, value)} {_WEATHER_EFFECT[up]}"


class FactorWriter:
    """Plain-English sentences for the features that moved one prediction most.

    A group is only ever written when its first feature is known (see `factors`), so the
    airline, origin and destination sentences always have a vocabulary entry to name.
    """

    def __init__(self, tables: FeatureTables) -> None:
        self.tables = tables
        writers: dict[str, Writer] = {
            "time": self._time,
            "weekday": self._weekday,
            "holiday": self._holiday,
            "airline": self._airline,
            "origin": self._origin,
            "destination": self._destination,
            "route": self._route,
            "density": self._density,
            "distance": self._distance,
        }
        for name in WEATHER_FIELDS:
            writers[name] = self._weather_writer(name)
        self._writers: tuple[Writer, ...] = tuple(writers[name] for name in GROUP_NAMES)

    # -- one sentence per group ------------------------------------------------------------------

    @staticmethod
    def _time(x: list[float], _a: str, _o: str, _d: str, up: bool) -> str:
        return _time_text(int(x[_HOUR]), int(x[_MINUTE]), up)

    @staticmethod
    def _weekday(x: list[float], _a: str, _o: str, _d: str, up: bool) -> str:
        return _weekday_text(int(x[_WEEKDAY]), up)

    @staticmethod
    def _holiday(x: list[float], _a: str, _o: str, _d: str, up: bool) -> str:
        return _holiday_text(int(x[_HOLIDAY]), up)

    def _airline(self, x: list[float], _a: str, _o: str, _d: str, up: bool) -> str:
        return _airline_text(self.tables.airlines[int(x[_AIRLINE])], x[_AIRLINE_RATE], up)

    @staticmethod
    def _origin(x: list[float], _a: str, origin: str, _d: str, up: bool) -> str:
        subject = f"Departures from {_airport_label(origin)} around {int(x[_HOUR]):02d}:00"
        return _rate_text(subject, x[_ORIGIN_RATE], up)

    @staticmethod
    def _destination(x: list[float], _a: str, _o: str, destination: str, up: bool) -> str:
        return _airport_text("Destination {airport} {effect}", destination, 0.0, up)

    @staticmethod
    def _route(x: list[float], _a: str, origin: str, destination: str, up: bool) -> str:
        return _route_text(origin, destination, x[_ROUTE_RATE], up)

    @staticmethod
    def _density(x: list[float], _a: str, origin: str, _d: str, up: bool) -> str:
        return _airport_text(
            "Busy hour at {airport}: about {value:.0f} planned departures {effect}",
            origin,
            x[_DENSITY],
            up,
        )

    @staticmethod
    def _distance(x: list[float], _a: str, _o: str, _d: str, up: bool) -> str:
        return f"Distance {x[_DISTANCE]:,.0f} km {_EFFECT[up]}"

    @staticmethod
    def _weather_writer(name: str) -> Writer:
        column = FEATURE_INDEX[name]

        def write(x: list[float], _a: str, _o: str, _d: str, up: bool) -> str:
            return _weather_sentence(name, x[column], up)

        return write

    # -- ranking ---------------------------------------------------------------------------------

    def factors(
        self,
        grouped: np.ndarray,
        x: np.ndarray,
        airline: Sequence[str],
        origin: Sequence[str],
        destination: Sequence[str],
    ) -> list[list[str]]:
        """Top three factors per row from contributions summed per group (n, n_groups)."""
        n = grouped.shape[0]
        strength = np.abs(grouped)
        strength[np.isnan(x[:, _GROUP_KEY_FEATURE])] = -1.0
        top = np.argsort(-strength, axis=1, kind="stable")[:, :3]
        rows = np.arange(n)[:, None]
        keep_all = (strength[rows, top] > 0).tolist()
        up_all = (grouped[rows, top] > 0).tolist()
        top_all = top.tolist()
        x_all = x.tolist()
        writers = self._writers
        return [
            [
                writers[g](x_all[i], airline[i], origin[i], destination[i], up)
                for g, keep, up in zip(top_all[i], keep_all[i], up_all[i], strict=True)
                if keep
            ]
            for i in range(n)
        ]
