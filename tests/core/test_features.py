"""The one feature path: a training table, a batch and one flight give the same float32 bits;
vocabularies ordered by delay rate; unseen values; stored tables; no leakage; holidays."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from flightontime_core.bundle import TABLES_FILE
from flightontime_core.calendar import EPOCH_ORDINAL, days_to_holiday, holiday_days
from flightontime_core.explain import GROUP_NAMES, GROUP_OF_FEATURE
from flightontime_core.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    N_FEATURES,
    N_WEATHER,
    SMOOTHING,
    WEATHER_SLICE,
    FeatureTables,
    FlightColumns,
    build_features,
    minutes_of,
    route_key,
    wind_vector,
)
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.resolve import local_minutes
from flightontime_core.training.split import delay_label, temporal_split

from .one_flight import features_of

if TYPE_CHECKING:
    from flightontime_core.training.sources.table import LoadResult

NAN = float("nan")
COL = FEATURE_INDEX


def _late(df: pd.DataFrame, threshold: int = 15) -> np.ndarray:
    delay = df["dep_delay_min"].where(~df["cancelled"]).to_numpy(dtype=np.float64)
    return delay_label(delay, threshold)


@pytest.fixture(scope="module")
def january(small_flights: LoadResult) -> pd.DataFrame:
    df = small_flights.flights
    out: pd.DataFrame = df.loc[df["scheduled_departure"].dt.month == 1].reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def jan_tables(january: pd.DataFrame) -> FeatureTables:
    """Tables fitted on January 2013 only."""
    return FeatureTables.fit(
        FlightColumns.from_frame(january),
        _late(january),
        label_threshold_min=15,
        window=(date(2013, 1, 1), date(2013, 1, 31)),
    )


@pytest.fixture(params=["jan_tables", "default_tables"])
def tables(request: pytest.FixtureRequest) -> FeatureTables:
    """Both a small fit and the committed default model's tables."""
    found: FeatureTables = request.getfixturevalue(request.param)
    return found


@dataclass(frozen=True)
class Edge:
    """One flight as the resolver hands it over (codes resolved, local time, metres)."""

    why: str
    airline: str
    origin: str
    destination: str
    when: datetime
    distance_m: float = 1_000_000.0
    weather: tuple[float, ...] | None = None


PARTIAL = (-3.5, *([NAN] * (N_WEATHER - 1)))
FULL = (2.0, -1.0, 80.0, 270.0, 30.0, 45.0, 1.5, 1003.2, 0.8)


def _weather(**given: float) -> tuple[float, ...]:
    """A weather row in WEATHER_FIELDS order, NaN where not given."""
    return tuple(given.get(name, NAN) for name in WEATHER_FIELDS)


