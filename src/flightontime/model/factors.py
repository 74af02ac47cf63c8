"""The factors behind a prediction: features grouped into ideas a reader knows, and the plain
English sentence for each of the three groups that moved a prediction most.

Contributions come from `PathExplainer` (model/predictor.py) already summed per group; this
module only ranks them and writes the sentences. Each group has one cached sentence function
of plain values (`_SENTENCES`): a single flight calls it once per factor, a batch maps it over
the columns of every flight that group ranks for (no Python frame per flight), and both get
the same text for the same flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache, partial

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
GROUP_KEY_FEATURES = tuple(FEATURE_INDEX[features[0]] for _, features in FACTOR_GROUPS)
_GROUP_KEY_FEATURE = np.array(GROUP_KEY_FEATURES)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EFFECT = ("lowers the delay risk", "raises the delay risk")  # indexed by "pushes it up"
_WEATHER_EFFECT = ("lowers the risk", "raises the risk")


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
def _airline_text(airline: str, rate: float, up: bool) -> str:
    return f"Airline {airline} (historically late {rate:.0%} of the time) {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _origin_text(origin: str, hour: int, rate: float, up: bool) -> str:
    return (
        f"Departures from {_airport_label(origin)} around {hour:02d}:00 historically late "
        f"{rate:.0%} of the time {_EFFECT[up]}"
    )


@lru_cache(maxsize=_CACHE)
def _destination_text(destination: str, up: bool) -> str:
    return f"Destination {_airport_label(destination)} {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _route_text(origin: str, destination: str, rate: float, up: bool) -> str:
    return (
        f"Route {_airport_label(origin)} → {_airport_label(destination)} historically late "
        f"{rate:.0%} of the time {_EFFECT[up]}"
    )


@lru_cache(maxsize=_CACHE)
def _density_text(origin: str, flights: float, up: bool) -> str:
    label = _airport_label(origin)
    return f"Busy hour at {label}: about {flights:.0f} planned departures {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _distance_text(km: float, up: bool) -> str:
    return f"Distance {km:,.0f} km {_EFFECT[up]}"


@lru_cache(maxsize=_CACHE)
def _weather_sentence(name: str, value: float, up: bool) -> str:
    return f"Origin weather: {weather_text(name, value)} {_WEATHER_EFFECT[up]}"


# What each group's sentence function is given, in order, before the direction: a feature
# ("int:<name>" whole, "<name>" as is), the airline's vocabulary name, or the airport codes.
_AIRLINE_NAME, _ORIGIN, _DESTINATION = "airline name", "origin", "destination"
_SENTENCES: dict[str, tuple[Callable[..., str], tuple[str, ...]]] = {
    "time": (_time_text, ("int:hour", "int:minute")),
    "weekday": (_weekday_text, ("int:weekday",)),
    "holiday": (_holiday_text, ("int:days_to_holiday",)),
    "airline": (_airline_text, (_AIRLINE_NAME, "airline_delay_rate")),
    "origin": (_origin_text, (_ORIGIN, "int:hour", "origin_hour_delay_rate")),
    "destination": (_destination_text, (_DESTINATION,)),
    "route": (_route_text, (_ORIGIN, _DESTINATION, "route_delay_rate")),
    "density": (_density_text, (_ORIGIN, "origin_hour_density")),
    "distance": (_distance_text, ("distance_km",)),
    **{name: (partial(_weather_sentence, name), (name,)) for name in WEATHER_FIELDS},
}
assert set(_SENTENCES) == set(GROUP_NAMES)


class FactorWriter:
    """Plain-English sentences for the features that moved one prediction most.

    A group is only ever written when its first feature is known (see `factors`), so the
    airline, origin and destination sentences always have a vocabulary entry to name.
    """

    def __init__(self, tables: FeatureTables) -> None:
        self.tables = tables
        self._sentences = tuple(_SENTENCES[name] for name in GROUP_NAMES)
        # One flight: per group, the getters of its sentence's arguments, made once.
        self._getters = tuple(
            tuple(self._getter(arg) for arg in args) for _, args in self._sentences
        )

    def _getter(self, arg: str) -> Callable[[list[float], str, str], str | int | float]:
        if arg == _ORIGIN:
            return lambda _x, origin, _d: origin
        if arg == _DESTINATION:
            return lambda _x, _o, destination: destination
        if arg == _AIRLINE_NAME:
            airlines, code = self.tables.airlines, FEATURE_INDEX["airline"]
            return lambda x, _o, _d: airlines[int(x[code])]
        if arg.startswith("int:"):
            column = FEATURE_INDEX[arg[4:]]
            return lambda x, _o, _d: int(x[column])
        column = FEATURE_INDEX[arg]
        return lambda x, _o, _d: x[column]

    def _column(
        self,
        arg: str,
        x: np.ndarray,
        rows: np.ndarray,
        origin: Sequence[str],
        destination: Sequence[str],
    ) -> list[str] | list[int] | list[float]:
        if arg == _ORIGIN:
            return [origin[i] for i in rows.tolist()]
        if arg == _DESTINATION:
            return [destination[i] for i in rows.tolist()]
        if arg == _AIRLINE_NAME:
            codes = x[rows, FEATURE_INDEX["airline"]].astype(np.int64).tolist()
            return [self.tables.airlines[c] for c in codes]
        if arg.startswith("int:"):
            column: list[int] = x[rows, FEATURE_INDEX[arg[4:]]].astype(np.int64).tolist()
            return column
        values: list[float] = x[rows, FEATURE_INDEX[arg]].tolist()
        return values

    # -- ranking ---------------------------------------------------------------------------------

    def row(
        self,
        grouped: Sequence[float],
        x: list[float],
        airline: str,
        origin: str,
        destination: str,
    ) -> list[str]:
        """`factors` for one flight in plain Python (same ranking: stable, strongest first)."""
        strength = [
            -1.0 if x[k] != x[k] else abs(v)
            for v, k in zip(grouped, GROUP_KEY_FEATURES, strict=True)
        ]
        top = sorted(range(len(strength)), key=strength.__getitem__, reverse=True)[:3]
        out = []
        for g in top:
            if strength[g] > 0:
                values = [get(x, origin, destination) for get in self._getters[g]]
                out.append(self._sentences[g][0](*values, grouped[g] > 0))
        return out

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
        keep = strength[rows, top] > 0
        up = grouped[rows, top] > 0
        text = np.empty(top.shape, dtype=object)
        # Group by group: each sentence function mapped over the flights it ranks for (a
        # group without strength is no factor: its slot stays empty and is dropped below).
        for g in np.unique(top[keep]).tolist():
            write, args = self._sentences[g]
            at_rows, at_slots = np.nonzero((top == g) & keep)
            columns = [self._column(arg, x, at_rows, origin, destination) for arg in args]
            text[at_rows, at_slots] = list(map(write, *columns, up[at_rows, at_slots].tolist()))
        out: list[list[str]] = text.tolist()
        if not keep.all():
            for i in np.flatnonzero(~keep.all(axis=1)).tolist():
                out[i] = [t for t, k in zip(out[i], keep[i].tolist(), strict=True) if k]
        return out
