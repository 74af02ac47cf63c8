"""From a validated request to model inputs: airport codes, time zones, distance, warnings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from flightontime.api.schemas import Clima, FlightRequest
from flightontime.data.airports import Airport, distance_m, resolve_airport
from flightontime.data.schema import WEATHER_FIELDS
from flightontime.features import FlightInputs, datetime_minutes

if TYPE_CHECKING:
    from flightontime.model.bundle import Bundle


class InputError(Exception):
    """A request that is well-formed but cannot be predicted (unknown airport, same airports)."""

    def __init__(self, detalhes: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['campo']}: {d['motivo']}" for d in detalhes))
        self.detalhes = detalhes


@dataclass(slots=True)
class ResolvedFlight:
    """One flight ready for the model, with the warnings found on the way."""

    airline: str
    origin: Airport
    destination: Airport
    departure_local: datetime  # naive, local time at the origin
    distance_m: float  # as given, or the great circle between the airports
    weather: tuple[float, ...] | None  # WEATHER_FIELDS order, NaN where not given
    avisos: Sequence[str] = ()  # a route's shared tuple in the common case: never mutated


@dataclass(frozen=True, slots=True)
class ResolvedBatch:
    """The usable flights of a batch as model inputs (columns), with their warnings, and the
    problems of the others; `positions` are the usable flights' indices in the request."""

    positions: list[int]
    inputs: FlightInputs
    avisos: list[Sequence[str]]
    errors: dict[int, list[dict[str, str]]]


@lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _weather_row(clima: Clima | None) -> tuple[float, ...] | None:
    if not clima:
        return None
    values = cast(Mapping[str, float | None], clima)
    given = [values.get(name) for name in WEATHER_FIELDS]
    if all(v is None for v in given):
        return None
    return tuple(math.nan if v is None else float(v) for v in given)


WEATHER_IGNORED = "clima ignorado: este modelo foi treinado sem dados de clima"
WEATHER_MISSING = "clima não informado: previsão só pelo horário, menos precisa"


@dataclass(frozen=True, slots=True)
class _Route:
    """What the airline and airport codes of a request resolve to, with their warnings."""

    airline: str
    origin: Airport
    destination: Airport
    distance_m: float  # great circle, for flights sent without a distance
    avisos: tuple[str, ...]
    # The warnings of the common case, a local departure time and no weather: a batch copies
    # them instead of working them out flight by flight.
    plain_avisos: tuple[str, ...]


