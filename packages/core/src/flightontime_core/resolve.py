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
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from flightontime_core.airports import Airport, distance_m, renamed, resolve_airport
from flightontime_core.arrays import distinct
from flightontime_core.calendar import EPOCH_ORDINAL
from flightontime_core.errors import FlightError, Problem, problem
from flightontime_core.features import MINUTES_PER_DAY, FeatureTables
from flightontime_core.flight_table import FlightTable
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


def unlisted_airport(code: str) -> Airport:
    """A well-formed code no reference table knows: no coordinates, time zone or country."""
    return Airport(
        icao=code.strip().upper(), iata="", name="", country="", lat=math.nan, lon=math.nan, tz=""
    )


def located(airport: Airport) -> bool:
    """Whether an airport has coordinates (an unlisted code has none)."""
    return math.isfinite(airport.lat) and math.isfinite(airport.lon)


def plausible_range(great_circle_m: float) -> tuple[float, float]:
    """The distances (metres) a flown route whose great circle is `great_circle_m` can have."""
    return (
        MIN_DISTANCE_RATIO * great_circle_m,
        MAX_DISTANCE_RATIO * great_circle_m + DISTANCE_MARGIN_M,
    )


def plausible(metres: float, great_circle_m: float) -> bool:
    """Whether a distance can be a flown route's whose great circle is `great_circle_m`."""
    lo, hi = plausible_range(great_circle_m)
    return lo <= metres <= hi


def probable_unit(value: float, unit: str, great_circle_m: float) -> str:
    """The unit a value sent as `unit` fits the route in instead ("" when none does)."""
    for other, metres in UNITS.items():
        if other != unit and plausible(value * metres, great_circle_m):
            return other
    return ""


