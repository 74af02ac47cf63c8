"""How flights become model inputs: one code path for a training table, a batch and one flight.

`FeatureTables` holds every statistic the features use (vocabularies, smoothed historical delay
rates, schedule density); it is fitted on the training window only and stored in the bundle.
`build_features` gives the float32 matrix the ONNX model reads, for a training table, a batch
and one flight alike: what depends only on the airline and the airports is looked up once per
distinct route (`route_features`), then gathered for every row (`assemble_features`).

Categories go in as numbers: each vocabulary is ordered by its smoothed delay rate in the
training window, so a tree's `<=` split on the code separates riskier from safer values. The
exporter ignores categorical splits (the converted model would be silently wrong), so no
feature is declared categorical.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np

from flightontime_core.calendar import EPOCH_ORDINAL, days_to_holiday
from flightontime_core.flights import WEATHER_FIELDS

if TYPE_CHECKING:
    import pandas as pd

FEATURE_NAMES: Final[tuple[str, ...]] = (
    "hour",  # local hour at the origin, 0-23
    "minute",  # minute of the hour
    "weekday",  # Monday = 0
    "days_to_holiday",  # signed days to the nearest public holiday of the origin's country
    "airline",  # vocabulary codes ordered by delay rate; NaN when unseen in training
    "origin",
    "destination",
    "distance_km",
    "airline_delay_rate",  # smoothed historical rates of the primary label (training window)
    "route_delay_rate",
    "origin_hour_delay_rate",
    "origin_hour_density",  # planned departures at the origin in that weekday x hour, per week
    *WEATHER_FIELDS,  # at the origin for the scheduled hour; NaN when not given
    # The wind as a vector (km/h toward east and north components of where it blows from):
    # trees split on a direction near 0/360 degrees badly; measured +0.002 validation AUC.
    "wind_u",
    "wind_v",
)
FEATURE_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(FEATURE_NAMES)}
# The weather block: the given fields and what is derived from them (hidden together).
WEATHER_SLICE: Final = slice(FEATURE_INDEX[WEATHER_FIELDS[0]], FEATURE_INDEX["wind_v"] + 1)
_WIND = WEATHER_FIELDS.index("wind_kmh")
_DIRECTION = WEATHER_FIELDS.index("wind_direction_deg")
N_FEATURES: Final = len(FEATURE_NAMES)
N_WEATHER: Final = len(WEATHER_FIELDS)

# Bumped whenever a feature's definition changes (not only its name): a bundle records it, and
# loading refuses a bundle built for other features.
FEATURE_DEFINITION: Final = 2
TABLES_FORMAT: Final = 2
MINUTES_PER_DAY: Final = 1440
# Smoothing of the historical rates toward the global rate, in pseudo-flights.
SMOOTHING: Final = 50.0
# Bound on each table's cache of airline codes as requests send them.
_AIRLINE_CACHE_MAX = 4096


def feature_spec_id() -> str:
    """A short digest of the feature list and its definition version (recorded in bundles)."""
    text = f"{FEATURE_DEFINITION}:{','.join(FEATURE_NAMES)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def route_key(origin: str, destination: str) -> str:
    """The route vocabulary's key for an origin/destination pair of ICAO codes."""
    return f"{origin}-{destination}"


def minutes_of(departure_local: np.ndarray) -> np.ndarray:
    """Wall-clock minutes since 1970-01-01 (int64) of datetime64 local times."""
    return np.asarray(departure_local).astype("datetime64[m]").astype(np.int64)


