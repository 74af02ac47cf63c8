"""One flight through the columnar path, as the tests of the resolver and the features read it.

The library has one prediction path, over tables; these helpers put one flight (or one set of
resolved values) through it and read row 0 back, so a test states what one flight gets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flightontime_core.errors import FlightError
from flightontime_core.features import FeatureTables, assemble_features, route_features
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import Flight
from flightontime_core.prediction import Notice
from flightontime_core.resolve import Resolver, Route

Resolution = tuple[Route, int, float, tuple[float, ...] | None, tuple[Notice, ...]]


def resolve_one(resolver: Resolver, flight: Flight) -> Resolution | FlightError:
    """A flight resolved alone: (route, local minutes, distance used, weather row or None,
    notices), or its FlightError."""
    resolved = resolver.table(FlightTable.from_flights([flight]))
    assert resolved.n == 1
    if resolved.errors:
        assert resolved.rows.size == 0
        return resolved.errors[0]
    assert resolved.rows.tolist() == [0]
    weather = None if resolved.weather is None else tuple(resolved.weather[0].tolist())
    return (
        resolved.routes[int(resolved.route[0])],
        int(resolved.minutes[0]),
        float(resolved.distance_m[0]),
        weather,
        resolved.notices[int(resolved.notice_index[0])],
    )


def features_of(
    tables: FeatureTables,
    airline: str,
    origin: str,
    destination: str,
    minutes: int,
    distance_m: float,
    weather: Sequence[float] | None = None,
) -> np.ndarray:
    """The (N_FEATURES,) float32 features of one resolved flight (airports as ICAO codes)."""
    return assemble_features(
        tables,
        route_features(tables, [(airline, origin, destination)]),
        np.zeros(1, dtype=np.intp),
        np.array([minutes], dtype=np.int64),
        np.array([distance_m], dtype=np.float64),
        None if weather is None else np.array([weather], dtype=np.float64),
    )[0]
