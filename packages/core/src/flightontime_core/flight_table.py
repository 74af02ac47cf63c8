"""Flights as given, as columns: what every prediction path reads.

One flight, a batch of `Flight`s and an Arrow table of contract-named columns all become a
`FlightTable`, and the resolver, the features and the model only ever see that. The codes and
the departures are dictionary-encoded (each distinct value once, an index per row): traffic
repeats a few hundred routes, so everything about a route or a departure text is worked out
once per distinct value, and an Arrow table's rows never become Python objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np

from flightontime_core.arrays import distinct
from flightontime_core.contract import (
    FLIGHT_FIELDS,
    REQUIRED_FIELDS,
    WEATHER_NAMES,
    contract_field,
)
from flightontime_core.errors import FlightError, Problem, problem
from flightontime_core.features import N_WEATHER
from flightontime_core.flights import WEATHER_FIELDS, Flight

if TYPE_CHECKING:
    import pyarrow as pa

_NUMBERS: Final = (float, int)
# A flight's attributes `FlightTable.from_records` reads, in its order.
PLAIN_FIELDS: Final = ("airline", "origin", "destination", "departure", "distance_m", "distance_km")
# The same fields under their contract names (what a typed batch body carries).
_SENT_FIELDS: Final = tuple(contract_field(name) for name in PLAIN_FIELDS)


class _TypedFlight(msgspec.Struct):
    """A contract flight whose every field has its type and that carries no weather: what a
    batch decodes straight into columns."""

    companhia: str
    origem: str
    destino: str
    data_partida: str
    distancia_m: float | None = None
    distancia_km: float | None = None
    clima: None = None


class _TypedBatch(msgspec.Struct):
    voos: list[_TypedFlight]


_TYPED_BATCH: Final = msgspec.json.Decoder(_TypedBatch)


@dataclass(frozen=True)
class Coded:
    """A dictionary-encoded column: its distinct values and, per row, the index of its value."""

    values: list[Any]
    index: np.ndarray  # intp

    def take(self, rows: np.ndarray) -> Coded:
        """The column at `rows`, with only the values those rows use."""
        used, index = distinct(self.index[rows])
        return Coded([self.values[i] for i in used], index)


@dataclass(frozen=True)
class FlightTable:
    """n flights as given: codes and departures dictionary-encoded, numbers as float64 (NaN
    where not given), the rows already refused and the problems found while reading."""

    routes: Coded  # (airline, origin, destination) as sent
    departures: Coded  # text or datetime, as sent
    distance_m: np.ndarray | None  # None when no row gives one
    distance_km: np.ndarray | None
    weather: np.ndarray | None  # (n, N_WEATHER); None when no row gives any
    refused: dict[int, FlightError] = field(default_factory=dict)
    problems: dict[int, list[Problem]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.routes.index.shape[0])

    def take(self, rows: np.ndarray) -> FlightTable:
        """The flights at `rows` (positions, in order), renumbered from 0."""
        renumber = {int(p): i for i, p in enumerate(rows.tolist())}
        return FlightTable(
            self.routes.take(rows),
            self.departures.take(rows),
            None if self.distance_m is None else self.distance_m[rows],
            None if self.distance_km is None else self.distance_km[rows],
            None if self.weather is None else self.weather[rows],
            {renumber[p]: e for p, e in self.refused.items() if p in renumber},
            {renumber[p]: found for p, found in self.problems.items() if p in renumber},
        )

    @classmethod
    def from_flights(cls, flights: Sequence[Flight | FlightError | None]) -> FlightTable:
        """The table of `Flight`s (an item that is a FlightError or None stays refused)."""
        if all(type(f) is Flight for f in flights):
            fast = _plain_flights(flights)  # type: ignore[arg-type]  # all Flights, checked
            if fast is not None:
                return fast
        return cls._from_any(flights)

    @classmethod
    def from_json_batch(cls, body: bytes) -> FlightTable | None:
        """A batch body in the contract's shape (`{"voos": [...]}`, strict JSON) decoded
        straight into columns, with no dict or `Flight` per flight; None when any flight has a
        field of another type, a missing one or weather: then read it one flight at a time
        (`contract.flight_from_json`), which names each problem. The values' rules are the
        resolver's either way."""
        try:
            flights = _TYPED_BATCH.decode(body).voos
        except msgspec.DecodeError:  # not JSON, or a value of another type (ValidationError)
            return None
        return cls.from_records(flights, _SENT_FIELDS)

    @classmethod
    def from_records(
        cls, records: Sequence[Any], fields: Sequence[str] = PLAIN_FIELDS
    ) -> FlightTable | None:
        """The table of objects with no weather whose `fields` attributes are, in order, the
        airline, origin, destination, departure, distance in metres and in km (`Flight`s by
        default): codes and departures hashable, distances plain finite numbers or None. None
        when a value needs the closer, one-by-one look of `from_flights`."""
        airline, origin, destination, departure, distance_m, distance_km = (
            list(map(attrgetter(name), records)) for name in fields
        )
        metres, km = _numbers(distance_m), _numbers(distance_km)
        if metres is False or km is False:
            return None
        try:
            routes = _coded(list(zip(airline, origin, destination, strict=True)))
            departures = _coded(departure)
        except TypeError:  # an unhashable value: the resolver names its type
            return None
        return FlightTable(routes, departures, metres, km, None)  # type: ignore[arg-type]

    @classmethod
    def _from_any(cls, flights: Sequence[Flight | FlightError | None]) -> FlightTable:
        """`from_flights` one item at a time, whatever each one holds."""
        n = len(flights)
        routes: dict[tuple[str, str, str], int] = {}
        route_values: list[Any] = []
        departures: dict[Any, int] = {}
        departure_values: list[Any] = []
        route_index = np.zeros(n, dtype=np.intp)
        departure_index = np.zeros(n, dtype=np.intp)
        distance_m: dict[int, float] = {}
        distance_km: dict[int, float] = {}
        weather: dict[int, list[float]] = {}
        refused: dict[int, FlightError] = {}
        problems: dict[int, list[Problem]] = {}
        for i, flight in enumerate(flights):
            if not isinstance(flight, Flight):
                refused[i] = (
                    flight
                    if isinstance(flight, FlightError)
                    else FlightError([problem("flight", "wrong_type", expected="object")])
                )
                continue
            key = (flight.airline, flight.origin, flight.destination)
            if type(key[0]) is str and type(key[1]) is str and type(key[2]) is str:
                at = routes.get(key)
                if at is None:
                    at = routes[key] = len(route_values)
                    route_values.append(key)
            else:  # never a dictionary key: the resolver names the wrong types
                at = len(route_values)
                route_values.append(key)
            route_index[i] = at
            departure = flight.departure
            if isinstance(departure, str | datetime):
                at = departures.get(departure)
                if at is None:
                    at = departures[departure] = len(departure_values)
                    departure_values.append(departure)
            else:
                at = len(departure_values)
                departure_values.append(departure)
            departure_index[i] = at
            found: list[Problem] = []
            if flight.distance_m is not None:
                distance_m[i] = _given_number(flight.distance_m, "distance_m", found)
            if flight.distance_km is not None:
                distance_km[i] = _given_number(flight.distance_km, "distance_km", found)
            if flight.weather is not None:
                values = flight.weather.values()
                row = [math.nan] * N_WEATHER
                for j, value in enumerate(values):
                    if value is not None:
                        row[j] = _given_number(value, f"weather.{WEATHER_FIELDS[j]}", found)
                weather[i] = row
            if found:
                problems[i] = found
        return cls(
            Coded(route_values, route_index),
            Coded(departure_values, departure_index),
            _column(n, distance_m),
            _column(n, distance_km),
            _weather_matrix(n, weather),
            refused,
            problems,
        )

    @classmethod
    def from_arrow(cls, table: pa.Table) -> FlightTable:
        """The table of an Arrow table of contract-named columns (`contract.REQUIRED_FIELDS`,
        optional `distancia_m`, `distancia_km` and the weather's names; other columns are
        ignored). Blank or null required values, and numbers that are no numbers, are the
        rows' problems; a blank number is not given."""
        import pyarrow as pa

        n = table.num_rows
        required: dict[int, list[Problem]] = {}
        problems: dict[int, list[Problem]] = {}
        codes = []
        for name in REQUIRED_FIELDS:
            if name not in table.column_names:
                raise ValueError(f"missing required column {name!r}")
            coded, blank = _encoded(table.column(name), text=name != "data_partida")
            for i in np.flatnonzero(blank).tolist():
                required.setdefault(i, []).append(problem(FLIGHT_FIELDS[name], "required"))
            codes.append(coded)
        airline, origin, destination, departures = codes
        # One code per distinct (airline, origin, destination) of the table.
        key = (airline.index.astype(np.int64) * len(origin.values) + origin.index) * len(
            destination.values
        ) + destination.index
        distinct, route_index = np.unique(key, return_inverse=True)
        a, rest = np.divmod(distinct, len(origin.values) * len(destination.values))
        o, d = np.divmod(rest, len(destination.values))
        route_values = [
            (airline.values[i], origin.values[j], destination.values[k])
            for i, j, k in zip(a.tolist(), o.tolist(), d.tolist(), strict=True)
        ]

        def number(name: str, field_name: str) -> np.ndarray | None:
            if name not in table.column_names:
                return None
            column = table.column(name)
            if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
                values: np.ndarray = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
                return np.where(np.isnan(values), math.nan, values)
            coded, _ = _encoded(column, text=True)
            parsed = [_parse_number(v) for v in coded.values]
            values = np.array([v for v, _ in parsed])[coded.index]
            for i in np.flatnonzero(np.array([bad for _, bad in parsed])[coded.index]).tolist():
                problems.setdefault(i, []).append(
                    problem(field_name, "wrong_type", expected="number")
                )
            return values

        distance_m = number("distancia_m", "distance_m")
        distance_km = number("distancia_km", "distance_km")
        weather = None
        given = [name for name in WEATHER_NAMES if name in table.column_names]
        if given:
            weather = np.full((n, N_WEATHER), math.nan)
            for name in given:
                field_name = WEATHER_NAMES[name]
                weather[:, WEATHER_FIELDS.index(field_name)] = number(name, f"weather.{field_name}")
            if np.isnan(weather).all():
                weather = None
        # A row without its required values is refused for them alone, as a record is.
        return cls(
            Coded(route_values, route_index.astype(np.intp).ravel()),
            departures,
            distance_m,
            distance_km,
            weather,
            {i: FlightError(found) for i, found in required.items()},
            {i: found for i, found in problems.items() if i not in required},
        )