WIND_ONLY = _weather(wind_kmh=25.0)
DIRECTION_ONLY = _weather(wind_direction_deg=90.0)
NORTH_WIND = _weather(wind_kmh=20.0, wind_direction_deg=360.0)
CALM = _weather(wind_kmh=0.0, wind_direction_deg=0.0)
JAN_20 = datetime(2013, 1, 20, 8, 0)
EDGES = [
    Edge("on a holiday", "UA", "KEWR", "KORD", datetime(2013, 7, 4, 9, 15)),
    Edge("the day before", "UA", "KEWR", "KORD", datetime(2013, 7, 3, 23, 59)),
    Edge("the day after", "UA", "KEWR", "KORD", datetime(2013, 7, 5, 0, 0)),
    Edge("holiday next year", "UA", "KEWR", "KORD", datetime(2013, 12, 31, 18, 0)),
    Edge("new year", "UA", "KEWR", "KORD", datetime(2014, 1, 1, 0, 1)),
    Edge("year the tables never saw", "DL", "KJFK", "KATL", datetime(2012, 12, 24, 12, 0)),
    Edge("tie between holidays", "DL", "KLGA", "KATL", datetime(2013, 8, 3, 7, 0)),
    Edge("DST gap (naive local)", "AA", "KJFK", "KMIA", datetime(2013, 3, 10, 2, 30)),
    Edge("DST repeated hour", "AA", "KJFK", "KMIA", datetime(2013, 11, 3, 1, 30)),
    Edge("unseen airline", "ZZ", "KJFK", "KLAX", datetime(2013, 11, 10, 14, 30)),
    Edge("ICAO airline", "UAL", "KEWR", "KORD", datetime(2013, 2, 25, 18, 30)),
    Edge("IATA airline", "UA", "KEWR", "KORD", datetime(2013, 2, 25, 18, 30)),
    Edge("unseen destination", "UA", "KEWR", "SBGR", datetime(2013, 5, 5, 22, 0)),
    Edge("unseen route", "B6", "KLGA", "KLAX", datetime(2013, 5, 5, 22, 0)),
    Edge("unseen foreign origin", "BA", "EGLL", "KJFK", datetime(2013, 12, 24, 11, 0)),
    Edge("no holiday calendar", "UA", "BKPR", "KEWR", datetime(2013, 5, 1, 8, 0)),
    Edge("no airport at all", "UA", "ZZZZ", "KEWR", datetime(2013, 5, 1, 8, 0)),
    Edge("Brazilian holiday", "AD", "SBKP", "SBRP", datetime(2025, 11, 15, 10, 0), 218_000.0),
    Edge("Brazilian no-DST", "AD", "SBKP", "SBRP", datetime(2025, 2, 16, 0, 0), 218_000.0),
    Edge("before 1970", "AA", "KJFK", "KMIA", datetime(1969, 12, 31, 23, 59)),
    Edge("far future", "AA", "KJFK", "KMIA", datetime(2099, 12, 31, 23, 59)),
    Edge("partial weather", "UA", "KEWR", "KORD", datetime(2013, 1, 20, 8, 0), weather=PARTIAL),
    Edge("full weather", "UA", "KEWR", "KORD", datetime(2013, 1, 20, 8, 0), weather=FULL),
    Edge("wind, no direction", "UA", "KEWR", "KORD", JAN_20, weather=WIND_ONLY),
    Edge("direction, no wind", "UA", "KEWR", "KORD", JAN_20, weather=DIRECTION_ONLY),
    Edge("north wind", "UA", "KEWR", "KORD", JAN_20, weather=NORTH_WIND),
    Edge("calm", "UA", "KEWR", "KORD", JAN_20, weather=CALM),
    Edge("odd distance", "UA", "KEWR", "KORD", datetime(2013, 1, 20, 8, 0), 123_456.789),
]


def _columns(edges: list[Edge]) -> FlightColumns:
    weather = np.full((len(edges), N_WEATHER), np.nan)
    for i, edge in enumerate(edges):
        if edge.weather is not None:
            weather[i] = edge.weather
    return FlightColumns(
        airline=np.array([e.airline for e in edges], dtype=object),
        origin=np.array([e.origin for e in edges], dtype=object),
        destination=np.array([e.destination for e in edges], dtype=object),
        minutes=np.array([local_minutes(e.when) for e in edges], dtype=np.int64),
        distance_m=np.array([e.distance_m for e in edges]),
        weather=weather,
    )


def _rows(tables: FeatureTables, columns: FlightColumns) -> np.ndarray:
    """Every flight of the columns alone (a table of one), from plain Python scalars."""
    out = []
    for i in range(len(columns)):
        weather = [float(v) for v in columns.weather[i]]
        row = features_of(
            tables,
            str(columns.airline[i]),
            str(columns.origin[i]),
            str(columns.destination[i]),
            int(columns.minutes[i]),
            float(columns.distance_m[i]),
            None if all(np.isnan(weather)) else weather,
        )
        assert len(row) == N_FEATURES
        out.append(row)
    return np.array(out, dtype=np.float32).reshape(-1, N_FEATURES)


