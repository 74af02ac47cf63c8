"""How a flight becomes model inputs: one code path for a whole table and for one request.

Serving imports this module, so it needs only numpy, holidays and the airports table (no
pandas). `FeatureTables` holds every statistic (vocabularies, smoothed historical delay rates,
schedule density); it is fitted on the training window only and stored in the bundle as JSON.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from flightontime.data.schema import WEATHER_FIELDS

if TYPE_CHECKING:
    import pandas as pd

# Feature columns, in the order of the matrix `build_features` returns. The bundle's manifest
# records them, and `Bundle.load` refuses a bundle built for another list.
# The route is a category too, but ~200+ values overfit on the temporal split; its smoothed
# historical rate carries it instead (measured: ROC AUC +0.0015 without the route category).
CATEGORICAL_FEATURES: tuple[str, ...] = ("airline", "origin", "destination")
FEATURE_NAMES: tuple[str, ...] = (
    "hour",  # local hour at the origin, 0-23
    "minute",  # minute of the hour
    "weekday",  # Monday = 0
    "days_to_holiday",  # signed days to the nearest public holiday of the origin's country
    *CATEGORICAL_FEATURES,  # vocabulary codes, NaN when unseen in training
    "distance_km",
    "airline_delay_rate",  # smoothed historical rates of the primary label (training window)
    "route_delay_rate",
    "origin_hour_delay_rate",
    "origin_hour_density",  # planned departures at the origin in that weekday x hour, per week
    *WEATHER_FIELDS,  # at the origin for the scheduled hour; NaN when not given
)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
WEATHER_SLICE = slice(FEATURE_INDEX[WEATHER_FIELDS[0]], FEATURE_INDEX[WEATHER_FIELDS[-1]] + 1)

TABLES_FORMAT = 1
_MINUTES_PER_DAY = 1440
_N_WEATHER = len(WEATHER_FIELDS)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Bound on the per-table cache of request airline codes, so odd codes cannot grow memory.
_AIRLINE_CACHE_MAX = 4096


def route_key(origin: str, destination: str) -> str:
    """The route vocabulary's key for an origin/destination pair."""
    return f"{origin}-{destination}"


@dataclass(frozen=True)
class FlightInputs:
    """Columnar inputs of n flights: exactly what a request carries."""

    airline: np.ndarray  # object array of str, upper case, as the request gave it
    origin: np.ndarray  # object array of str, ICAO
    destination: np.ndarray  # object array of str, ICAO
    departure_local: np.ndarray  # datetime64[m], naive, local time at the origin
    distance_m: np.ndarray  # float64
    weather: np.ndarray  # float64 (n, len(WEATHER_FIELDS)), NaN = not given

    def __len__(self) -> int:
        return int(self.distance_m.shape[0])

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> FlightInputs:
        """Inputs for every row of a canonical flights table (weather NaN where absent)."""
        n = len(df)
        weather = np.full((n, len(WEATHER_FIELDS)), np.nan, dtype=np.float64)
        for j, name in enumerate(WEATHER_FIELDS):
            if name in df.columns:
                weather[:, j] = df[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return cls(
            airline=np.asarray(df["airline"].astype(str).str.upper().to_numpy(), dtype=object),
            origin=np.asarray(df["origin"].astype(str).to_numpy(), dtype=object),
            destination=np.asarray(df["destination"].astype(str).to_numpy(), dtype=object),
            departure_local=df["scheduled_departure"].to_numpy().astype("datetime64[m]"),
            distance_m=df["distance_m"].to_numpy(dtype=np.float64, na_value=np.nan),
            weather=weather,
        )

    @classmethod
    def single(
        cls,
        airline: str,
        origin: str,
        destination: str,
        departure_local: datetime,
        distance_m: float,
        weather: Mapping[str, float] | None = None,
    ) -> FlightInputs:
        """Inputs for one flight (departure naive, local time at the origin)."""
        row = np.full((1, len(WEATHER_FIELDS)), np.nan, dtype=np.float64)
        if weather:
            for j, name in enumerate(WEATHER_FIELDS):
                value = weather.get(name)
                if value is not None:
                    row[0, j] = float(value)
        departure = departure_local.replace(tzinfo=None, second=0, microsecond=0)
        return cls(
            airline=np.array([airline.strip().upper()], dtype=object),
            origin=np.array([origin], dtype=object),
            destination=np.array([destination], dtype=object),
            departure_local=np.array([departure], dtype="datetime64[m]"),
            distance_m=np.array([distance_m], dtype=np.float64),
            weather=row,
        )

    def take(self, rows: np.ndarray | slice) -> FlightInputs:
        """The subset of flights at `rows` (index array, mask or slice)."""
        return FlightInputs(
            airline=self.airline[rows],
            origin=self.origin[rows],
            destination=self.destination[rows],
            departure_local=self.departure_local[rows],
            distance_m=self.distance_m[rows],
            weather=self.weather[rows],
        )

    def without_weather(self) -> FlightInputs:
        """The same flights with no weather given."""
        return FlightInputs(
            airline=self.airline,
            origin=self.origin,
            destination=self.destination,
            departure_local=self.departure_local,
            distance_m=self.distance_m,
            weather=np.full_like(self.weather, np.nan),
        )


@lru_cache(maxsize=4096)
def _country_of(icao: str) -> str | None:
    # Imported here: the airports table is only needed for origins the bundle has never seen.
    from flightontime.data.airports import resolve_airport

    airport = resolve_airport(icao)
    return airport.country if airport is not None else None


@lru_cache(maxsize=512)
def _holiday_days(country: str, year: int) -> np.ndarray:
    """Sorted holiday dates (days since 1970-01-01) of a country in year-1..year+1."""
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=[year - 1, year, year + 1])
    except (NotImplementedError, KeyError):
        return np.empty(0, dtype=np.int64)
    days = sorted((d - date(1970, 1, 1)).days for d in calendar)
    return np.asarray(days, dtype=np.int64)


