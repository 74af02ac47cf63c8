"""Airports from airportsdata: ICAO or IATA lookup, coordinates, time zones, distances.

airportsdata lacks a few codes that real flights use, or knows them only by an older code (ANAC's
VRA data says SBSI for Sinop, airportsdata only SWSI). `data/airports_supplement.csv` lists them,
each with its coordinates and time zone copied from airportsdata's entry for the old code and
its source; the old codes keep resolving. Imported by the serving path, so no pandas here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

# Mean Earth radius (IUGG), the usual choice for great-circle distances.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Airport:
    """One airport: codes, name, country (ISO 3166-1 alpha-2), coordinates and IANA time zone."""

    icao: str
    iata: str  # "" when the airport has no IATA code
    name: str
    country: str
    lat: float
    lon: float
    tz: str


@dataclass(frozen=True, slots=True)
class SupplementEntry:
    """One row of the airport supplement: the airport, the code it replaces, and its source."""

    airport: Airport
    replaces: str  # the older code airportsdata knows it by, "" when none
    source: str


@lru_cache(maxsize=1)
def supplement() -> tuple[SupplementEntry, ...]:
    """The package's airport supplement (data/airports_supplement.csv), read once."""
    path = resources.files("flightontime_core") / "data" / "airports_supplement.csv"
    entries = []
    for row in csv.DictReader(path.read_text("utf-8").splitlines()):
        airport = Airport(
            icao=row["icao"].strip().upper(),
            iata=row["iata"].strip().upper(),
            name=row["name"].strip(),
            country=row["country"].strip().upper(),
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            tz=row["tz"].strip(),
        )
        entries.append(SupplementEntry(airport, row["replaces"].strip().upper(), row["source"]))
    return tuple(entries)


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, Any], dict[str, str]]:
    """airportsdata's rows (and the supplement's) by ICAO code, and IATA code -> ICAO code,
    read once per process.

    An `Airport` is made for a code only when it is asked for: serving meets a few hundred
    airports, not the tens of thousands the table holds (start-up reads the table once)."""
    import airportsdata

    raw: dict[str, Any] = {icao.upper(): row for icao, row in airportsdata.load("ICAO").items()}
    by_iata: dict[str, str] = {}
    for icao, row in raw.items():
        iata = (row.get("iata") or "").upper()
        # IATA codes are unique in airportsdata today; keep the first one should that change.
        if iata and iata not in by_iata:
            by_iata[iata] = icao
    for entry in supplement():
        airport = entry.airport
        if airport.icao in raw:
            continue  # airportsdata learnt the code since: its entry wins
        raw[airport.icao] = {
            "iata": airport.iata,
            "name": airport.name,
            "country": airport.country,
            "lat": airport.lat,
            "lon": airport.lon,
            "tz": airport.tz,
        }
        if airport.iata:
            # A renamed aerodrome keeps its IATA code: it names the current code now.
            by_iata[airport.iata] = airport.icao
    return raw, by_iata


@lru_cache(maxsize=65536)
def _airport(icao: str) -> Airport | None:
    row = _tables()[0].get(icao)
    if row is None:
        return None
    return Airport(
        icao=icao,
        iata=(row.get("iata") or "").upper(),
        name=row.get("name") or "",
        country=row.get("country") or "",
        lat=float(row["lat"]),
        lon=float(row["lon"]),
        tz=row.get("tz") or "",
    )


def resolve_airport(code: str) -> Airport | None:
    """Airport for an ICAO or IATA code (any case, surrounding spaces ignored), or None."""
    key = code.strip().upper()
    if not key:
        return None
    by_icao, by_iata = _tables()
    # ICAO codes have four characters and IATA codes three, so the order never shadows a code.
    if key in by_icao:
        return _airport(key)
    icao = by_iata.get(key)
    return None if icao is None else _airport(icao)


@lru_cache(maxsize=1)
def renamed() -> dict[str, str]:
    """Older code -> the current code, for the aerodromes the supplement lists as renamed."""
    return {e.replaces: e.airport.icao for e in supplement() if e.replaces}


def all_airports() -> dict[str, Airport]:
    """Every known airport by ICAO code (built on the first call: the whole table)."""
    airports = {}
    for icao in _tables()[0]:
        airport = _airport(icao)
        if airport is not None:
            airports[icao] = airport
    return airports


def haversine_m(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres between points in degrees, as a float64 array (broadcast)."""
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = phi2 - phi1
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    # clip guards against rounding pushing h a hair above 1 for antipodal points
    out = 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return np.asarray(out, dtype=np.float64)  # 0-d array for scalar inputs


def distance_m(a: Airport, b: Airport) -> float:
    """Great-circle distance between two airports in metres."""
    return float(haversine_m(a.lat, a.lon, b.lat, b.lon))