def _assert_same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float32
    assert a.shape == b.shape
    differ = np.argwhere(a.view(np.uint32) != b.view(np.uint32))
    assert differ.size == 0, [
        (int(r), FEATURE_NAMES[int(c)], float(a[r, c]), float(b[r, c])) for r, c in differ[:10]
    ]


def test_a_flight_alone_equals_its_row_in_a_batch_on_real_rows(
    tables: FeatureTables, small_flights: LoadResult
) -> None:
    df = small_flights.flights.sample(500, random_state=1).reset_index(drop=True)
    # Some rows without any weather, as most requests come.
    df.loc[::4, list(WEATHER_FIELDS)] = np.nan
    columns = FlightColumns.from_frame(df)
    table = build_features(columns, tables)
    assert table.shape == (500, N_FEATURES)
    _assert_same_bits(table, _rows(tables, columns))
    # And flight by flight, each a batch of one.
    for i in range(0, 500, 50):
        _assert_same_bits(build_features(columns.take(slice(i, i + 1)), tables), table[i : i + 1])


def test_a_flight_alone_equals_its_row_in_a_batch_on_edge_rows(tables: FeatureTables) -> None:
    columns = _columns(EDGES)
    table = build_features(columns, tables)
    _assert_same_bits(table, _rows(tables, columns))
    # Order in the batch does not matter either.
    reverse = np.arange(len(EDGES))[::-1]
    _assert_same_bits(build_features(columns.take(reverse), tables), table[reverse])


def test_edge_rows_have_the_expected_values(tables: FeatureTables) -> None:
    x = build_features(_columns(EDGES), tables)
    at = {edge.why: x[i] for i, edge in enumerate(EDGES)}
    holiday = COL["days_to_holiday"]
    assert at["on a holiday"][holiday] == 0.0
    assert at["the day before"][holiday] == -1.0
    assert at["the day after"][holiday] == 1.0
    assert at["holiday next year"][holiday] == -1.0  # 1 January 2014
    assert at["new year"][holiday] == 0.0
    assert at["year the tables never saw"][holiday] == -1.0  # Christmas 2012
    assert at["tie between holidays"][holiday] == -30.0  # 4 July / 2 September: the coming one
    assert at["unseen foreign origin"][holiday] == -1.0  # Christmas Day in England is tomorrow
    assert at["Brazilian holiday"][holiday] == 0.0  # Republic Day
    assert np.isnan(at["no holiday calendar"][holiday])  # Kosovo: no calendar
    assert np.isnan(at["no airport at all"][holiday])
    # The wall clock as given, DST gap or not.
    for why, hour, minute, weekday in (
        ("DST gap (naive local)", 2, 30, 6),
        ("DST repeated hour", 1, 30, 6),
        ("before 1970", 23, 59, 2),
        ("far future", 23, 59, 3),
        ("Brazilian holiday", 10, 0, 5),
    ):
        row = at[why]
        assert (row[COL["hour"]], row[COL["minute"]], row[COL["weekday"]]) == (
            hour,
            minute,
            weekday,
        )
    assert at["odd distance"][COL["distance_km"]] == np.float32(123.456789)
    # Weather passes through; missing fields stay NaN (the wind vector too).
    fields = slice(COL[WEATHER_FIELDS[0]], COL[WEATHER_FIELDS[-1]] + 1)
    assert at["partial weather"][COL["temperature_c"]] == np.float32(-3.5)
    assert np.isnan(at["partial weather"][COL[WEATHER_FIELDS[1]] :]).all()
    assert at["full weather"][fields].tolist() == pytest.approx(FULL, rel=1e-6)
    assert np.isnan(at["on a holiday"][COL[WEATHER_FIELDS[0]] :]).all()
    # The wind as a vector, after the nine fields: a 30 km/h wind from 270 degrees.
    wind = [COL["wind_u"], COL["wind_v"]]
    angle = math.radians(270.0)
    assert at["full weather"][wind].tolist() == [
        np.float32(30.0 * math.cos(angle)),
        np.float32(30.0 * math.sin(angle)),
    ]
    assert at["full weather"][wind].tolist() == pytest.approx([0.0, -30.0], abs=1e-5)
    assert at["north wind"][wind].tolist() == pytest.approx([20.0, 0.0], abs=1e-5)
    assert at["calm"][wind].tolist() == [0.0, 0.0]
    # Either half missing: no vector, but the given field passes through.
    halves = (("wind, no direction", "wind_kmh"), ("direction, no wind", "wind_direction_deg"))
    for why, given in halves:
        assert np.isnan(at[why][wind]).all(), why
        assert not np.isnan(at[why][COL[given]]), why
        assert np.isnan(at[why][fields]).sum() == len(WEATHER_FIELDS) - 1, why