@lru_cache(maxsize=65536)
def _days_to_holiday_one(country: str | None, day: int) -> float:
    """`days_to_holiday` for one date (days since epoch): same search, plain Python scalars."""
    if country is None:
        return math.nan
    year = date.fromordinal(day + _EPOCH_ORDINAL).year
    holidays_ = _holiday_list(country, year)
    if not holidays_:
        return math.nan
    last = len(holidays_) - 1
    pos = bisect_left(holidays_, day)  # == np.searchsorted(side="left")
    to_after = day - holidays_[min(max(pos, 0), last)]
    to_before = day - holidays_[min(max(pos - 1, 0), last)]
    return float(to_after if abs(to_after) <= abs(to_before) else to_before)


@lru_cache(maxsize=512)
def _holiday_list(country: str, year: int) -> list[int]:
    return [int(d) for d in _holiday_days(country, year).tolist()]


def datetime_minutes(departure_local: datetime) -> int:
    """Minutes since 1970-01-01 of a local time's wall clock, seconds dropped (as datetime64[m]).

    From the date's ordinal and the clock fields: eight times faster than numpy's conversion of
    a datetime object, which a batch of requests pays once per flight.
    """
    d = departure_local
    return (d.toordinal() - _EPOCH_ORDINAL) * _MINUTES_PER_DAY + d.hour * 60 + d.minute


def days_to_holiday(days: np.ndarray, countries: Sequence[str | None]) -> np.ndarray:
    """Signed days from each date (days since epoch) to the nearest holiday of its country."""
    index: dict[str | None, int] = {}
    codes = np.fromiter(
        (index.setdefault(c, len(index)) for c in countries), dtype=np.intp, count=len(countries)
    )
    return _days_to_holiday_coded(days, codes, list(index))


def _days_to_holiday_coded(
    days: np.ndarray, codes: np.ndarray, countries: Sequence[str | None]
) -> np.ndarray:
    """`days_to_holiday` with each row's country as an index into `countries`."""
    out = np.full(days.shape[0], np.nan)
    years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    for k, country in enumerate(countries):
        if country is None:
            continue
        in_country = codes == k
        for year in np.unique(years[in_country]).tolist():
            rows = np.flatnonzero(in_country & (years == year))
            holidays_ = _holiday_days(country, int(year))
            if holidays_.size == 0:
                continue
            d = days[rows]
            pos = np.searchsorted(holidays_, d)
            before = holidays_[np.clip(pos - 1, 0, holidays_.size - 1)]
            after = holidays_[np.clip(pos, 0, holidays_.size - 1)]
            to_after = d - after  # <= 0: the holiday is ahead
            to_before = d - before  # >= 0: the holiday has passed
            # Ties go to the coming holiday: travel before a holiday is the busier side.
            out[rows] = np.where(np.abs(to_after) <= np.abs(to_before), to_after, to_before)
    return out