class Resolver:
    """Resolves requests against one bundle; code lookups are memoised (they never change)."""

    def __init__(self, bundle: Bundle, max_cached: int = 8192) -> None:
        self.bundle = bundle
        self.max_cached = max_cached
        # (companhia, origem, destino) as sent -> the route, or the problems found with it.
        self._routes: dict[tuple[str, str, str], _Route | list[dict[str, str]]] = {}

    def _route(self, companhia: str, origem: str, destino: str) -> _Route:
        key = (companhia, origem, destino)
        found = self._routes.get(key)
        if found is None:
            found = self._resolve_route(companhia, origem, destino)
            if len(self._routes) >= self.max_cached:
                self._routes.clear()  # bounded: arbitrary codes from clients cannot grow it
            self._routes[key] = found
        if isinstance(found, list):
            raise InputError(found)
        return found

    def _lookup(self, request: FlightRequest) -> _Route:
        # The cache hit inline: it is what nearly every flight of a batch takes.
        route = self._routes.get((request["companhia"], request["origem"], request["destino"]))
        if isinstance(route, _Route):
            return route
        return self._route(request["companhia"], request["origem"], request["destino"])

    def _resolve_route(
        self, companhia: str, origem: str, destino: str
    ) -> _Route | list[dict[str, str]]:
        problems: list[dict[str, str]] = []
        origin = resolve_airport(origem)
        if origin is None:
            problems.append({"campo": "origem", "motivo": f"aeroporto desconhecido: {origem}"})
        destination = resolve_airport(destino)
        if destination is None:
            problems.append({"campo": "destino", "motivo": f"aeroporto desconhecido: {destino}"})
        if origin is not None and destination is not None and origin.icao == destination.icao:
            problems.append(
                {"campo": "destino", "motivo": f"destino igual à origem ({origin.icao})"}
            )
        if problems or origin is None or destination is None:
            return problems

        bundle = self.bundle
        avisos: list[str] = []
        airline = companhia.strip().upper()
        if bundle.canonical_airline(airline) is None:
            avisos.append(
                f"companhia {airline} desconhecida pelo modelo; previsão sem o histórico dela"
            )
        unseen = [a.icao for a in (origin, destination) if not bundle.knows_airport(a.icao)]
        if len(unseen) == 1:
            avisos.append(
                f"aeroporto {unseen[0]} desconhecido pelo modelo; previsão sem o histórico dele"
            )
        elif unseen:
            avisos.append(
                f"aeroportos {', '.join(unseen)} desconhecidos pelo modelo; "
                "previsão sem o histórico deles"
            )
        elif not bundle.knows_route(origin.icao, destination.icao):
            avisos.append(f"rota {origin.icao}-{destination.icao} nunca vista no treino")
        note = self._weather(None)[1]
        return _Route(
            airline,
            origin,
            destination,
            distance_m(origin, destination),
            tuple(avisos),
            (*avisos, note) if note else tuple(avisos),
        )

    def _weather(self, clima: Clima | None) -> tuple[tuple[float, ...] | None, str | None]:
        """The weather row the model gets (None: not given or not used) and the warning."""
        weather = _weather_row(clima)
        if weather is not None and not self.bundle.weather_fields:
            return None, WEATHER_IGNORED
        if weather is None and self.bundle.weather_fields:
            return None, WEATHER_MISSING
        return weather, None

    def _flight(
        self, route: _Route, request: FlightRequest
    ) -> tuple[datetime, tuple[float, ...] | None, Sequence[str]]:
        """Local departure time, weather row and warnings of one flight on a resolved route."""
        departure = request["data_partida"]
        clima = request.get("clima")
        if departure.tzinfo is None and not clima:
            return departure, None, route.plain_avisos
        avisos = list(route.avisos)
        if departure.tzinfo is not None:
            zone = _zone(route.origin.tz) if route.origin.tz else None
            if zone is None:
                # No zone known for the airport: the given offset is the best local time we have.
                avisos.append(
                    f"fuso horário de {route.origin.icao} desconhecido; usada a hora informada"
                )
                departure = departure.replace(tzinfo=None)
            else:
                departure = departure.astimezone(zone).replace(tzinfo=None)
        weather, note = self._weather(clima)
        if note:
            avisos.append(note)
        return departure, weather, avisos

    def resolve(self, request: FlightRequest) -> ResolvedFlight:
        """Resolve codes and time; raise InputError naming every field that cannot be used."""
        route = self._lookup(request)
        departure, weather, avisos = self._flight(route, request)
        distance = request.get("distancia_m")
        return ResolvedFlight(
            route.airline,
            route.origin,
            route.destination,
            departure,
            route.distance_m if distance is None else distance,
            weather,
            avisos,
        )

    def resolve_batch(self, requests: Sequence[FlightRequest | None]) -> ResolvedBatch:
        """`resolve` for many flights straight into columns (None: a flight already refused)."""
        positions: list[int] = []
        routes: list[_Route] = []
        departures: list[datetime] = []
        distances: list[float | None] = []
        avisos: list[Sequence[str]] = []
        weather: dict[int, tuple[float, ...]] = {}
        errors: dict[int, list[dict[str, str]]] = {}
        for i, request in enumerate(requests):
            if request is None:
                continue
            try:
                route = self._lookup(request)
            except InputError as exc:
                errors[i] = exc.detalhes
                continue
            departure, row, notes = self._flight(route, request)
            if row is not None:
                weather[len(positions)] = row
            positions.append(i)
            routes.append(route)
            departures.append(departure)
            distances.append(request.get("distancia_m"))
            avisos.append(notes)
        return ResolvedBatch(
            positions, _columns(routes, departures, distances, weather), avisos, errors
        )


def _columns(
    routes: Sequence[_Route],
    departures: Sequence[datetime],
    distances: Sequence[float | None],
    weather: dict[int, tuple[float, ...]],
) -> FlightInputs:
    """Columnar model inputs from per-flight routes and values."""
    n = len(routes)
    rows = np.full((n, len(WEATHER_FIELDS)), np.nan, dtype=np.float64)
    for i, row in weather.items():
        rows[i] = row
    minutes = np.fromiter(map(datetime_minutes, departures), dtype=np.int64, count=n)
    return FlightInputs(
        airline=np.array([r.airline for r in routes], dtype=object),
        origin=np.array([r.origin.icao for r in routes], dtype=object),
        destination=np.array([r.destination.icao for r in routes], dtype=object),
        departure_local=minutes.astype("datetime64[m]"),
        distance_m=np.fromiter(
            (r.distance_m if d is None else d for r, d in zip(routes, distances, strict=True)),
            dtype=np.float64,
            count=n,
        ),
        weather=rows,
    )