def test_the_weather_block_is_the_nine_fields_then_the_wind_vector() -> None:
    block = FEATURE_NAMES[WEATHER_SLICE]
    assert block == (*WEATHER_FIELDS, "wind_u", "wind_v")
    assert FEATURE_NAMES[-len(block) :] == block  # the last columns of the matrix
    assert len(WEATHER_FIELDS) == N_WEATHER
    assert WEATHER_SLICE.stop == N_FEATURES
    # The wind vector is explained with the wind speed; every other field is its own group.
    wind = GROUP_NAMES.index("wind_kmh")
    assert [FEATURE_NAMES[i] for i, g in enumerate(GROUP_OF_FEATURE) if g == wind] == [
        "wind_kmh",
        "wind_u",
        "wind_v",
    ]
    for name in WEATHER_FIELDS:
        assert GROUP_NAMES[GROUP_OF_FEATURE[COL[name]]] == name


@pytest.mark.parametrize(
    ("kmh", "degrees", "expected"),
    [
        (10.0, 0.0, (10.0, 0.0)),
        (10.0, 90.0, (0.0, 10.0)),
        (10.0, 180.0, (-10.0, 0.0)),
        (10.0, 270.0, (0.0, -10.0)),
        (10.0, 360.0, (10.0, 0.0)),  # 0 and 360 degrees: the same wind
        (0.0, 123.0, (0.0, 0.0)),
        (30.0, 45.0, (30.0 / math.sqrt(2), 30.0 / math.sqrt(2))),
    ],
)
def test_wind_vector(kmh: float, degrees: float, expected: tuple[float, float]) -> None:
    u, v = wind_vector(kmh, degrees)
    assert (u, v) == pytest.approx(expected, abs=1e-12)
    assert math.hypot(u, v) == pytest.approx(kmh, abs=1e-12)
    assert (u, v) == (kmh * math.cos(math.radians(degrees)), kmh * math.sin(math.radians(degrees)))


@pytest.mark.parametrize(("kmh", "degrees"), [(NAN, 90.0), (25.0, NAN), (NAN, NAN)])
def test_wind_vector_of_a_missing_half_is_missing(kmh: float, degrees: float) -> None:
    u, v = wind_vector(kmh, degrees)
    assert math.isnan(u)
    assert math.isnan(v)


def test_icao_and_iata_airline_forms_give_the_same_features(tables: FeatureTables) -> None:
    x = build_features(_columns(EDGES), tables)
    icao = x[[e.why for e in EDGES].index("ICAO airline")]
    iata = x[[e.why for e in EDGES].index("IATA airline")]
    _assert_same_bits(icao[None], iata[None])
    assert tables.airlines[int(iata[COL["airline"]])] == "UA"
    assert tables.airline_code("UAL") == tables.airline_code("UA") is not None


