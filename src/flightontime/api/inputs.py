"""From a validated request to model inputs: airport codes, time zones, distance, warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from flightontime.api.schemas import FlightRequest
from flightontime.data.airports import Airport, haversine_m, resolve_airport
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
    distance_m: float | None  # None: computed from the coordinates, vectorised
    weather: tuple[float, ...] | None  # WEATHER_FIELDS order, NaN where not given
    avisos: list[str] = field(default_factory=list)


@lru_cache(maxsize=512)
def _zone(key: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _weather_row(request: FlightRequest) -> tuple[float, ...] | None:
    if request.clima is None:
        return None
    given = request.clima.model_dump(exclude_none=True)
    if not given:
        return None
    return tuple(float(given.get(name, np.nan)) for name in WEATHER_FIELDS)


@dataclass(frozen=True, slots=True)
class _Route:
    """What the airline and airport codes of a request resolve to, with their warnings."""

    airline: str
    origin: Airport
    destination: Airport
    avisos: tuple[str, ...]


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
        return _Route(airline, origin, destination, tuple(avisos))

    def resolve(self, request: FlightRequest) -> ResolvedFlight:
        """Resolve codes and time; raise InputError naming every field that cannot be used."""
        # The cache hit inline: a batch resolves a thousand flights per request.
        route = self._routes.get((request.companhia, request.origem, request.destino))
        if not isinstance(route, _Route):
            route = self._route(request.companhia, request.origem, request.destino)
        avisos = list(route.avisos)
        departure = request.data_partida
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

        weather = _weather_row(request)
        if weather is not None and not self.bundle.weather_fields:
            avisos.append("clima ignorado: este modelo foi treinado sem dados de clima")
            weather = None
        elif weather is None and self.bundle.weather_fields:
            avisos.append("clima não informado: previsão só pelo horário, menos precisa")

        return ResolvedFlight(
            route.airline,
            route.origin,
            route.destination,
            departure,
            request.distancia_m,
            weather,
            avisos,
        )


def to_inputs(flights: Sequence[ResolvedFlight]) -> FlightInputs:
    """Columnar model inputs for the flights (one vectorised distance computation)."""
    n = len(flights)
    weather = np.full((n, len(WEATHER_FIELDS)), np.nan, dtype=np.float64)
    for i, flight in enumerate(flights):
        if flight.weather is not None:
            weather[i] = flight.weather
    given = [f.distance_m for f in flights]
    distance = np.array([np.nan if d is None else d for d in given], dtype=np.float64)
    missing = [i for i, d in enumerate(given) if d is None]
    if missing:
        o = [flights[i].origin for i in missing]
        d = [flights[i].destination for i in missing]
        distance[missing] = haversine_m(
            np.array([a.lat for a in o]),
            np.array([a.lon for a in o]),
            np.array([a.lat for a in d]),
            np.array([a.lon for a in d]),
        )
    minutes = np.array([datetime_minutes(f.departure_local) for f in flights], dtype=np.int64)
    return FlightInputs(
        airline=np.array([f.airline for f in flights], dtype=object),
        origin=np.array([f.origin.icao for f in flights], dtype=object),
        destination=np.array([f.destination.icao for f in flights], dtype=object),
        departure_local=minutes.astype("datetime64[m]"),
        distance_m=distance,
        weather=weather,
    )
