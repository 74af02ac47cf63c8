"""From flights as people give them to resolved columns: codes, time zones, distance, notices.

Every rule about what makes a flight usable lives here, so every adapter gets the same answer
and the same problems for the same input. Code lookups are memoised per (airline, origin,
destination) as sent: traffic repeats a few hundred routes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import numpy as np

from flightontime_core.airports import Airport, distance_m, resolve_airport
from flightontime_core.calendar import EPOCH_ORDINAL
from flightontime_core.errors import FlightError, Problem, problem
from flightontime_core.features import MINUTES_PER_DAY, N_WEATHER, FeatureTables, FlightColumns
from flightontime_core.flights import (
    AIRLINE_PATTERN,
    AIRPORT_PATTERN,
    MAX_DISTANCE_M,
    MAX_YEAR,
    MIN_YEAR,
    WEATHER_BOUNDS,
    WEATHER_FIELDS,
    Flight,
    Weather,
)
from flightontime_core.prediction import Notice, notice

_AIRLINE = re.compile(AIRLINE_PATTERN)
_AIRPORT = re.compile(AIRPORT_PATTERN)
WEATHER_MISSING = notice("weather_missing")
WEATHER_IGNORED = notice("weather_ignored")


@lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_minutes(departure: datetime) -> int:
    """Wall-clock minutes since 1970-01-01 of a naive local time (seconds dropped)."""
    d = departure
    return (d.toordinal() - EPOCH_ORDINAL) * MINUTES_PER_DAY + d.hour * 60 + d.minute


def parse_departure(value: datetime | str) -> datetime | Problem:
    """A departure as a datetime (naive or with its offset), or the problem with it."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= 10:  # a date alone would silently become midnight
            try:
                datetime.fromisoformat(text)
            except ValueError:
                return problem("departure", "invalid_departure")
            return problem("departure", "departure_needs_time")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return problem("departure", "invalid_departure")
    elif not isinstance(value, datetime):
        return problem("departure", "wrong_type", expected="text")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return problem("departure", "departure_out_of_range", min=MIN_YEAR, max=MAX_YEAR)
    return value


_BOUNDS = tuple(WEATHER_BOUNDS[name] for name in WEATHER_FIELDS)
_NUMBERS = (float, int)


def weather_row(weather: Weather | None) -> tuple[float, ...] | list[Problem] | None:
    """The weather in `WEATHER_FIELDS` order (NaN where missing), its problems, or None."""
    if weather is None:
        return None
    values = msgspec.structs.astuple(weather)  # the fields in WEATHER_FIELDS order
    row: list[float] = []
    given = False
    for value, (lo, hi) in zip(values, _BOUNDS, strict=True):
        if value is None:
            row.append(math.nan)
        elif type(value) in _NUMBERS and lo <= value <= hi:  # NaN and infinities fail here
            row.append(float(value))
            given = True
        else:
            return _weather_problems(values)
    return tuple(row) if given else None


def _weather_problems(values: tuple[object, ...]) -> list[Problem]:
    """Every problem of a weather row that `weather_row`'s fast path refused."""
    problems: list[Problem] = []
    for name, value in zip(WEATHER_FIELDS, values, strict=True):
        if value is None:
            continue
        field = f"weather.{name}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(problem(field, "wrong_type", expected="number"))
            continue
        number = float(value)
        lo, hi = WEATHER_BOUNDS[name]
        if not math.isfinite(number):
            problems.append(problem(field, "not_finite"))
        elif not lo <= number <= hi:
            problems.append(problem(field, "out_of_range", min=lo, max=hi))
    return problems


@dataclass(frozen=True, slots=True)
class Route:
    """What a flight's codes resolve to, with the notices they bring."""

    airline: str  # upper case, as given
    origin: Airport
    destination: Airport
    distance_m: float  # great circle, for flights sent without a distance
    notices: tuple[Notice, ...]
    # The notices of the common case (a local departure time and no weather): a batch shares
    # this tuple instead of building one per flight.
    plain_notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class Resolved:
    """Usable flights as columns (in request order) and the problems of the others."""

    positions: list[int]  # indices of the usable flights in the input
    columns: FlightColumns
    notices: list[tuple[Notice, ...]]
    errors: dict[int, FlightError]