@dataclass(frozen=True, slots=True)
class Route:
    """What a flight's codes resolve to, with the notices they bring."""

    airline: str  # upper case, as given
    origin: Airport
    destination: Airport
    # The great circle (NaN when an airport has no coordinates) and the plausible range of a
    # given distance (`plausible_range`).
    distances: tuple[float, float, float]
    notices: tuple[Notice, ...]
    # The notices of the common case (a local departure time and no weather): a batch shares
    # this tuple instead of building one per flight.
    plain_notices: tuple[Notice, ...]
    # The resolver's id of the (origin, destination) pair, never reused for another pair:
    # what a route's flights of any airline share (the route's sentence) is cached under it.
    pair_id: int = 0

    @property
    def distance_m(self) -> float:
        """The great circle between the airports (NaN when one has no coordinates)."""
        return self.distances[0]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The usable flights of a table as columns (in input order) and the problems of the
    others."""

    n: int  # rows of the table
    rows: np.ndarray  # intp: the usable rows' positions in the table
    routes: list[Route]  # the distinct routes of the usable rows
    route: np.ndarray  # intp per usable row: its route in `routes`
    minutes: np.ndarray  # int64: local wall-clock minutes since 1970-01-01 at the origin
    distance_m: np.ndarray  # float64: what the features use
    weather: np.ndarray | None  # (m, N_WEATHER) float64, NaN where not given; None: no row has
    notices: list[tuple[Notice, ...]]  # the distinct notice lists
    notice_index: np.ndarray  # intp per usable row
    errors: dict[int, FlightError]  # by position in the table


class Resolver:
    """Resolves flights against one model's tables; lookups are memoised and bounded."""

    def __init__(self, tables: FeatureTables, uses_weather: bool, max_cached: int = 8192) -> None:
        self.tables = tables
        self.uses_weather = uses_weather
        self.max_cached = max_cached
        self._routes: dict[tuple[str, str, str], Route | tuple[Problem, ...]] = {}
        self._pairs: dict[tuple[str, str], int] = {}
        self._next_id = 0

    def route(self, airline: str, origin: str, destination: str) -> Route | tuple[Problem, ...]:
        """The resolved route of a flight's codes as sent, or its problems."""
        key = (airline, origin, destination)
        if type(airline) is not str or type(origin) is not str or type(destination) is not str:
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
        pair = (first.icao, second.icao)
        pair_id = self._pairs.get(pair)
        if pair_id is None:
            if len(self._pairs) >= self.max_cached:
                self._pairs.clear()  # bounded; ids keep counting, so none is ever reused
            pair_id = self._pairs[pair] = self._next_id = self._next_id + 1
        great_circle = distance_m(first, second)
        distances = (great_circle, *plausible_range(great_circle))
        return Route(code, first, second, distances, tuple(notices), plain, pair_id)

    def table(self, flights: FlightTable) -> Resolved:
        """Every flight of a table resolved, as columns of the usable ones (in input order),
        and the problems of the others: each distinct route and departure text is worked out
        once, every rule on numbers runs over whole columns (and is skipped where a column
        has nothing to check)."""
        n = len(flights)
        problems: dict[int, list[Problem]] = {i: list(p) for i, p in flights.problems.items()}
        errors: dict[int, FlightError] = dict(flights.refused)

        routes = [self.route(*key) for key in flights.routes.values]
        route_index = flights.routes.index
        for k, found in enumerate(routes):
            if not isinstance(found, Route):
                for i in np.flatnonzero(route_index == k).tolist():
                    problems.setdefault(i, []).extend(found)

        # Departures: the clock time as given and, where an offset was given, the instant.
        parsed = list(map(parse_departure, flights.departures.values))
        departure_index = flights.departures.index
        bad = [j for j, found in enumerate(parsed) if isinstance(found, Problem)]
        for j in bad:
            for i in np.flatnonzero(departure_index == j).tolist():
                problems.setdefault(i, []).append(parsed[j])  # type: ignore[arg-type]
        times: list[datetime] = (
            parsed
            if not bad
            else [  # type: ignore[assignment]
                _EPOCH_NAIVE if isinstance(d, Problem) else d for d in parsed
            ]
        )
        wall = list(map(local_minutes, times))
        aware_any = {d.tzinfo for d in times} != {None}
        wall_of = np.array(wall or [0], dtype=np.int64)

        given, unit = _given_distances(flights.distance_m, flights.distance_km, problems)
        weather = flights.weather
        if weather is not None:
            _check_weather(weather, problems)

        for i, listed in problems.items():
            if i not in errors:
                errors[i] = FlightError(sorted(listed, key=_field_rank))
        if errors or not all(isinstance(r, Route) for r in routes):
            live = np.ones(n, dtype=bool)
            live[list(errors)] = False
            rows = np.flatnonzero(live)
            # The distinct routes of the usable rows, renumbered.
            used, inverse = np.unique(route_index[rows], return_inverse=True)
            kept = [routes[k] for k in used.tolist()]
            route = inverse.astype(np.intp).ravel()
            departure = departure_index[rows]
        else:
            rows = np.arange(n)
            kept, route, departure = routes, route_index, departure_index
        usable: list[Route] = kept  # refused rows' routes are left out
        minutes = wall_of.take(departure)
        flags: np.ndarray | None = None  # per row, where rows differ in what they add
        if aware_any:
            aware = np.array([d.tzinfo is not None for d in times])
            rows_aware = np.flatnonzero(aware[departure])
            utc = np.array(list(map(_utc_minutes, times)), dtype=np.int64)
            local, unknown = _local_minutes(
                utc[departure[rows_aware]],
                [usable[k].origin.tz for k in route[rows_aware].tolist()],
            )
            # No zone known for the airport: the given clock time is the best there is.
            minutes[rows_aware] = np.where(unknown, minutes[rows_aware], local)
            if unknown.any():
                flags = np.zeros(rows.size, dtype=np.int64)
                flags[rows_aware[unknown]] |= _UNKNOWN_ZONE

        # Per row: the great circle and the plausible range of a given distance.
        limits = np.array([r.distances for r in usable] or [(0.0, 0.0, 0.0)]).take(route, axis=0)
        distance = limits[:, 0]
        implausible = None
        if given is not None:
            given_rows = given[rows] if errors else given
            distance, implausible = _checked_distances(given_rows, limits)

        row_weather = None if weather is None else weather[rows] if errors else weather
        uniform = 0  # what every row adds, when they all add the same
        if row_weather is not None:
            has_weather = ~np.isnan(row_weather).all(axis=1)
            if has_weather.all():
                uniform = 0 if self.uses_weather else _WEATHER_IGNORED
            else:
                flags = np.zeros(rows.size, dtype=np.int64) if flags is None else flags
                flags[has_weather if not self.uses_weather else ~has_weather] |= (
                    _WEATHER_IGNORED if not self.uses_weather else _WEATHER_MISSING
                )
            if not self.uses_weather or not has_weather.any():
                row_weather = None
        elif self.uses_weather:
            uniform = _WEATHER_MISSING

        if flags is None:
            notices = [_with_flags(r, uniform) for r in usable]
            notice_index = route
        else:
            notices, notice_index = _notices(usable, route, flags | uniform)
        if implausible is not None and np.count_nonzero(implausible):
            notice_index = notice_index.copy()
            for i in np.flatnonzero(implausible).tolist():
                value, sent_unit = _sent(flights, int(rows[i]), unit)
                replaced = _replaced(usable[route[i]], value, sent_unit)
                notices.append((*notices[notice_index[i]], replaced))
                notice_index[i] = len(notices) - 1
        return Resolved(
            n,
            rows,
            usable,
            route,
            minutes,
            distance,
            row_weather,
            notices,
            notice_index,
            errors,
        )


