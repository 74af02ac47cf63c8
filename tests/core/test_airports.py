"""Airport lookup by ICAO or IATA, and great-circle distances."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from flightontime_core.airports import (
    EARTH_RADIUS_M,
    Airport,
    distance_m,
    haversine_m,
    resolve_airport,
)


@pytest.mark.parametrize("code", ["SBGR", "sbgr", " GRU ", "gru", "Gru"])
def test_resolve_accepts_icao_and_iata_in_any_case(code: str) -> None:
    airport = resolve_airport(code)
    assert airport is not None
    assert airport.icao == "SBGR"
    assert airport.iata == "GRU"
    assert airport.country == "BR"
    assert airport.tz == "America/Sao_Paulo"


def test_resolve_us_airport_has_coordinates_and_zone() -> None:
    jfk = resolve_airport("jfk")
    assert jfk is not None
    assert jfk.icao == "KJFK"
    assert jfk.tz == "America/New_York"
    assert 40.6 < jfk.lat < 40.7
    assert -73.8 < jfk.lon < -73.7


@pytest.mark.parametrize("code", ["", "   ", "XXXX", "ZZ9", "SBGRX"])
def test_unknown_codes_give_none(code: str) -> None:
    assert resolve_airport(code) is None


def test_resolve_returns_the_same_object_each_time() -> None:
    # Built once per process: a lookup is two dict gets, not a rebuild.
    assert resolve_airport("SBGL") is resolve_airport("gig")


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [("GRU", "GIG", 338.0), ("JFK", "LAX", 3983.0), ("SBKP", "SBRP", 218.0)],
)
def test_distance_between_known_airports(a: str, b: str, km: float) -> None:
    first, second = resolve_airport(a), resolve_airport(b)
    assert first is not None
    assert second is not None
    # Published figures differ by a few km with the coordinates and Earth model used.
    assert distance_m(first, second) == pytest.approx(km * 1000, rel=0.01)
    assert distance_m(first, second) == pytest.approx(distance_m(second, first))


def test_haversine_is_vectorised_and_exact_on_simple_cases() -> None:
    quarter = np.pi / 2 * EARTH_RADIUS_M  # equator to pole
    got = haversine_m(
        np.array([0.0, 0.0, 10.0]),
        np.array([0.0, 0.0, 20.0]),
        np.array([90.0, 0.0, 10.0]),
        np.array([0.0, 180.0, 20.0]),
    )
    assert got.shape == (3,)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [quarter, 2 * quarter, 0.0], atol=1e-6)


def test_haversine_scalar_and_distance_type() -> None:
    assert float(haversine_m(0.0, 0.0, 0.0, 1.0)) == pytest.approx(111_195.08, abs=0.1)
    a = Airport("AAAA", "", "a", "XX", 0.0, 0.0, "UTC")
    b = Airport("BBBB", "", "b", "XX", 0.0, 1.0, "UTC")
    assert isinstance(distance_m(a, b), float)


def test_serving_modules_import_without_pandas() -> None:
    code = (
        "import sys\n"
        "import flightontime_core.airports, flightontime_core.airlines\n"
        "import flightontime_core.training.sources, flightontime_core.training.sources.table\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