class FeatureTables:
    """Vocabularies and statistics of the training window, as lookups for `build_features`."""

    def __init__(
        self,
        *,
        airlines: Sequence[str],
        origins: Sequence[str],
        destinations: Sequence[str],
        routes: Sequence[str],
        origin_countries: Sequence[str | None],
        global_rate: float,
        airline_rate: Sequence[float],
        route_rate: Sequence[float],
        origin_hour_rate: Sequence[Sequence[float]],
        density: Sequence[Sequence[Sequence[float]]],
        label_threshold_min: int,
        smoothing: float,
        window: tuple[str, str],
    ) -> None:
        self.airlines = tuple(airlines)
        self.origins = tuple(origins)
        self.destinations = tuple(destinations)
        self.routes = tuple(routes)
        self.origin_countries = tuple(origin_countries)
        self.global_rate = float(global_rate)
        self.airline_rate = np.asarray(airline_rate, dtype=np.float64)
        self.route_rate = np.asarray(route_rate, dtype=np.float64)
        self.origin_hour_rate = np.asarray(origin_hour_rate, dtype=np.float64).reshape(-1, 24)
        self.density = np.asarray(density, dtype=np.float64).reshape(-1, 7, 24)
        self.label_threshold_min = int(label_threshold_min)
        self.smoothing = float(smoothing)
        self.window = (str(window[0]), str(window[1]))
        self.airline_index = {c: i for i, c in enumerate(self.airlines)}
        self.origin_index = {c: i for i, c in enumerate(self.origins)}
        self.destination_index = {c: i for i, c in enumerate(self.destinations)}
        self.route_index = {c: i for i, c in enumerate(self.routes)}
        self._country = dict(zip(self.origins, self.origin_countries, strict=True))
        # Request codes already mapped to a vocabulary index (None: unknown airline).
        self._airline_lookup: dict[str, int | None] = dict(self.airline_index)
        # Plain Python copies of the statistics for the one-row path (same float values).
        self._airline_rate_list: list[float] = self.airline_rate.tolist()
        self._route_rate_list: list[float] = self.route_rate.tolist()
        self._origin_hour_rate_list: list[list[float]] = self.origin_hour_rate.tolist()
        self._density_list: list[list[list[float]]] = self.density.tolist()

    # -- lookups -----------------------------------------------------------------------------

    def airline_code(self, code: str) -> int | None:
        """Vocabulary index of an airline code in any of its forms (IATA or ICAO)."""
        try:
            return self._airline_lookup[code]
        except KeyError:
            pass
        from flightontime.data.airlines import airline_codes

        found: int | None = None
        for alias in airline_codes(code):
            found = self.airline_index.get(alias.upper())
            if found is not None:
                break
        if len(self._airline_lookup) < _AIRLINE_CACHE_MAX:
            self._airline_lookup[code] = found
        return found

    def country(self, origin: str) -> str | None:
        """Country code of an origin airport (vocabulary first, airports table otherwise)."""
        try:
            return self._country[origin]
        except KeyError:
            return _country_of(origin)

    # -- fitting -----------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        inputs: FlightInputs,
        late: np.ndarray,
        *,
        label_threshold_min: int,
        window: tuple[date, date],
        smoothing: float = 50.0,
    ) -> FeatureTables:
        """Fit on the training window: every scheduled flight, `late` NaN where cancelled."""
        n = len(inputs)
        if n == 0:
            raise ValueError("cannot fit feature tables on an empty training window")
        late = np.asarray(late, dtype=np.float64)
        airlines = sorted(set(inputs.airline.tolist()))
        origins = sorted(set(inputs.origin.tolist()))
        destinations = sorted(set(inputs.destination.tolist()))
        route_of = [route_key(o, d) for o, d in zip(inputs.origin, inputs.destination, strict=True)]
        routes = sorted(set(route_of))
        flown = ~np.isnan(late)
        if not flown.any():
            raise ValueError("no flown (non-cancelled) flight in the training window")
        global_rate = float(late[flown].mean())

        def smoothed(codes: np.ndarray, size: int) -> np.ndarray:
            # (late + m * global) / (n + m): rare categories stay close to the global rate.
            hits = np.bincount(codes[flown], weights=late[flown], minlength=size)
            count = np.bincount(codes[flown], minlength=size)
            return np.asarray(
                (hits + smoothing * global_rate) / (count + smoothing), dtype=np.float64
            )

        index = {c: i for i, c in enumerate(airlines)}
        airline_codes = np.fromiter((index[c] for c in inputs.airline), np.int64, n)
        index = {c: i for i, c in enumerate(routes)}
        route_codes = np.fromiter((index[c] for c in route_of), np.int64, n)
        index = {c: i for i, c in enumerate(origins)}
        origin_codes = np.fromiter((index[c] for c in inputs.origin), np.int64, n)

        minutes = inputs.departure_local.astype(np.int64)
        days = minutes // _MINUTES_PER_DAY
        hour = (minutes - days * _MINUTES_PER_DAY) // 60
        weekday = (days + 3) % 7
        origin_hour = origin_codes * 24 + hour
        origin_hour_rate = smoothed(origin_hour, len(origins) * 24).reshape(len(origins), 24)

        # Density: scheduled departures (cancelled ones too: they were planned) per origin x
        # weekday x hour, divided by how many of that weekday the window holds.
        cell = (origin_codes * 7 + weekday) * 24 + hour
        counts = np.bincount(cell, minlength=len(origins) * 7 * 24).reshape(len(origins), 7, 24)
        first = (window[0] - date(1970, 1, 1)).days
        last = (window[1] - date(1970, 1, 1)).days
        window_weekdays = (np.arange(first, last + 1) + 3) % 7
        per_weekday = np.bincount(window_weekdays, minlength=7).astype(np.float64)
        density = counts / np.maximum(per_weekday, 1.0)[None, :, None]

        return cls(
            airlines=airlines,
            origins=origins,
            destinations=destinations,
            routes=routes,
            origin_countries=[_country_of(o) for o in origins],
            global_rate=global_rate,
            airline_rate=smoothed(airline_codes, len(airlines)).tolist(),
            route_rate=smoothed(route_codes, len(routes)).tolist(),
            origin_hour_rate=origin_hour_rate.tolist(),
            density=density.tolist(),
            label_threshold_min=label_threshold_min,
            smoothing=smoothing,
            window=(window[0].isoformat(), window[1].isoformat()),
        )

    # -- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (floats rounded so files are stable and small)."""

        def r(a: np.ndarray) -> Any:
            return np.round(a, 8).tolist()

        return {
            "format": TABLES_FORMAT,
            "label_threshold_min": self.label_threshold_min,
            "smoothing": self.smoothing,
            "window": list(self.window),
            "global_rate": round(self.global_rate, 8),
            "airlines": list(self.airlines),
            "origins": list(self.origins),
            "destinations": list(self.destinations),
            "routes": list(self.routes),
            "origin_countries": list(self.origin_countries),
            "airline_rate": r(self.airline_rate),
            "route_rate": r(self.route_rate),
            "origin_hour_rate": r(self.origin_hour_rate),
            "density": r(self.density),
        }

    def to_json(self) -> str:
        """Deterministic JSON text (same tables, same bytes)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureTables:
        """Tables from their `to_dict` form; raises ValueError when the format differs."""
        if data.get("format") != TABLES_FORMAT:
            raise ValueError(f"feature tables format {data.get('format')!r} != {TABLES_FORMAT}")
        window = data["window"]
        return cls(
            airlines=data["airlines"],
            origins=data["origins"],
            destinations=data["destinations"],
            routes=data["routes"],
            origin_countries=data["origin_countries"],
            global_rate=data["global_rate"],
            airline_rate=data["airline_rate"],
            route_rate=data["route_rate"],
            origin_hour_rate=data["origin_hour_rate"],
            density=data["density"],
            label_threshold_min=data["label_threshold_min"],
            smoothing=data["smoothing"],
            window=(window[0], window[1]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> FeatureTables:
        """Tables from `to_json` text."""
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureTables) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def build_row(
    tables: FeatureTables,
    airline: str,
    origin: str,
    destination: str,
    minutes: int,
    distance_m: float,
    weather: Sequence[float] | None = None,
) -> list[float]:
    """One flight's features in `FEATURE_NAMES` order, from plain Python scalars.

    The one-row form of `build_features` (requests use it: no numpy array per call); it gives
    exactly the floats the table path gives, which tests/test_features.py checks row by row.
    `minutes` is `datetime_minutes(departure_local)`; `weather` in `WEATHER_FIELDS` order
    (NaN where not given) or None.
    """
    nan = math.nan
    days = minutes // _MINUTES_PER_DAY
    minute_of_day = minutes - days * _MINUTES_PER_DAY
    hour = minute_of_day // 60
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    g = tables.global_rate
    a = tables.airline_code(airline)
    o = tables.origin_index.get(origin)
    d = tables.destination_index.get(destination)
    r = tables.route_index.get(route_key(origin, destination))
    row = [
        float(hour),
        float(minute_of_day - hour * 60),
        float(weekday),
        _days_to_holiday_one(tables.country(origin), days),
        nan if a is None else float(a),
        nan if o is None else float(o),
        nan if d is None else float(d),
        distance_m / 1000.0,
        g if a is None else tables._airline_rate_list[a],
        g if r is None else tables._route_rate_list[r],
        g if o is None else tables._origin_hour_rate_list[o][hour],
        nan if o is None else tables._density_list[o][weekday][hour],
    ]
    if weather is None:
        row.extend([nan] * _N_WEATHER)
    else:
        row.extend(weather)
    return row


def build_features(inputs: FlightInputs, tables: FeatureTables) -> np.ndarray:
    """The (n, len(FEATURE_NAMES)) float64 model matrix; the same code for 1 row or a table."""
    n = len(inputs)
    x = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    nan = math.nan
    if n == 1:
        x[0] = build_row(
            tables,
            inputs.airline[0],
            inputs.origin[0],
            inputs.destination[0],
            int(inputs.departure_local[0].astype(np.int64)),
            float(inputs.distance_m[0]),
            inputs.weather[0].tolist(),
        )
        return x

    minutes = inputs.departure_local.astype(np.int64)
    days = minutes // _MINUTES_PER_DAY
    minute_of_day = minutes - days * _MINUTES_PER_DAY
    hour = minute_of_day // 60
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    col = FEATURE_INDEX
    x[:, col["hour"]] = hour
    x[:, col["minute"]] = minute_of_day - hour * 60
    x[:, col["weekday"]] = weekday
    x[:, col["distance_km"]] = inputs.distance_m / 1000.0

    # What depends only on the airline and the airports is looked up once per distinct triple
    # (a batch or a training table repeats a few hundred), then gathered for every row.
    triples: dict[tuple[str, str, str], int] = {}
    codes = np.fromiter(
        (
            triples.setdefault(key, len(triples))
            for key in zip(
                inputs.airline.tolist(),
                inputs.origin.tolist(),
                inputs.destination.tolist(),
                strict=True,
            )
        ),
        dtype=np.intp,
        count=n,
    )
    g = tables.global_rate
    static = np.empty((len(triples), 5), dtype=np.float64)
    origin_row = np.empty(len(triples), dtype=np.intp)
    countries: dict[str | None, int] = {}
    country_code = np.empty(len(triples), dtype=np.intp)
    for j, (airline, origin, destination) in enumerate(triples):
        a = tables.airline_code(airline)
        o = tables.origin_index.get(origin)
        d = tables.destination_index.get(destination)
        r = tables.route_index.get(route_key(origin, destination))
        # Unseen categories get the global rate: exactly what smoothing gives a count of zero.
        static[j] = (
            nan if a is None else a,
            nan if o is None else o,
            nan if d is None else d,
            g if a is None else tables._airline_rate_list[a],
            g if r is None else tables._route_rate_list[r],
        )
        origin_row[j] = -1 if o is None else o
        country_code[j] = countries.setdefault(tables.country(origin), len(countries))
    per_row = static[codes]
    x[:, col["airline"]] = per_row[:, 0]
    x[:, col["origin"]] = per_row[:, 1]
    x[:, col["destination"]] = per_row[:, 2]
    x[:, col["airline_delay_rate"]] = per_row[:, 3]
    x[:, col["route_delay_rate"]] = per_row[:, 4]
    x[:, col["days_to_holiday"]] = _days_to_holiday_coded(
        days, country_code[codes], list(countries)
    )

    # Rates by origin and hour: a gather where the origin is known, the fallbacks elsewhere.
    o_row = origin_row[codes]
    known = o_row >= 0
    at = np.where(known, o_row, 0)
    if known.any():
        x[:, col["origin_hour_delay_rate"]] = np.where(known, tables.origin_hour_rate[at, hour], g)
        x[:, col["origin_hour_density"]] = np.where(known, tables.density[at, weekday, hour], nan)
    else:
        x[:, col["origin_hour_delay_rate"]] = g
        x[:, col["origin_hour_density"]] = nan
    x[:, WEATHER_SLICE] = inputs.weather
    return x
