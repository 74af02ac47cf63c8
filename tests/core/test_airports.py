"""Airport lookup by ICAO or IATA, and great-circle distances."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from flightontime_core.airports import (
    EARTH_RADIUS_M,
    Airport,
    distance_m,
    haversine_m,
    resolve_airport,
    supplement,
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


# The real ANAC month (the gzip of /work/shared/data/anac/VRA_2021-04.csv, kept in the repo).
VRA_MONTH = Path(__file__).resolve().parents[2] / "data" / "anac" / "VRA_2021-04.csv.gz"


def _vra_codes(path: Path) -> set[str]:
    """Every origin and destination of a VRA file (`;`-separated, quoted, a preamble line)."""
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as f:
        f.readline()  # "Atualizado em: ..."
        rows = csv.DictReader(f, delimiter=";")
        codes = set()
        for row in rows:
            codes.add(row["ICAO Aeródromo Origem"])
            codes.add(row["ICAO Aeródromo Destino"])
    return codes - {"null", ""}


def test_every_aerodrome_of_a_real_vra_month_resolves() -> None:
    codes = _vra_codes(VRA_MONTH)
    assert len(codes) > 100
    assert {"SBSI", "SBDO", "SBRD", "SBUY"} <= codes
    unresolved = sorted(c for c in codes if resolve_airport(c) is None)
    assert unresolved == []


@pytest.mark.parametrize(
    ("code", "old", "name"),
    [
        ("SBSI", "SWSI", "Sinop"),
        ("SBDO", "SSDO", "Dourados"),
        ("SBRD", "SWRD", "Rondonópolis"),
        ("SBUY", "SWUY", "Urucu"),
    ],
)
def test_renamed_aerodromes_resolve_by_both_codes(code: str, old: str, name: str) -> None:
    new_airport, old_airport = resolve_airport(code), resolve_airport(old)
    assert new_airport is not None
    assert old_airport is not None
    assert new_airport.icao == code
    assert old_airport.icao == old
    assert new_airport.country == "BR"
    assert (new_airport.lat, new_airport.lon, new_airport.tz) == (
        old_airport.lat,
        old_airport.lon,
        old_airport.tz,
    )


def test_a_renamed_aerodrome_s_iata_code_names_its_current_code() -> None:
    sinop = resolve_airport("OPS")
    assert sinop is not None
    assert sinop.icao == "SBSI"


def test_the_supplement_copies_airportsdata_and_says_so() -> None:
    import airportsdata

    table = airportsdata.load("ICAO")
    entries = supplement()
    assert entries
    for entry in entries:
        airport = entry.airport
        # Only codes airportsdata lacks; every value is airportsdata's own for the old code.
        assert airport.icao not in table
        old = table[entry.replaces]
        assert (airport.lat, airport.lon, airport.tz, airport.country) == (
            float(old["lat"]),
            float(old["lon"]),
            old["tz"],
            old["country"],
        )
        assert airport.iata == old["iata"]
        assert entry.replaces in entry.source
        assert airport.icao in entry.source
        ZoneInfo(airport.tz)  # a real time zone
    assert len({e.airport.icao for e in entries}) == len(entries)