def _with_flags(route: Route, flag: int) -> tuple[Notice, ...]:
    """A route's notices with what a row adds to them (`_UNKNOWN_ZONE` | ...)."""
    if flag == _WEATHER_MISSING:
        return route.plain_notices
    if not flag:
        return route.notices
    extra: list[Notice] = []
    if flag & _UNKNOWN_ZONE:
        extra.append(notice("unknown_timezone", airport=route.origin.icao))
    if flag & _WEATHER_IGNORED:
        extra.append(WEATHER_IGNORED)
    if flag & _WEATHER_MISSING:
        extra.append(WEATHER_MISSING)
    return (*route.notices, *extra)


def _notices(
    routes: Sequence[Route], route: np.ndarray, flags: np.ndarray
) -> tuple[list[tuple[Notice, ...]], np.ndarray]:
    """Each row's notices as an index into the distinct notice lists of the batch."""
    keys, index = distinct(route.astype(np.int64) * _FLAG_SPAN + flags)
    notices = [_with_flags(routes[r], f) for r, f in (divmod(v, _FLAG_SPAN) for v in keys)]
    return notices, index


def _checked_distances(given: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distance the features use (the given one unless it cannot be the route's, or none
    is given: then the great circle, NaN where an airport has no coordinates) and which rows'
    given distance was replaced; `limits` holds each row's great circle and plausible range."""
    great_circle = limits[:, 0]
    implausible = (given < limits[:, 1]) | (given > limits[:, 2])  # False wherever NaN
    return np.where(np.isnan(given) | implausible, great_circle, given), implausible


# Bits of what a row adds to its route's notices.
_UNKNOWN_ZONE: Final = 1
_WEATHER_IGNORED: Final = 2
_WEATHER_MISSING: Final = 4
_FLAG_SPAN: Final = 8
_FIELD_ORDER: Final = ("airline", "origin", "destination", "departure", "distance_m", "distance_km")


def _field_rank(found: Problem) -> int:
    """Problems in the order of the flight's fields (the weather's last, in its order)."""
    head = found.field.partition(".")[0]
    if head == "weather":
        return len(_FIELD_ORDER) + WEATHER_FIELDS.index(found.field.partition(".")[2])
    return _FIELD_ORDER.index(head) if head in _FIELD_ORDER else -1


def _utc_minutes(departure: datetime) -> int:
    """Minutes since 1970-01-01 UTC of an aware time (0 for a naive one: not used)."""
    if departure.tzinfo is None:
        return 0
    return local_minutes(departure.astimezone(UTC).replace(tzinfo=None))


def _local_minutes(utc: np.ndarray, zones: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Local wall-clock minutes of UTC minutes at each row's origin zone, through the zone's
    UTC offset at each instant involved; and the rows whose zone is unknown."""
    offsets: dict[tuple[str, int], int | None] = {}
    out = utc.copy()
    unknown = np.zeros(utc.size, dtype=bool)
    for i, (key, minute) in enumerate(zip(zones, utc.tolist(), strict=True)):
        offset = offsets.get((key, minute), -1)
        if offset == -1:
            zone = _zone(key) if key else None
            offset = None if zone is None else _offset_minutes(zone, minute)
            offsets[(key, minute)] = offset
        if offset is None:
            unknown[i] = True
        else:
            out[i] += offset
    return out, unknown


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)  # stands for a departure refused


def _offset_minutes(zone: ZoneInfo, utc_minute: int) -> int:
    """A zone's UTC offset in minutes at an instant."""
    offset = (_EPOCH + timedelta(minutes=utc_minute)).astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) // 60


def _given_distances(
    metres: np.ndarray | None, km: np.ndarray | None, problems: dict[int, list[Problem]]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The given distance of each row in metres (NaN: none given; None: no row gives one) and
    the unit it came in (0: m, 1: km); each bad or disagreeing value is its row's problem."""
    if metres is None and km is None:
        return None, None
    for values, name, limit in (
        (metres, "distance_m", MAX_DISTANCE_M),
        (km, "distance_km", MAX_DISTANCE_KM),
    ):
        if values is None:
            continue
        bad = (values <= 0.0) | (values > limit)  # False where NaN: not given
        if np.count_nonzero(bad):
            for i in np.flatnonzero(bad).tolist():
                reason = "not_finite" if math.isinf(values[i]) else "not_positive"
                params = {} if reason == "not_finite" else {"max": limit}
                problems.setdefault(i, []).append(problem(name, reason, **params))
    if km is None:
        return metres, None
    if metres is None:
        return km * 1000.0, None
    disagree = np.abs(metres - km * 1000.0) > DISTANCE_AGREEMENT_M  # False where either is NaN
    for i in np.flatnonzero(disagree).tolist() if np.count_nonzero(disagree) else ():
        m, k = float(metres[i]), float(km[i])
        if not (math.isfinite(m) and math.isfinite(k)):
            continue
        # One problem per field, so the answer names both disagreeing fields.
        problems.setdefault(i, []).extend(
            [
                problem("distance_m", "distances_disagree", metres=m, km=k),
                problem("distance_km", "distances_disagree", metres=m, km=k),
            ]
        )
    unit = np.where(np.isnan(metres), 1, 0)
    return np.where(np.isnan(metres), km * 1000.0, metres), unit


def _sent(flights: FlightTable, row: int, unit: np.ndarray | None) -> tuple[float, str]:
    """The distance value of a row as it was sent, and its unit."""
    if flights.distance_m is None or (unit is not None and unit[row]):
        assert flights.distance_km is not None
        return float(flights.distance_km[row]), "km"
    return float(flights.distance_m[row]), "m"


def _replaced(route: Route, value: float, unit: str) -> Notice:
    """The notice of a given distance that cannot be the route's (the great circle is used)."""
    great_circle = route.distance_m
    return notice(
        "distance_replaced",
        value=value,
        unit=unit,
        probable=probable_unit(value, unit, great_circle),
        route=f"{route.origin.icao}-{route.destination.icao}",
        km=round(great_circle / 1000.0, 1),
    )


_LOWER: Final = np.array([WEATHER_BOUNDS[name][0] for name in WEATHER_FIELDS])
_UPPER: Final = np.array([WEATHER_BOUNDS[name][1] for name in WEATHER_FIELDS])


def _check_weather(weather: np.ndarray, problems: dict[int, list[Problem]]) -> None:
    """Each weather value outside its bounds (or infinite) is its row's problem."""
    bad = (weather < _LOWER) | (weather > _UPPER)  # False where NaN: not given
    for i, j in zip(*np.nonzero(bad), strict=True):
        name = WEATHER_FIELDS[int(j)]
        value = float(weather[i, j])
        field = f"weather.{name}"
        if not math.isfinite(value):
            problems.setdefault(int(i), []).append(problem(field, "not_finite"))
        else:
            lo, hi = WEATHER_BOUNDS[name]
            problems.setdefault(int(i), []).append(problem(field, "out_of_range", min=lo, max=hi))
