"""What a flight is: the inputs of one prediction, and the rules every adapter validates by.

`Flight` and `Weather` are msgspec Structs, so an adapter can decode them straight from JSON
and a library user can build them by hand. The limits below are data, not code, so the HTTP
adapter declares the same bounds in its schema (and its OpenAPI document) without restating
them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

# Optional weather at the origin for the scheduled hour, metric units, in model column order.
WEATHER_FIELDS: Final[tuple[str, ...]] = (
    "temperature_c",
    "dew_point_c",
    "humidity_pct",
    "wind_direction_deg",
    "wind_kmh",
    "gust_kmh",
    "precipitation_mm",
    "pressure_hpa",
    "visibility_km",
)

# Inclusive bounds of each weather field; beyond them a value is a unit mix-up or a typo.
WEATHER_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "temperature_c": (-90.0, 60.0),
    "dew_point_c": (-90.0, 60.0),
    "humidity_pct": (0.0, 100.0),
    "wind_direction_deg": (0.0, 360.0),
    "wind_kmh": (0.0, 450.0),
    "gust_kmh": (0.0, 450.0),
    "precipitation_mm": (0.0, 500.0),
    "pressure_hpa": (850.0, 1100.0),
    "visibility_km": (0.0, 100.0),
}

# Codes as people type them: letters and digits, surrounding spaces allowed, any case.
AIRLINE_PATTERN: Final = r"^\s*[A-Za-z0-9]{2,3}\s*$"
AIRPORT_PATTERN: Final = r"^\s*[A-Za-z0-9]{3,4}\s*$"
# The longest great-circle distance on Earth is about 20,015 km.
MAX_DISTANCE_M: Final = 20_000_000.0
MAX_DISTANCE_KM: Final = MAX_DISTANCE_M / 1000.0
# A given distance is checked against the great circle between two known airports. A flown
# route is never shorter than the great circle (0.8 leaves room for rounding and the airports'
# reference points) and rarely longer than about 1.5 times it; 2x plus 50 km also covers detours
# and holding on short hops. Outside these bounds the value cannot be the route's distance.
MIN_DISTANCE_RATIO: Final = 0.8
MAX_DISTANCE_RATIO: Final = 2.0
DISTANCE_MARGIN_M: Final = 50_000.0
# `distance_m` and `distance_km` both given must agree within rounding of the km value.
DISTANCE_AGREEMENT_M: Final = 1_000.0
# Departures outside these years are typos, not flights (and keep time zone maths in range).
MIN_YEAR: Final = 1950
MAX_YEAR: Final = 2100


class Weather(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Forecast at the origin for the departure hour, metric units; any subset may be given."""

    temperature_c: float | None = None
    dew_point_c: float | None = None
    humidity_pct: float | None = None
    wind_direction_deg: float | None = None
    wind_kmh: float | None = None
    gust_kmh: float | None = None
    precipitation_mm: float | None = None
    pressure_hpa: float | None = None
    visibility_km: float | None = None

    def values(self) -> tuple[float | None, ...]:
        """The fields in `WEATHER_FIELDS` order (None where not given)."""
        return msgspec.structs.astuple(self)

    def is_empty(self) -> bool:
        """True when no field is given."""
        return all(v is None for v in self.values())


# `values` and the resolver read the fields in this order.
assert Weather.__struct_fields__ == WEATHER_FIELDS


class Flight(msgspec.Struct, frozen=True, kw_only=True):
    """One scheduled flight to predict.

    `airline`: ICAO (AZU) or IATA (AD) code; `origin`, `destination`: ICAO (SBGR) or IATA (GRU)
    codes; `departure`: ISO 8601 text or a datetime, the origin's local time unless it carries
    an offset (then converted to the origin's local time); `distance_m`: metres, the
    great-circle distance between the airports when missing; `distance_km`: the same distance
    in km (either may be given; both must agree); `weather`: optional forecast.
    """

    airline: str
    origin: str
    destination: str
    departure: datetime | str
    distance_m: float | None = None
    distance_km: float | None = None
    weather: Weather | None = None