def test_unseen_values_get_nan_codes_and_the_global_rate(tables: FeatureTables) -> None:
    x = build_features(_columns(EDGES), tables)
    at = {edge.why: x[i] for i, edge in enumerate(EDGES)}
    g = np.float32(tables.global_rate)

    airline = at["unseen airline"]
    assert np.isnan(airline[COL["airline"]])
    assert airline[COL["airline_delay_rate"]] == g
    assert not np.isnan(airline[COL["origin"]])  # KJFK is known

    destination = at["unseen destination"]
    assert np.isnan(destination[COL["destination"]])
    assert destination[COL["route_delay_rate"]] == g

    route = at["unseen route"]  # both airports known, never flown together (perimeter rule)
    assert tables.knows_airport("KLGA")
    assert tables.knows_airport("KLAX")
    assert not tables.knows_route("KLGA", "KLAX")
    assert route[COL["route_delay_rate"]] == g
    assert not np.isnan(route[COL["origin"]])
    assert not np.isnan(route[COL["destination"]])

    origin = at["unseen foreign origin"]
    for name in ("origin", "origin_hour_density"):
        assert np.isnan(origin[COL[name]]), name
    for name in ("origin_hour_delay_rate", "route_delay_rate"):
        assert origin[COL[name]] == g, name


def test_unseen_route_of_known_airports(jan_tables: FeatureTables) -> None:
    # Only departures from New York are in the data: the way back is never a known route.
    assert jan_tables.knows_airport("KLAX")
    assert jan_tables.knows_airport("KJFK")
    assert jan_tables.knows_route("KJFK", "KLAX")
    assert not jan_tables.knows_route("KLAX", "KJFK")
    when = local_minutes(datetime(2013, 1, 15, 9, 0))
    row = features_of(jan_tables, "AA", "KLAX", "KJFK", when, 3.98e6)
    assert row[COL["route_delay_rate"]] == np.float32(jan_tables.global_rate)
    # Known airports, but LAX was never an origin and JFK never a destination.
    assert np.isnan(row[COL["origin"]])
    assert np.isnan(row[COL["destination"]])
    assert row[COL["airline_delay_rate"]] != np.float32(jan_tables.global_rate)


def _smoothed_rates(keys: pd.Series, late: np.ndarray) -> pd.Series:
    flown = ~np.isnan(late)
    g = late[flown].mean()
    frame = pd.DataFrame({"key": keys.to_numpy()[flown], "late": late[flown]})
    stats = frame.groupby("key")["late"].agg(["sum", "count"])
    rates: pd.Series = (stats["sum"] + SMOOTHING * g) / (stats["count"] + SMOOTHING)
    return rates


def test_vocabularies_are_ordered_by_the_training_window_delay_rate(
    january: pd.DataFrame, jan_tables: FeatureTables
) -> None:
    late = _late(january)
    routes = january["origin"] + "-" + january["destination"]
    for vocabulary, keys in (
        (jan_tables.data.airlines, january["airline"]),
        (jan_tables.data.origins, january["origin"]),
        (jan_tables.data.destinations, january["destination"]),
        (jan_tables.data.routes, routes),
    ):
        rates = _smoothed_rates(keys, late)
        expected = sorted(rates.index, key=lambda k: (round(float(rates[k]), 12), k))
        assert vocabulary == expected
    # The stored rates are those rates, in code order, rounded to 8 decimals.
    airline_rates = _smoothed_rates(january["airline"], late)
    assert jan_tables.data.airline_rate == [
        round(float(airline_rates[a]), 8) for a in jan_tables.data.airlines
    ]
    assert jan_tables.data.airline_rate == sorted(jan_tables.data.airline_rate)
    assert jan_tables.data.route_rate == sorted(jan_tables.data.route_rate)
    assert jan_tables.global_rate == round(float(np.nanmean(late)), 8)
    # A row's code is its airline's rank: a higher code never has a lower historical rate.
    x = build_features(FlightColumns.from_frame(january), jan_tables)
    codes = x[:, COL["airline"]].astype(np.int64)
    assert [jan_tables.airlines[c] for c in codes[:50]] == january["airline"].tolist()[:50]
    order = np.argsort(codes, kind="stable")
    assert np.all(np.diff(x[order, COL["airline_delay_rate"]]) >= 0)


