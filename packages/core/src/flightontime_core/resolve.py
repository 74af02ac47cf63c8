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

from flightontime_core.airports import Airport, distance_m, renamed, resolve_airport
from flightontime_core.calendar import EPOCH_ORDINAL
from flightontime_core.errors import FlightError, Problem, problem
from flightontime_core.features import MINUTES_PER_DAY, N_WEATHER, FeatureTables, FlightColumns
from flightontime_core.flights import (
    AIRLINE_PATTERN,
    AIRPORT_PATTERN,
    DISTANCE_AGREEMENT_M,
    DISTANCE_MARGIN_M,
    MAX_DISTANCE_KM,
    MAX_DISTANCE_M,
    MAX_DISTANCE_RATIO,
    MAX_YEAR,
    MIN_DISTANCE_RATIO,
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
# Metres per unit a distance may have been sent in, in the order a mix-up is guessed.
UNITS: dict[str, float] = {"m": 1.0, "km": 1000.0, "mi": 1609.344}


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


def unlisted_airport(code: str) -> Airport:
    """A well-formed code no reference table knows: no coordinates, time zone or country."""
    return Airport(
        icao=code.strip().upper(), iata="", name="", country="", lat=math.nan, lon=math.nan, tz=""
    )


def located(airport: Airport) -> bool:
    """Whether an airport has coordinates (an unlisted code has none)."""
    return math.isfinite(airport.lat) and math.isfinite(airport.lon)


def _distance_value(value: object, field: str, limit: float) -> float | Problem:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return problem(field, "wrong_type", expected="number")
    if not math.isfinite(value):
        return problem(field, "not_finite")
    if not 0 < value <= limit:
        return problem(field, "not_positive", max=limit)
    return float(value)


def given_distance(metres: object, km: object) -> tuple[float, str, float] | list[Problem] | None:
    """A flight's given distance as (metres, the unit it came in, the value as sent), its
    problems (a bad value; both fields given and disagreeing), or None when none is given."""
    m = None if metres is None else _distance_value(metres, "distance_m", MAX_DISTANCE_M)
    k = None if km is None else _distance_value(km, "distance_km", MAX_DISTANCE_KM)
    if isinstance(m, Problem) or isinstance(k, Problem):
        return [v for v in (m, k) if isinstance(v, Problem)]
    if m is not None and k is not None:
        if abs(m - k * 1000.0) > DISTANCE_AGREEMENT_M:
            # One problem per field, so the answer names both disagreeing fields.
            return [
                problem("distance_m", "distances_disagree", metres=m, km=k),
                problem("distance_km", "distances_disagree", metres=m, km=k),
            ]
        return m, "m", m
    if m is not None:
        return m, "m", m
    if k is not None:
        return k * 1000.0, "km", k
    return None


def plausible(metres: float, great_circle_m: float) -> bool:
    """Whether a distance can be a flown route's whose great circle is `great_circle_m`."""
    lo = MIN_DISTANCE_RATIO * great_circle_m
    return lo <= metres <= MAX_DISTANCE_RATIO * great_circle_m + DISTANCE_MARGIN_M


def probable_unit(value: float, unit: str, great_circle_m: float) -> str:
    """The unit a value sent as `unit` fits the route in instead ("" when none does)."""
    for other, metres in UNITS.items():
        if other != unit and plausible(value * metres, great_circle_m):
            return other
    return ""


def checked_distance(
    route: Route, given: tuple[float, str, float] | None
) -> tuple[float, Notice | None]:
    """The distance the features use, and the notice when the given one cannot be the route's.

    Without a given distance: the great circle (NaN when an airport has no coordinates). A
    given distance is used unless both airports are located and it is outside the physical
    bounds of the great circle; then the great circle is used and the notice says which unit
    the value probably was in."""
    great_circle = route.distance_m
    if given is None:
        return great_circle, None
    metres, unit, value = given
    if not math.isfinite(great_circle) or plausible(metres, great_circle):
        return metres, None
    return great_circle, notice(
        "distance_replaced",
        value=value,
        unit=unit,
        probable=probable_unit(value, unit, great_circle),
        route=f"{route.origin.icao}-{route.destination.icao}",
        km=round(great_circle / 1000.0, 1),
    )


@dataclass(frozen=True, slots=True)
class Route:
    """What a flight's codes resolve to, with the notices they bring."""

    airline: str  # upper case, as given
    origin: Airport
    destination: Airport
    distance_m: float  # great circle (NaN when an airport has no coordinates)
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
        notices: list[Notice] = []
        for field, code in (("origin", origin), ("destination", destination)):
            found = None
            if not isinstance(code, str):
                problems.append(problem(field, "wrong_type", expected="text"))
            elif not _AIRPORT.match(code):
                problems.append(problem(field, "invalid_airport_code"))
            else:
                old = code.strip().upper()
                current = renamed().get(old)
                if current is not None:
                    # The aerodrome's current code: the history (and the models) know it by it.
                    notices.append(notice("renamed_airport", old=old, current=current))
                found = resolve_airport(current or code) or unlisted_airport(code)
            airports.append(found)
        first, second = airports
        if first is not None and second is not None and first.icao == second.icao:
            problems.append(problem("destination", "same_airports", icao=first.icao))
        if problems or first is None or second is None or not isinstance(airline, str):
            return tuple(problems)

        code = airline.strip().upper()
        notices += [
            notice("unlisted_airport", airport=a.icao) for a in (first, second) if not located(a)
        ]
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
        given = given_distance(flight.distance_m, flight.distance_km)
        if isinstance(given, list):
            problems.extend(given)
        weather = weather_row(flight.weather)
        if isinstance(weather, list):
            problems.extend(weather)
        if problems or not isinstance(route, Route) or isinstance(weather, list):
            return FlightError(problems)
        assert isinstance(departure, datetime)
        assert not isinstance(given, list)
        distance, mismatch = checked_distance(route, given)
        if departure.tzinfo is None and weather is None and mismatch is None:
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
            if mismatch is not None:
                extra.append(mismatch)
            notices = (*route.notices, *extra)
        return route, local_minutes(departure), distance, weather, notices

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