@dataclass(frozen=True)
class FlightColumns:
    """n resolved flights as columns: what the features are computed from."""

    airline: np.ndarray  # object array of str, upper case, as given (IATA or ICAO)
    origin: np.ndarray  # object array of str, ICAO
    destination: np.ndarray  # object array of str, ICAO
    minutes: np.ndarray  # int64, wall-clock minutes since 1970-01-01, local time at the origin
    distance_m: np.ndarray  # float64
    weather: np.ndarray  # float64 (n, N_WEATHER), NaN = not given

    def __len__(self) -> int:
        return int(self.minutes.shape[0])

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> FlightColumns:
        """Columns of a canonical flights table (weather NaN where the table has none)."""
        n = len(df)
        weather = np.full((n, N_WEATHER), np.nan)
        for j, name in enumerate(WEATHER_FIELDS):
            if name in df.columns:
                weather[:, j] = df[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return cls(
            airline=np.asarray(df["airline"].astype(str).str.upper().to_numpy(), dtype=object),
            origin=np.asarray(df["origin"].astype(str).to_numpy(), dtype=object),
            destination=np.asarray(df["destination"].astype(str).to_numpy(), dtype=object),
            minutes=minutes_of(df["scheduled_departure"].to_numpy()),
            distance_m=df["distance_m"].to_numpy(dtype=np.float64, na_value=np.nan),
            weather=weather,
        )

    def take(self, rows: np.ndarray | slice) -> FlightColumns:
        """The flights at `rows` (index array, mask or slice)."""
        return FlightColumns(
            self.airline[rows],
            self.origin[rows],
            self.destination[rows],
            self.minutes[rows],
            self.distance_m[rows],
            self.weather[rows],
        )

    def without_weather(self) -> FlightColumns:
        """The same flights with no weather given."""
        return FlightColumns(
            self.airline,
            self.origin,
            self.destination,
            self.minutes,
            self.distance_m,
            np.full_like(self.weather, np.nan),
        )


class TablesData(msgspec.Struct, frozen=True):
    """The stored form of `FeatureTables` (feature_tables.json in a bundle)."""

    format: int
    label_threshold_min: int
    smoothing: float
    window: tuple[str, str]
    global_rate: float
    airlines: list[str]  # each vocabulary in code order: ascending smoothed delay rate
    origins: list[str]
    destinations: list[str]
    routes: list[str]
    origin_countries: list[str | None]  # parallel to origins
    airline_rate: list[float]
    route_rate: list[float]
    origin_hour_rate: list[list[float]]  # origins x 24
    density: list[list[list[float]]]  # origins x 7 x 24


def _country(icao: str) -> str | None:
    from flightontime_core.airports import resolve_airport

    airport = resolve_airport(icao)
    return airport.country if airport is not None and airport.country else None


class FeatureTables:
    """Vocabularies and statistics of the training window, as lookups for the features."""

    def __init__(self, data: TablesData) -> None:
        if data.format != TABLES_FORMAT:
            raise ValueError(f"feature tables format {data.format!r} != {TABLES_FORMAT}")
        self.data = data
        self.global_rate = float(data.global_rate)
        self.airlines = tuple(data.airlines)
        self.airline_index = {c: i for i, c in enumerate(data.airlines)}
        self.origin_index = {c: i for i, c in enumerate(data.origins)}
        self.destination_index = {c: i for i, c in enumerate(data.destinations)}
        self.route_index = {c: i for i, c in enumerate(data.routes)}
        self.airline_rate = np.asarray(data.airline_rate, dtype=np.float64)
        self.route_rate = np.asarray(data.route_rate, dtype=np.float64)
        self.origin_hour_rate = np.asarray(data.origin_hour_rate, dtype=np.float64).reshape(-1, 24)
        self.density = np.asarray(data.density, dtype=np.float64).reshape(-1, 7, 24)
        n_rates = (len(data.airlines), len(data.routes), len(data.origins))
        if (
            self.airline_rate.size,
            self.route_rate.size,
            self.origin_hour_rate.shape[0],
        ) != n_rates:
            raise ValueError("feature tables: a rate table does not match its vocabulary")
        if self.density.shape[0] != len(data.origins) or len(data.origin_countries) != len(
            data.origins
        ):
            raise ValueError("feature tables: density or countries do not match the origins")
        self._countries = dict(zip(data.origins, data.origin_countries, strict=True))
        # Request codes already mapped to a vocabulary index (None: unknown airline).
        self._airline_lookup: dict[str, int | None] = dict(self.airline_index)
        # Plain Python copies for the per-route lookups (the same float values).
        self._airline_rate_list: list[float] = self.airline_rate.tolist()
        self._route_rate_list: list[float] = self.route_rate.tolist()
        # Each route's features as requests send it (`route_features`), bounded.
        self._route_rows: dict[tuple[str, str, str], Any] = {}

    # -- lookups --------------------------------------------------------------------------------

    def airline_code(self, code: str) -> int | None:
        """Vocabulary code of an airline in any of its forms (IATA or ICAO), None if unseen."""
        try:
            return self._airline_lookup[code]
        except KeyError:
            pass
        from flightontime_core.airlines import airline_codes

        found: int | None = None
        for alias in airline_codes(code):
            found = self.airline_index.get(alias)
            if found is not None:
                break
        if len(self._airline_lookup) < _AIRLINE_CACHE_MAX:
            self._airline_lookup[code] = found
        return found

    def country(self, origin: str) -> str | None:
        """Country of an origin airport (the vocabulary's first, the airports table otherwise)."""
        try:
            return self._countries[origin]
        except KeyError:
            return _country(origin)

    def knows_airport(self, icao: str) -> bool:
        """Whether the training window had flights from or to this airport."""
        return icao in self.origin_index or icao in self.destination_index

    def knows_route(self, origin: str, destination: str) -> bool:
        """Whether the training window had this route."""
        return route_key(origin, destination) in self.route_index

    # -- storage --------------------------------------------------------------------------------

    def to_json(self) -> bytes:
        """Deterministic JSON (same tables, same bytes)."""
        return msgspec.json.encode(self.data)

    @classmethod
    def from_json(cls, raw: bytes) -> FeatureTables:
        """Tables from `to_json` bytes; ValueError when they do not fit together."""
        try:
            data = msgspec.json.decode(raw, type=TablesData)
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from None
        return cls(data)

    # -- fitting --------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        columns: FlightColumns,
        late: np.ndarray,
        *,
        label_threshold_min: int,
        window: tuple[date, date],
        smoothing: float = SMOOTHING,
    ) -> FeatureTables:
        """Fit on the training window: every scheduled flight, `late` NaN where cancelled."""
        if len(columns) == 0:
            raise ValueError("cannot fit feature tables on an empty training window")
        return cls.from_counts(
            count_history(columns, late),
            label_threshold_min=label_threshold_min,
            window=window,
            smoothing=smoothing,
        )

    @classmethod
    def from_counts(
        cls,
        counts: dict[str, Tally],
        *,
        label_threshold_min: int,
        window: tuple[date, date],
        smoothing: float = SMOOTHING,
    ) -> FeatureTables:
        """The tables from a training window's counts (`count_history`, or its counts summed
        over the partitions of a table too large for memory)."""
        airline = counts["airline"]
        flown_total = int(airline.flown.sum())
        if airline.keys.size == 0:
            raise ValueError("cannot fit feature tables on an empty training window")
        if flown_total == 0:
            raise ValueError("no flown (non-cancelled) flight in the training window")
        # Sums of 0/1 labels are whole numbers: exact in float64, in any order.
        global_rate = float(np.float64(airline.hits.sum()) / flown_total)

        def smoothed(hits: np.ndarray, count: np.ndarray) -> np.ndarray:
            # (late + m * global) / (n + m): rare values stay close to the global rate.
            return np.asarray((hits + smoothing * global_rate) / (count + smoothing))

        def by_rate(kind: str) -> tuple[list[str], dict[str, int], np.ndarray]:
            # Vocabulary in code order (ascending rate, ties by name) and each name's code.
            tally = counts[kind]
            rate = smoothed(tally.hits, tally.flown)
            names = tally.keys.tolist()
            order = sorted(range(len(names)), key=lambda i: (round(float(rate[i]), 12), names[i]))
            vocabulary = [str(names[i]) for i in order]
            return vocabulary, {name: i for i, name in enumerate(vocabulary)}, rate[order]

        airlines, _, airline_rate = by_rate("airline")
        routes, _, route_rate = by_rate("route")
        origins, origin_rank, _ = by_rate("origin")
        destinations, _, _ = by_rate("destination")

        def per_origin(kind: str, slots: int, value: str) -> np.ndarray:
            tally = counts[kind]
            out = np.zeros((len(origins), slots), dtype=getattr(tally, value).dtype)
            at = np.array([origin_rank[k] for k in tally.keys.tolist()], dtype=np.intp)
            out[at, tally.slots] = getattr(tally, value)
            return out

        hour_hits = per_origin("origin_hour", 24, "hits")
        hour_flown = per_origin("origin_hour", 24, "flown")
        origin_hour_rate = smoothed(hour_hits, hour_flown)
        # Density: scheduled departures (cancelled ones too: they were planned) per origin x
        # weekday x hour, divided by how many of that weekday the window holds.
        cells = per_origin("density", 7 * 24, "scheduled").reshape(len(origins), 7, 24)
        first = window[0].toordinal() - EPOCH_ORDINAL
        last = window[1].toordinal() - EPOCH_ORDINAL
        per_weekday = np.bincount((np.arange(first, last + 1) + 3) % 7, minlength=7)
        density = cells / np.maximum(per_weekday, 1)[None, :, None]

        def r(a: np.ndarray) -> list[float]:
            # Rounded so stored tables are small and stable; the model trains on these values.
            return [float(v) for v in np.round(a, 8).ravel()]

        return cls(
            TablesData(
                format=TABLES_FORMAT,
                label_threshold_min=int(label_threshold_min),
                smoothing=float(smoothing),
                window=(window[0].isoformat(), window[1].isoformat()),
                global_rate=round(global_rate, 8),
                airlines=airlines,
                origins=origins,
                destinations=destinations,
                routes=routes,
                origin_countries=[_country(o) for o in origins],
                airline_rate=r(airline_rate),
                route_rate=r(route_rate),
                origin_hour_rate=[r(row) for row in origin_hour_rate],
                density=[[r(row) for row in plane] for plane in density],
            )
        )