def test_smoothing_pulls_rare_values_to_the_global_rate() -> None:
    when = np.array(["2013-01-07T08:00"] * 101, dtype="datetime64[m]")
    columns = FlightColumns(
        airline=np.array(["AA"] * 100 + ["ZZ"], dtype=object),
        origin=np.array(["KJFK"] * 101, dtype=object),
        destination=np.array(["KLAX"] * 101, dtype=object),
        minutes=minutes_of(when),
        distance_m=np.full(101, 4e6),
        weather=np.full((101, N_WEATHER), np.nan),
    )
    late = np.r_[np.zeros(50), np.ones(50), [1.0]]
    tables = FeatureTables.fit(
        columns, late, label_threshold_min=15, window=(date(2013, 1, 7), date(2013, 1, 7))
    )
    g = 51 / 101
    assert tables.global_rate == round(g, 8)
    # One late flight: (1 + 50 g) / (1 + 50), far from the raw 100 %.
    rare = dict(zip(tables.data.airlines, tables.data.airline_rate, strict=True))["ZZ"]
    assert rare == pytest.approx((1 + SMOOTHING * g) / (1 + SMOOTHING), abs=1e-8)


def test_cancelled_flights_count_for_density_but_not_for_rates() -> None:
    when = np.array(["2013-01-07T08:00", "2013-01-07T08:30", "2013-01-07T08:45"], "datetime64[m]")
    columns = FlightColumns(
        airline=np.array(["AA"] * 3, dtype=object),
        origin=np.array(["KJFK"] * 3, dtype=object),
        destination=np.array(["KLAX"] * 3, dtype=object),
        minutes=minutes_of(when),
        distance_m=np.full(3, 4e6),
        weather=np.full((3, N_WEATHER), np.nan),
    )
    tables = FeatureTables.fit(
        columns,
        np.array([1.0, 0.0, np.nan]),  # the third was cancelled
        label_threshold_min=15,
        window=(date(2013, 1, 7), date(2013, 1, 7)),
    )
    assert tables.global_rate == 0.5
    x = build_features(columns, tables)
    assert x[0, COL["origin_hour_density"]] == 3.0


def test_density_is_per_week_of_the_training_window() -> None:
    # Two Mondays in the window, three departures at 08:xx on those Mondays: 1.5 per week.
    when = np.array(
        ["2013-01-07T08:00", "2013-01-07T08:30", "2013-01-14T08:10", "2013-01-08T09:00"],
        dtype="datetime64[m]",
    )
    n = when.size
    columns = FlightColumns(
        airline=np.array(["AA"] * n, dtype=object),
        origin=np.array(["KJFK"] * n, dtype=object),
        destination=np.array(["KLAX"] * n, dtype=object),
        minutes=minutes_of(when),
        distance_m=np.full(n, 4e6),
        weather=np.full((n, N_WEATHER), np.nan),
    )
    tables = FeatureTables.fit(
        columns,
        np.array([1.0, 0.0, 1.0, 0.0]),
        label_threshold_min=15,
        window=(date(2013, 1, 7), date(2013, 1, 20)),
    )
    x = build_features(columns, tables)
    assert x[0, COL["origin_hour_density"]] == pytest.approx(1.5)
    assert x[3, COL["origin_hour_density"]] == pytest.approx(0.5)
    assert x[0, COL["weekday"]] == 0  # Monday


def test_tables_json_round_trip_gives_identical_bytes(
    jan_tables: FeatureTables, default_model_dir: Path
) -> None:
    raw = jan_tables.to_json()
    again = FeatureTables.from_json(raw)
    assert again.to_json() == raw
    assert again.data == jan_tables.data
    # The committed bundle's file is exactly what its tables encode to.
    stored = (default_model_dir / TABLES_FILE).read_bytes()
    assert FeatureTables.from_json(stored).to_json() == stored
    # And the round trip changes no feature.
    columns = _columns(EDGES)
    _assert_same_bits(build_features(columns, again), build_features(columns, jan_tables))