class Resolver:
    """Resolves flights against one model's tables; lookups are memoised and bounded."""

    def __init__(self, tables: FeatureTables, uses_weather: bool, max_cached: int = 8192) -> None:
        self.tables = tables
        self.uses_weather = uses_weather
        self.max_cached = max_cached
        self._routes: dict[tuple[str, str, str], Route | tuple[Problem, ...]] = {}

    def route(self, airline: str, origin: str, destination: str) -> Route | tuple[Problem, ...]:
        """The resolved route of a flight's codes as sent, or its problems."""
        key = (airline, origin, destination)
        if not all(isinstance(code, str) for code in key):
            return self._resolve_route(airline, origin, destination)  # never a cache key
        found = self._routes.get(key)
        if found is None:
            found = self._resolve_route(airline, origin, destination)
            if len(self._routes) >= self.max_cached:
                self._routes.clear()  # arbitrary codes from clients cannot grow memory
            self._routes[key] = found
        return found

    def _resolve_route(
        self, airline: object, origin: object, destination: object
    ) -> Route | tuple[Problem, ...]:
        problems: list[Problem] = []
        if not isinstance(airline, str):
            problems.append(problem("airline", "wrong_type", expected="text"))
        elif not _AIRLINE.match(airline):
            problems.append(problem("airline", "invalid_airline_code"))
        airports: list[Airport | None] = []
        for field, code in (("origin", origin), ("destination", destination)):
            found = None
            if not isinstance(code, str):
                problems.append(problem(field, "wrong_type", expected="text"))
            elif not _AIRPORT.match(code):
                problems.append(problem(field, "invalid_airport_code"))
            else:
                found = resolve_airport(code)
                if found is None:
                    problems.append(problem(field, "unknown_airport", code=code.strip().upper()))
            airports.append(found)
        first, second = airports
        if first is not None and second is not None and first.icao == second.icao:
            problems.append(problem("destination", "same_airports", icao=first.icao))
        if problems or first is None or second is None or not isinstance(airline, str):
            return tuple(problems)

        code = airline.strip().upper()
        notices: list[Notice] = []
        tables = self.tables
        if tables.airline_code(code) is None:
            notices.append(notice("unknown_airline", airline=code))
        unseen = [a.icao for a in (first, second) if not tables.knows_airport(a.icao)]
        if len(unseen) == 1:
            notices.append(notice("unknown_airport", airports=unseen[0]))
        elif unseen:
            notices.append(notice("unknown_airports", airports=", ".join(unseen)))
        elif not tables.knows_route(first.icao, second.icao):
            notices.append(notice("unseen_route", route=f"{first.icao}-{second.icao}"))
        plain = (*notices, WEATHER_MISSING) if self.uses_weather else tuple(notices)
        return Route(code, first, second, distance_m(first, second), tuple(notices), plain)

    def flight(
        self, flight: Flight
    ) -> tuple[Route, int, float, tuple[float, ...] | None, tuple[Notice, ...]] | FlightError:
        """One flight resolved: route, local minutes, distance, weather row and notices."""
        route = self.route(flight.airline, flight.origin, flight.destination)
        problems: list[Problem] = [] if isinstance(route, Route) else list(route)
        departure = parse_departure(flight.departure)
        if isinstance(departure, Problem):
            problems.append(departure)
        distance = flight.distance_m
        if distance is not None:
            if isinstance(distance, bool) or not isinstance(distance, int | float):
                problems.append(problem("distance_m", "wrong_type", expected="number"))
            elif not math.isfinite(distance):
                problems.append(problem("distance_m", "not_finite"))
            elif not 0 < distance <= MAX_DISTANCE_M:
                problems.append(problem("distance_m", "not_positive", max=MAX_DISTANCE_M))
        weather = weather_row(flight.weather)
        if isinstance(weather, list):
            problems.extend(weather)
        if problems or not isinstance(route, Route) or isinstance(weather, list):
            return FlightError(problems)
        assert isinstance(departure, datetime)
        if departure.tzinfo is None and weather is None:
            notices = route.plain_notices
        else:
            extra: list[Notice] = []
            if departure.tzinfo is not None:
                zone = _zone(route.origin.tz) if route.origin.tz else None
                if zone is None:
                    # No zone known for the airport: the given clock time is the best we have.
                    extra.append(notice("unknown_timezone", airport=route.origin.icao))
                    departure = departure.replace(tzinfo=None)
                else:
                    departure = departure.astimezone(zone).replace(tzinfo=None)
            if weather is not None and not self.uses_weather:
                extra.append(WEATHER_IGNORED)
                weather = None
            elif weather is None and self.uses_weather:
                extra.append(WEATHER_MISSING)
            notices = (*route.notices, *extra)
        km = route.distance_m if distance is None else float(distance)
        return route, local_minutes(departure), km, weather, notices

    def many(self, flights: Sequence[Flight | FlightError | None]) -> Resolved:
        """`flight` for many, straight into columns (an error or None: refused before)."""
        positions: list[int] = []
        routes: list[Route] = []
        minutes: list[int] = []
        distances: list[float] = []
        notices: list[tuple[Notice, ...]] = []
        weather: dict[int, tuple[float, ...]] = {}
        errors: dict[int, FlightError] = {}
        for i, flight in enumerate(flights):
            if flight is None:
                continue
            if isinstance(flight, FlightError):
                errors[i] = flight
                continue
            resolved = self.flight(flight)
            if isinstance(resolved, FlightError):
                errors[i] = resolved
                continue
            route, minute, km, row, notes = resolved
            if row is not None:
                weather[len(positions)] = row
            positions.append(i)
            routes.append(route)
            minutes.append(minute)
            distances.append(km)
            notices.append(notes)
        return Resolved(positions, _columns(routes, minutes, distances, weather), notices, errors)


def _columns(
    routes: Sequence[Route],
    minutes: Sequence[int],
    distances: Sequence[float],
    weather: dict[int, tuple[float, ...]],
) -> FlightColumns:
    n = len(routes)
    rows = np.full((n, N_WEATHER), np.nan)
    for i, row in weather.items():
        rows[i] = row
    return FlightColumns(
        airline=np.array([r.airline for r in routes], dtype=object),
        origin=np.array([r.origin.icao for r in routes], dtype=object),
        destination=np.array([r.destination.icao for r in routes], dtype=object),
        minutes=np.array(minutes, dtype=np.int64),
        distance_m=np.array(distances, dtype=np.float64),
        weather=rows,
    )