@dataclass(frozen=True)
class Tally:
    """One history table's counts: per key (sorted) and slot, the scheduled flights, the flown
    ones and the late ones among those."""

    keys: np.ndarray  # str
    slots: np.ndarray  # int64: 0, the hour, or weekday x 24 + hour
    hits: np.ndarray  # float64, late flown flights
    flown: np.ndarray  # int64
    scheduled: np.ndarray  # int64
    first: np.ndarray  # int64, earliest wall-clock minute
    last: np.ndarray  # int64, latest

    def __len__(self) -> int:
        return int(self.keys.size)


# The history tables `count_history` counts, in order.
HISTORY_KINDS: Final = ("airline", "route", "origin", "destination", "origin_hour", "density")


def count_history(columns: FlightColumns, late: np.ndarray) -> dict[str, Tally]:
    """Every history table's counts of n flights (`late` NaN where cancelled): what
    `FeatureTables.from_counts` fits the tables from."""
    late = np.asarray(late, dtype=np.float64)
    flown = ~np.isnan(late)
    hits = np.where(flown, late, 0.0)
    minutes = columns.minutes
    days = minutes // MINUTES_PER_DAY
    hour = (minutes - days * MINUTES_PER_DAY) // 60
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    routes = np.array(
        [route_key(o, d) for o, d in zip(columns.origin, columns.destination, strict=True)],
        dtype=object,
    )
    zero = np.zeros(len(columns), dtype=np.int64)
    keyed = (
        (columns.airline, zero, 1),
        (routes, zero, 1),
        (columns.origin, zero, 1),
        (columns.destination, zero, 1),
        (columns.origin, hour, 24),
        (columns.origin, weekday * 24 + hour, 7 * 24),
    )
    out: dict[str, Tally] = {}
    for kind, (keys, slot, width) in zip(HISTORY_KINDS, keyed, strict=True):
        names, inverse = np.unique(np.asarray(keys).astype(str), return_inverse=True)
        cell = inverse.astype(np.int64) * width + slot
        used, at = np.unique(cell, return_inverse=True)
        size = used.size
        first = np.full(size, np.iinfo(np.int64).max)
        last = np.full(size, np.iinfo(np.int64).min)
        np.minimum.at(first, at, minutes)
        np.maximum.at(last, at, minutes)
        out[kind] = Tally(
            keys=names[used // width],
            slots=used % width,
            hits=np.bincount(at, weights=hits, minlength=size),
            flown=np.bincount(at, weights=flown, minlength=size).astype(np.int64),
            scheduled=np.bincount(at, minlength=size).astype(np.int64),
            first=first,
            last=last,
        )
    return out


@dataclass(frozen=True)
class RouteFeatures:
    """What the features take from k distinct (airline, origin, destination) triples."""

    template: np.ndarray  # (k, N_FEATURES) float32: the route's features, NaN for the others
    hour_rate: np.ndarray  # (k, 24): the origin's delay rate per hour
    density: np.ndarray  # (k, 7 * 24): the origin's departures per weekday x hour
    country: np.ndarray  # (k,) intp: index into `countries`
    countries: list[str | None]


_ROUTE_COLUMNS: Final = tuple(
    FEATURE_INDEX[name]
    for name in ("airline", "origin", "destination", "airline_delay_rate", "route_delay_rate")
)
_WEATHER_START: Final = WEATHER_SLICE.start
_HOUR, _MINUTE, _WEEKDAY = FEATURE_INDEX["hour"], FEATURE_INDEX["minute"], FEATURE_INDEX["weekday"]
# Bound on each table's cache of routes' features as requests send them.
_ROUTE_CACHE_MAX = 8192
# A route's packed row: its template row, its origin's 24 hourly rates, its 7 x 24 densities.
_HOUR_RATES: Final = slice(N_FEATURES, N_FEATURES + 24)
_DENSITIES: Final = slice(N_FEATURES + 24, N_FEATURES + 24 + 7 * 24)
_PACKED: Final = N_FEATURES + 24 + 7 * 24


def _route_row(
    tables: FeatureTables, airline: str, origin: str, destination: str
) -> tuple[np.ndarray, str | None]:
    """One route's packed row (its template row, its origin's hourly rates and densities, in
    `_PACKED` order, float32) and its country."""
    nan = math.nan
    g = tables.global_rate
    a = tables.airline_code(airline)
    o = tables.origin_index.get(origin)
    d = tables.destination_index.get(destination)
    r = tables.route_index.get(route_key(origin, destination))
    # float32, as the model reads them: each value is rounded once, as the matrix would be.
    row = np.full(_PACKED, nan, dtype=np.float32)
    # Unseen values get the global rate: exactly what smoothing gives a count of zero.
    row[list(_ROUTE_COLUMNS)] = (
        nan if a is None else a,
        nan if o is None else o,
        nan if d is None else d,
        g if a is None else tables._airline_rate_list[a],
        g if r is None else tables._route_rate_list[r],
    )
    if o is None or not tables.origin_hour_rate.shape[0]:
        row[_HOUR_RATES] = g
    else:
        row[_HOUR_RATES] = tables.origin_hour_rate[o]
        row[_DENSITIES] = tables.density[o].ravel()
    return row, tables.country(origin)


def route_features(tables: FeatureTables, triples: Sequence[tuple[str, str, str]]) -> RouteFeatures:
    """The per-route part of the features of distinct (airline, origin, destination) triples
    (airline upper case as given, airports ICAO); each triple is looked up once per tables."""
    cache = tables._route_rows
    rows = []
    for triple in triples:
        found = cache.get(triple)
        if found is None:
            if len(cache) >= _ROUTE_CACHE_MAX:
                cache.clear()  # bounded: arbitrary codes from clients cannot grow memory
            found = cache[triple] = _route_row(tables, *triple)
        rows.append(found)
    countries: dict[str | None, int] = {}
    country = [countries.setdefault(row[1], len(countries)) for row in rows]
    # One array of every route's packed row; the parts are views of it.
    packed = np.array([row[0] for row in rows]).reshape(len(rows), _PACKED)
    return RouteFeatures(
        packed[:, :N_FEATURES],
        packed[:, _HOUR_RATES],
        packed[:, _DENSITIES],
        np.array(country, dtype=np.intp),
        list(countries),
    )


def wind_vector(kmh: np.ndarray, degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) components of winds of `kmh` from `degrees`; NaN where either is missing."""
    angle = np.radians(degrees)
    return kmh * np.cos(angle), kmh * np.sin(angle)


def assemble_features(
    tables: FeatureTables,
    routes: RouteFeatures,
    route: np.ndarray,
    minutes: np.ndarray,
    distance_m: np.ndarray,
    weather: np.ndarray | None,
) -> np.ndarray:
    """The (n, N_FEATURES) float32 model matrix of n flights: `route` indexes `routes` for
    each row; `minutes` local wall-clock minutes since 1970-01-01; `weather` (n, N_WEATHER),
    NaN where not given, or None when no row has any."""
    days, minute_of_day = np.divmod(minutes, MINUTES_PER_DAY)
    hour, minute = np.divmod(minute_of_day, 60)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    x: np.ndarray = routes.template.take(route, axis=0)
    x[:, _HOUR] = hour
    x[:, _MINUTE] = minute
    x[:, _WEEKDAY] = weekday
    col = FEATURE_INDEX
    x[:, col["distance_km"]] = distance_m / 1000.0
    country = routes.country.take(route)
    x[:, col["days_to_holiday"]] = days_to_holiday(days, country, routes.countries)
    x[:, col["origin_hour_delay_rate"]] = routes.hour_rate[route, hour]
    x[:, col["origin_hour_density"]] = routes.density[route, weekday * 24 + hour]
    if weather is not None:
        x[:, _WEATHER_START : _WEATHER_START + N_WEATHER] = weather
        u, v = wind_vector(weather[:, _WIND], weather[:, _DIRECTION])
        x[:, col["wind_u"]] = u
        x[:, col["wind_v"]] = v
    return x  # float32 from the routes' rows: each value assigned is rounded once


def build_features(columns: FlightColumns, tables: FeatureTables) -> np.ndarray:
    """The (n, N_FEATURES) float32 model matrix of n flights of a table."""
    # A training table or a batch repeats a few hundred routes: one lookup per distinct one.
    triples: dict[tuple[str, str, str], int] = {}
    keys = zip(
        columns.airline.tolist(), columns.origin.tolist(), columns.destination.tolist(), strict=True
    )
    n = len(columns)
    route = np.fromiter((triples.setdefault(k, len(triples)) for k in keys), dtype=np.intp, count=n)
    weather = columns.weather if not np.isnan(columns.weather).all() else None
    return assemble_features(
        tables,
        route_features(tables, list(triples)),
        route,
        columns.minutes,
        columns.distance_m,
        weather,
    )