def _coded(values: list[Any]) -> Coded:
    """A column of hashable values dictionary-encoded (TypeError when one is not hashable)."""
    seen: dict[Any, Any] = dict.fromkeys(values)  # first occurrences, in order
    if len(seen) == len(values):  # every value distinct: each row is its own
        return Coded(list(seen), np.arange(len(values), dtype=np.intp))
    for i, value in enumerate(seen):
        seen[value] = i
    index = np.fromiter(map(seen.__getitem__, values), dtype=np.intp, count=len(values))
    return Coded(list(seen), index)


_PLAIN_NUMBERS: Final = {float, int, type(None)}


def _numbers(values: list[Any]) -> np.ndarray | bool | None:
    """A column of optional numbers as float64 (NaN where None), None when none is given, or
    False when a value needs a closer look (a wrong type, NaN or an infinity given)."""
    if values.count(None) == len(values):
        return None
    if not set(map(type, values)) <= _PLAIN_NUMBERS:
        return False
    column = np.array(values, dtype=np.float64)  # None becomes NaN
    finite = np.isfinite(column)
    if np.count_nonzero(finite) != len(values) - values.count(None):
        return False
    return column


def _plain_flights(flights: Sequence[Flight]) -> FlightTable | None:
    """The table of Flights whose codes and departures are hashable, distances plain numbers
    and weather absent: columns built with one pass per field. None when any flight needs the
    closer, one-by-one look."""
    if any(f.weather is not None for f in flights):
        return None
    return FlightTable.from_records(flights)


