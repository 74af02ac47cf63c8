"""Airports from airportsdata: ICAO or IATA lookup, coordinates, time zones, distances.

Imported by the serving path, so no pandas here (numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=1)
def _indexes() -> tuple[dict[str, Airport], dict[str, Airport]]:
    """Build the ICAO and IATA dictionaries once per process (~0.15 s)."""
    import airportsdata

    raw = airportsdata.load("ICAO")
    by_icao: dict[str, Airport] = {}
    by_iata: dict[str, Airport] = {}
    for icao, row in raw.items():
        airport = Airport(
            icao=icao.upper(),
            iata=(row.get("iata") or "").upper(),
            name=row.get("name") or "",
            country=row.get("country") or "",
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            tz=row.get("tz") or "",
        )
        by_icao[airport.icao] = airport
        # IATA codes are unique in airportsdata today; keep the first one should that change.
        if airport.iata and airport.iata not in by_iata:
            by_iata[airport.iata] = airport
    return by_icao, by_iata


def resolve_airport(code: str) -> Airport | None:
    """Airport for an ICAO or IATA code (any case, surrounding spaces ignored), or None."""
    key = code.strip().upper()
    if not key:
        return None
    by_icao, by_iata = _indexes()
    # ICAO codes have four characters and IATA codes three, so the order never shadows a code.
    return by_icao.get(key) or by_iata.get(key)


def all_airports() -> dict[str, Airport]:
    """Every known airport by ICAO code (read-only view; do not mutate)."""
    return _indexes()[0]


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