def test_fitting_twice_gives_the_same_bytes(
    january: pd.DataFrame, jan_tables: FeatureTables
) -> None:
    shuffled = january.sample(frac=1.0, random_state=3).reset_index(drop=True)
    refit = FeatureTables.fit(
        FlightColumns.from_frame(shuffled),
        _late(shuffled),
        label_threshold_min=15,
        window=(date(2013, 1, 1), date(2013, 1, 31)),
    )
    assert refit.to_json() == jan_tables.to_json()


def test_tables_that_do_not_fit_together_are_refused(jan_tables: FeatureTables) -> None:
    import msgspec

    data = msgspec.to_builtins(jan_tables.data)
    with pytest.raises(ValueError, match="format"):
        FeatureTables.from_json(msgspec.json.encode({**data, "format": 99}))
    with pytest.raises(ValueError, match="rate table"):
        FeatureTables.from_json(
            msgspec.json.encode({**data, "airline_rate": data["airline_rate"][:-1]})
        )
    with pytest.raises(ValueError, match="density or countries"):
        FeatureTables.from_json(
            msgspec.json.encode({**data, "origin_countries": data["origin_countries"][:-1]})
        )
    with pytest.raises(ValueError, match="missing required field"):
        FeatureTables.from_json(b'{"format": 2}')


def test_fit_refuses_an_empty_or_unflown_window() -> None:
    empty = FlightColumns(
        airline=np.array([], dtype=object),
        origin=np.array([], dtype=object),
        destination=np.array([], dtype=object),
        minutes=np.array([], dtype=np.int64),
        distance_m=np.array([]),
        weather=np.empty((0, N_WEATHER)),
    )
    window = (date(2013, 1, 1), date(2013, 1, 2))
    with pytest.raises(ValueError, match="empty"):
        FeatureTables.fit(empty, np.array([]), label_threshold_min=15, window=window)
    one = _columns(EDGES[:1])
    with pytest.raises(ValueError, match="no flown"):
        FeatureTables.fit(one, np.array([np.nan]), label_threshold_min=15, window=window)


def test_tables_use_only_the_rows_they_are_given(
    january: pd.DataFrame, jan_tables: FeatureTables
) -> None:
    """Later flights with scrambled labels, a new airline and new routes change nothing when
    they are not among the rows given, and change the tables when they are."""
    later = january.copy()
    later["scheduled_departure"] += pd.Timedelta(days=31)
    rng = np.random.default_rng(7)
    later["dep_delay_min"] = rng.permutation(later["dep_delay_min"].to_numpy()) + 45.0
    later["airline"] = "ZZ"
    later["destination"] = "KSFO"
    both = pd.concat([january, later], ignore_index=True)
    columns = FlightColumns.from_frame(both)
    late = _late(both)
    rows = np.arange(len(january))
    window = (date(2013, 1, 1), date(2013, 1, 31))
    only_january = FeatureTables.fit(
        columns.take(rows), late[rows], label_threshold_min=15, window=window
    )
    assert only_january.to_json() == jan_tables.to_json()
    leaked = FeatureTables.fit(columns, late, label_threshold_min=15, window=window)
    assert leaked.to_json() != jan_tables.to_json()
    assert "ZZ" in leaked.airlines
    assert "ZZ" not in jan_tables.airlines


def test_the_bundle_tables_come_from_its_training_window_only(
    small_flights: LoadResult, small_bundle_dir: Path
) -> None:
    """The trained bundle's tables are exactly a fit on the training window's rows: nothing
    from the validation or test days (labels, codes, density) reaches them."""
    df = small_flights.flights.sort_values("scheduled_departure", kind="mergesort")
    df = df.reset_index(drop=True)
    split = temporal_split(df["scheduled_departure"].to_numpy())
    train = df.loc[split.train]
    expected = FeatureTables.fit(
        FlightColumns.from_frame(train),
        _late(train),
        label_threshold_min=15,
        window=split.windows["train"],
    )
    stored = (small_bundle_dir / TABLES_FILE).read_bytes()
    assert stored == expected.to_json()
    assert FeatureTables.from_json(stored).data.window == tuple(
        d.isoformat() for d in split.windows["train"]
    )
    with_validation = df.loc[split.train | split.validation]
    leaked = FeatureTables.fit(
        FlightColumns.from_frame(with_validation),
        _late(with_validation),
        label_threshold_min=15,
        window=split.windows["train"],
    )
    assert stored != leaked.to_json()