def _given_number(value: object, field_name: str, found: list[Problem]) -> float:
    """A number given for a field, NaN with its problem recorded when it is not a finite one."""
    if type(value) in _NUMBERS and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int | float):
        found.append(problem(field_name, "wrong_type", expected="number"))
    elif not math.isfinite(value):
        found.append(problem(field_name, "not_finite"))
    else:  # a subclass of int or float
        return float(value)
    return math.nan


def _column(n: int, given: dict[int, float]) -> np.ndarray | None:
    if not given:
        return None
    values = np.full(n, math.nan)
    values[list(given)] = list(given.values())
    return values


def _weather_matrix(n: int, rows: dict[int, list[float]]) -> np.ndarray | None:
    if not rows:
        return None
    weather = np.full((n, N_WEATHER), math.nan)
    weather[list(rows)] = list(rows.values())
    return weather


def _parse_number(value: Any) -> tuple[float, bool]:
    """A text cell as (number, whether it is no number); blank is not given (NaN)."""
    if value is None:
        return math.nan, False
    text = str(value).strip()
    if not text:
        return math.nan, False
    try:
        return float(text), False
    except ValueError:
        return math.nan, True


def _encoded(column: pa.ChunkedArray, *, text: bool) -> tuple[Coded, np.ndarray]:
    """A column dictionary-encoded (codes as text when `text`), and which rows are blank."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if text and not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    encoded = pc.dictionary_encode(column).combine_chunks()
    values: list[Any] = encoded.dictionary.to_pylist()
    index = encoded.indices.fill_null(len(values)).to_numpy().astype(np.intp)
    values.append(None)  # the null rows' value
    blank_value = np.array(
        [v is None or (isinstance(v, str) and not v.strip()) for v in values], dtype=bool
    )
    return Coded(values, index), blank_value[index]