def _days_to_holiday_reference(country: str | None, day: int) -> float:
    """The nearest holiday of one day by brute force over its year and the two around it
    (negative: ahead; a tie goes to the coming one); NaN without a calendar."""
    if country is None:
        return NAN
    calendar = holiday_days(country, date.fromordinal(day + EPOCH_ORDINAL).year)
    if not calendar:
        return NAN
    return float(min((day - h for h in calendar), key=lambda signed: (abs(signed), signed)))


def test_days_to_holiday_vectorised_equals_one_day_at_a_time() -> None:
    first = date(2012, 11, 1).toordinal() - EPOCH_ORDINAL
    last = date(2014, 2, 28).toordinal() - EPOCH_ORDINAL
    days = np.arange(first, last + 1, dtype=np.int64)
    names: list[str | None] = ["US", "BR", "GB", "XK", None, "ZZ"]
    # Every day for every country, interleaved so each country's rows are scattered.
    all_days = np.repeat(days, len(names))
    countries = np.tile(np.arange(len(names)), days.size)
    vectorised = days_to_holiday(all_days, countries, names)
    reference = np.array(
        [
            _days_to_holiday_reference(names[c], int(d))
            for d, c in zip(all_days, countries, strict=True)
        ]
    )
    assert np.array_equal(vectorised, reference, equal_nan=True)
    # One day alone (its own years only) gets what it gets among the others.
    for at in range(0, all_days.size, 97):
        alone = days_to_holiday(all_days[at : at + 1], np.array([0]), [names[countries[at]]])
        assert np.array_equal(alone, vectorised[at : at + 1], equal_nan=True)
    assert np.isnan(vectorised[countries == names.index(None)]).all()
    assert np.isnan(vectorised[countries == names.index("XK")]).all()
    assert not np.isnan(vectorised[countries == names.index("US")]).any()


@pytest.mark.parametrize(
    ("country", "day", "expected"),
    [
        ("US", date(2013, 7, 4), 0.0),
        ("US", date(2013, 7, 1), -3.0),
        ("US", date(2013, 7, 6), 2.0),
        ("US", date(2013, 8, 3), -30.0),  # tie: the coming holiday
        ("US", date(2013, 12, 31), -1.0),  # next year's calendar
        ("BR", date(2025, 11, 17), 2.0),
        ("BR", date(2025, 11, 18), -2.0),
        ("GB", date(2013, 12, 26), 0.0),  # Boxing Day
    ],
)
def test_days_to_holiday_is_signed(country: str, day: date, expected: float) -> None:
    d = day.toordinal() - EPOCH_ORDINAL
    assert _days_to_holiday_reference(country, d) == expected
    assert days_to_holiday(np.array([d]), np.array([0]), [country]).tolist() == [expected]


def test_minutes_of_the_table_path_equal_the_resolver_minutes() -> None:
    whens = [
        datetime(2013, 3, 10, 2, 30, 59, 999999),
        datetime(1969, 12, 31, 23, 59, 30),
        datetime(2013, 11, 3, 1, 30),
        datetime(2100, 12, 31, 23, 59, 59),
    ]
    table = minutes_of(pd.to_datetime(pd.Series(whens)).to_numpy())
    assert table.tolist() == [local_minutes(w) for w in whens]


def test_route_key_and_columns_helpers(small_flights: LoadResult) -> None:
    assert route_key("KJFK", "KLAX") == "KJFK-KLAX"
    df = small_flights.flights.head(20)
    columns = FlightColumns.from_frame(df)
    assert len(columns) == 20
    assert np.isnan(columns.without_weather().weather).all()
    assert not np.isnan(columns.weather).all()
    assert columns.take(slice(3, 5)).airline.tolist() == df["airline"].iloc[3:5].tolist()
