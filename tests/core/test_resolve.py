"""From flights as people send them to resolved columns: codes in any form, local time,
distance, one Problem per bad field (all of a flight's together), and the notices."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from flightontime_core import resolve
from flightontime_core.airports import distance_m, resolve_airport
from flightontime_core.errors import FlightError, Problem
from flightontime_core.features import FeatureTables
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import MAX_DISTANCE_M, WEATHER_FIELDS, Flight, Weather
from flightontime_core.prediction import Notice, notice
from flightontime_core.resolve import Resolver, local_minutes, parse_departure

from .one_flight import features_of, resolve_one

STRONG: Any = "strong"  # a word where a number belongs
BASE: dict[str, Any] = {
    "airline": "AA",
    "origin": "JFK",
    "destination": "LAX",
    "departure": "2013-11-10T14:30:00",
}


def flight(**changes: Any) -> Flight:
    return Flight(**{**BASE, **changes})


@pytest.fixture
def resolver(default_tables: FeatureTables) -> Resolver:
    """A fresh resolver (empty memo) over the default model's tables, with weather."""
    return Resolver(default_tables, uses_weather=True)


def ok(resolver: Resolver, f: Flight) -> tuple[resolve.Route, int, float, Any, tuple[Notice, ...]]:
    found = resolve_one(resolver, f)
    assert not isinstance(found, FlightError), found
    return found


def problems_of(resolver: Resolver, f: Flight) -> set[tuple[str, str]]:
    found = resolve_one(resolver, f)
    assert isinstance(found, FlightError), f"{f} was accepted"
    return {(p.field, p.code) for p in found.problems}


# -- codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("airline", "origin", "destination"),
    [
        ("AA", "JFK", "LAX"),
        ("AAL", "KJFK", "KLAX"),
        ("aa", "jfk", "lax"),
        (" aal ", " kjfk", "Klax "),
        ("Aa", "KJFK", "lax"),
    ],
)
def test_iata_and_icao_codes_in_any_case_and_spaces(
    resolver: Resolver, default_tables: FeatureTables, airline: str, origin: str, destination: str
) -> None:
    route, minutes, km, _, notices = ok(
        resolver, flight(airline=airline, origin=origin, destination=destination)
    )
    assert route.origin.icao == "KJFK"
    assert route.destination.icao == "KLAX"
    assert route.airline == airline.strip().upper()
    assert notices == (notice("weather_missing"),)  # a known airline, airports and route
    row = features_of(default_tables, route.airline, "KJFK", "KLAX", minutes, km)
    reference = features_of(default_tables, "AA", "KJFK", "KLAX", minutes, km)
    assert np.array_equal(row, reference, equal_nan=True)


def test_brazilian_codes_resolve(resolver: Resolver) -> None:
    route, _, km, _, _ = ok(
        resolver,
        Flight(airline="AZU", origin="SBKP", destination="rao", departure="2025-11-10T14:30"),
    )
    assert (route.origin.iata, route.destination.icao) == ("VCP", "SBRP")
    assert km == pytest.approx(218_000, rel=0.02)


# -- time --------------------------------------------------------------------------------------


LOCAL_1430 = local_minutes(datetime(2013, 11, 10, 14, 30))


@pytest.mark.parametrize(
    "departure",
    [
        "2013-11-10T14:30:00",
        "2013-11-10T14:30",
        "2013-11-10 14:30:00",
        " 2013-11-10T14:30:59 ",  # seconds dropped, spaces ignored
        datetime(2013, 11, 10, 14, 30),
        "2013-11-10T19:30:00Z",
        "2013-11-10T19:30:00+00:00",
        "2013-11-10T16:30:00-03:00",
        "2013-11-10T20:30:00+01:00",
        datetime(2013, 11, 10, 19, 30, tzinfo=UTC),
        datetime(2013, 11, 11, 9, 30, tzinfo=timezone(timedelta(hours=14))),
    ],
)
def test_departure_becomes_the_origin_local_wall_clock(
    resolver: Resolver, departure: str | datetime
) -> None:
    """Naive times are the origin's local time; an offset converts to it (EST in November)."""
    _, minutes, _, _, notices = ok(resolver, flight(departure=departure))
    assert minutes == LOCAL_1430
    assert notices == (notice("weather_missing"),)


def test_offsets_follow_the_origin_daylight_saving_time(resolver: Resolver) -> None:
    summer = ok(resolver, flight(departure="2013-07-10T18:30:00Z"))[1]
    assert summer == local_minutes(datetime(2013, 7, 10, 14, 30))  # EDT, UTC-4
    # The repeated hour of 3 November 2013: two instants, one wall-clock time.
    first = ok(resolver, flight(departure="2013-11-03T05:30:00+00:00"))[1]
    second = ok(resolver, flight(departure="2013-11-03T06:30:00+00:00"))[1]
    assert first == second == local_minutes(datetime(2013, 11, 3, 1, 30))
    # A naive time in the spring-forward gap is kept as given.
    gap = ok(resolver, flight(departure="2013-03-10T02:30:00"))[1]
    assert gap == local_minutes(datetime(2013, 3, 10, 2, 30))
    # Another origin, another zone: 12:00 UTC is 09:00 in Campinas (no DST in 2025).
    brazil = ok(
        resolver,
        Flight(airline="AD", origin="VCP", destination="RAO", departure="2025-11-10T12:00:00Z"),
    )[1]
    assert brazil == local_minutes(datetime(2025, 11, 10, 9, 0))


def test_local_minutes_drop_seconds() -> None:
    assert local_minutes(datetime(1970, 1, 1, 0, 1, 59)) == 1
    assert local_minutes(datetime(1969, 12, 31, 23, 59)) == -1
    assert local_minutes(datetime(1970, 1, 2)) == 1440


# -- distance ----------------------------------------------------------------------------------


def test_missing_distance_is_the_great_circle(resolver: Resolver) -> None:
    jfk, lax = resolve_airport("JFK"), resolve_airport("LAX")
    assert jfk is not None
    assert lax is not None
    _, _, km, _, _ = ok(resolver, flight())
    assert km == distance_m(jfk, lax)
    assert km == pytest.approx(3_983_000, rel=0.01)
    _, _, given, _, _ = ok(resolver, flight(distance_m=3_900_000))
    assert given == 3_900_000.0
    assert isinstance(given, float)


# -- problems ----------------------------------------------------------------------------------


BAD_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"airline": "A"}, "airline", "invalid_airline_code"),
    ({"airline": "ABCD"}, "airline", "invalid_airline_code"),
    ({"airline": "A-1"}, "airline", "invalid_airline_code"),
    ({"airline": ""}, "airline", "invalid_airline_code"),
    ({"airline": 123}, "airline", "wrong_type"),
    ({"airline": None}, "airline", "wrong_type"),
    ({"airline": ["AA"]}, "airline", "wrong_type"),
    ({"origin": "JF"}, "origin", "invalid_airport_code"),
    ({"origin": "KJFKX"}, "origin", "invalid_airport_code"),
    ({"origin": "J.K"}, "origin", "invalid_airport_code"),
    ({"origin": 7}, "origin", "wrong_type"),
    ({"destination": {"code": "LAX"}}, "destination", "wrong_type"),
    ({"destination": "KJFK"}, "destination", "same_airports"),
    ({"destination": " jfk "}, "destination", "same_airports"),
    ({"departure": "2013-11-10"}, "departure", "departure_needs_time"),
    ({"departure": "2013-13-10"}, "departure", "invalid_departure"),
    ({"departure": "tomorrow"}, "departure", "invalid_departure"),
    ({"departure": "2013-11-10T25:00:00"}, "departure", "invalid_departure"),
    ({"departure": "10/11/2013 14:30"}, "departure", "invalid_departure"),
    ({"departure": ""}, "departure", "invalid_departure"),
    ({"departure": "1949-12-31T23:59:00"}, "departure", "departure_out_of_range"),
    ({"departure": "2101-01-01T00:00:00"}, "departure", "departure_out_of_range"),
    ({"departure": datetime(1900, 1, 1, 12, 0)}, "departure", "departure_out_of_range"),
    ({"departure": 1_384_000_000}, "departure", "wrong_type"),
    ({"distance_m": 0}, "distance_m", "not_positive"),
    ({"distance_m": -5.0}, "distance_m", "not_positive"),
    ({"distance_m": MAX_DISTANCE_M + 1}, "distance_m", "not_positive"),
    ({"distance_m": math.nan}, "distance_m", "not_finite"),
    ({"distance_m": math.inf}, "distance_m", "not_finite"),
    ({"distance_m": "218000"}, "distance_m", "wrong_type"),
    ({"distance_m": True}, "distance_m", "wrong_type"),
    ({"distance_km": 0}, "distance_km", "not_positive"),
    ({"distance_km": MAX_DISTANCE_M / 1000 + 1}, "distance_km", "not_positive"),
    ({"distance_km": math.nan}, "distance_km", "not_finite"),
    ({"distance_km": "218"}, "distance_km", "wrong_type"),
    ({"weather": Weather(humidity_pct=150.0)}, "weather.humidity_pct", "out_of_range"),
    ({"weather": Weather(pressure_hpa=29.9)}, "weather.pressure_hpa", "out_of_range"),
    ({"weather": Weather(wind_kmh=-1.0)}, "weather.wind_kmh", "out_of_range"),
    ({"weather": Weather(temperature_c=math.nan)}, "weather.temperature_c", "not_finite"),
    ({"weather": Weather(visibility_km=math.inf)}, "weather.visibility_km", "not_finite"),
    ({"weather": Weather(gust_kmh=STRONG)}, "weather.gust_kmh", "wrong_type"),
    ({"weather": Weather(dew_point_c=True)}, "weather.dew_point_c", "wrong_type"),
]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [pytest.param(*case, id=f"{case[2]}:{next(iter(case[0].values()))!r}") for case in BAD_FIELDS],
)
def test_each_bad_field_gets_its_own_problem(
    resolver: Resolver, changes: dict[str, Any], field: str, code: str
) -> None:
    found = resolve_one(resolver, flight(**changes))
    assert isinstance(found, FlightError)
    assert [(p.field, p.code) for p in found.problems] == [(field, code)]
    problem = found.problems[0]
    assert problem.text("en") != problem.code  # it has words
    assert field in str(found)


def test_problems_carry_their_parameters(resolver: Resolver) -> None:
    def only(f: Flight) -> Problem:
        found = resolve_one(resolver, f)
        assert isinstance(found, FlightError)
        (problem,) = found.problems
        return problem

    assert only(flight(destination="KJFK")).params == (("icao", "KJFK"),)
    assert dict(only(flight(weather=Weather(humidity_pct=101.0))).params) == {
        "min": 0.0,
        "max": 100.0,
    }
    assert dict(only(flight(departure="1900-01-01T10:00")).params) == {"min": 1950, "max": 2100}
    assert dict(only(flight(distance_m=-1.0)).params) == {"max": MAX_DISTANCE_M}


def test_weather_on_its_bounds_is_accepted(resolver: Resolver) -> None:
    from flightontime_core.flights import WEATHER_BOUNDS

    low = Weather(**{name: WEATHER_BOUNDS[name][0] for name in WEATHER_FIELDS})
    high = Weather(**{name: WEATHER_BOUNDS[name][1] for name in WEATHER_FIELDS})
    for weather in (low, high):
        _, _, _, row, _ = ok(resolver, flight(weather=weather))
        assert row == weather.values()
    _, _, _, row, _ = ok(resolver, flight(weather=Weather(wind_kmh=20)))  # an int is a number
    assert row is not None
    assert row[WEATHER_FIELDS.index("wind_kmh")] == 20.0
    assert sum(not math.isnan(v) for v in row) == 1


def test_every_problem_of_a_flight_is_reported_together(resolver: Resolver) -> None:
    bad = Flight(
        airline="A",
        origin="KJFK",
        destination="LA",
        departure="2013-11-10",
        distance_m=-3.0,
        weather=Weather(humidity_pct=150.0, temperature_c=math.nan, wind_kmh=10.0),
    )
    assert problems_of(resolver, bad) == {
        ("airline", "invalid_airline_code"),
        ("destination", "invalid_airport_code"),
        ("departure", "departure_needs_time"),
        ("distance_m", "not_positive"),
        ("weather.temperature_c", "not_finite"),
        ("weather.humidity_pct", "out_of_range"),
    }
    # The same flight again (memoised route): the same problems.
    assert problems_of(resolver, bad) == problems_of(Resolver(resolver.tables, True), bad)


def test_parse_departure() -> None:
    assert parse_departure("2013-11-10T14:30:00") == datetime(2013, 11, 10, 14, 30)
    aware = parse_departure("2013-11-10T14:30:00+02:00")
    assert isinstance(aware, datetime)
    assert aware.utcoffset() == timedelta(hours=2)
    assert isinstance(parse_departure("2013-11-10"), Problem)


# -- notices -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"airline": "zz"}, [notice("unknown_airline", airline="ZZ")]),
        ({"airline": "AZU"}, [notice("unknown_airline", airline="AZU")]),
        ({"destination": "GRU"}, [notice("unknown_airport", airports="SBGR")]),
        (
            {"origin": "EGLL", "destination": "SBGR"},
            [notice("unknown_airports", airports="EGLL, SBGR")],
        ),
        ({"origin": "LGA"}, [notice("unseen_route", route="KLGA-KLAX")]),
        (
            {"airline": "AZU", "origin": "LAX", "destination": "JFK"},
            [notice("unknown_airline", airline="AZU"), notice("unseen_route", route="KLAX-KJFK")],
        ),
    ],
)
def test_notices_say_what_the_model_never_saw(
    resolver: Resolver, changes: dict[str, Any], expected: list[Notice]
) -> None:
    *_, notices = ok(resolver, flight(**changes))
    assert list(notices) == [*expected, notice("weather_missing")]
    with_weather = ok(resolver, flight(**changes, weather=Weather(wind_kmh=10.0)))[-1]
    assert list(with_weather) == expected


def test_weather_notices(default_tables: FeatureTables) -> None:
    with_weather = Resolver(default_tables, uses_weather=True)
    without = Resolver(default_tables, uses_weather=False)
    storm = Weather(wind_kmh=60.0, visibility_km=0.5)
    assert ok(with_weather, flight())[-1] == (notice("weather_missing"),)
    assert ok(with_weather, flight(weather=Weather()))[-1] == (notice("weather_missing"),)
    assert ok(with_weather, flight(weather=storm))[-1] == ()
    assert ok(with_weather, flight(weather=storm))[3] is not None
    # A model trained without weather ignores it, and says so.
    _, _, _, row, notices = ok(without, flight(weather=storm))
    assert row is None
    assert notices == (notice("weather_ignored"),)
    assert ok(without, flight())[-1] == ()
    assert ok(without, flight(departure="2013-11-10T19:30:00Z"))[-1] == ()


def test_unknown_time_zone_keeps_the_clock_time(
    default_tables: FeatureTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = resolve_airport

    def without_zone(code: str) -> Any:
        found = real(code)
        if found is not None and found.icao == "KJFK":
            return dataclasses.replace(found, tz="Nowhere/Atlantis")
        return found

    monkeypatch.setattr("flightontime_core.resolve.resolve_airport", without_zone)
    resolver = Resolver(default_tables, uses_weather=True)
    _, minutes, _, _, notices = ok(resolver, flight(departure="2013-11-10T14:30:00+05:00"))
    assert minutes == LOCAL_1430  # the given clock time, its offset dropped
    assert notices == (notice("unknown_timezone", airport="KJFK"), notice("weather_missing"))
    # A naive time needs no zone: no notice.
    assert ok(resolver, flight())[-1] == (notice("weather_missing"),)


# -- batches -----------------------------------------------------------------------------------


def test_a_table_gives_the_columns_of_each_flight_and_errors_in_place(
    resolver: Resolver, default_tables: FeatureTables
) -> None:
    flights: list[Flight | FlightError | None] = [
        flight(),
        flight(airline="A"),
        flight(weather=Weather(temperature_c=-3.5)),
        None,
        FlightError([Problem("flight", "required")]),
        flight(origin="LGA", destination="ORD", departure="2013-12-24T07:05:00-05:00"),
        flight(distance_m=218),  # replaced by the great circle: a notice of its own
    ]
    resolved = resolver.table(FlightTable.from_flights(flights))
    assert resolved.n == len(flights)
    assert resolved.rows.tolist() == [0, 2, 5, 6]
    assert sorted(resolved.errors) == [1, 3, 4]
    assert resolved.errors[4].problems == (Problem("flight", "required"),)
    assert [(p.field, p.code) for p in resolved.errors[3].problems] == [("flight", "wrong_type")]
    assert [(p.field, p.code) for p in resolved.errors[1].problems] == [
        ("airline", "invalid_airline_code")
    ]
    assert resolved.route.shape == resolved.minutes.shape == resolved.distance_m.shape == (4,)
    assert resolved.weather is not None
    assert resolved.weather.shape == (4, len(WEATHER_FIELDS))
    triples = [(r.airline, r.origin.icao, r.destination.icao) for r in resolved.routes]
    assert len(triples) == len(set(triples)) == 2  # each distinct route once
    from flightontime_core.features import assemble_features, route_features

    x = assemble_features(
        default_tables,
        route_features(default_tables, triples),
        resolved.route,
        resolved.minutes,
        resolved.distance_m,
        resolved.weather,
    )
    for k, i in enumerate(resolved.rows.tolist()):
        one = flights[i]
        assert isinstance(one, Flight)
        route, minutes, km, weather, notices = ok(resolver, one)
        assert resolved.routes[resolved.route[k]] == route
        assert (int(resolved.minutes[k]), float(resolved.distance_m[k])) == (minutes, km)
        row = features_of(
            default_tables,
            route.airline,
            route.origin.icao,
            route.destination.icao,
            minutes,
            km,
            weather,
        )
        assert np.array_equal(row, x[k], equal_nan=True)
        assert resolved.notices[resolved.notice_index[k]] == notices
    assert resolved.notices[resolved.notice_index[3]][-1].code == "distance_replaced"
    empty = resolver.table(FlightTable.from_flights([]))
    assert empty.n == 0
    assert empty.rows.size == 0
    assert empty.errors == {}
    assert empty.route.size == empty.minutes.size == empty.distance_m.size == 0


def test_memo_is_bounded(default_tables: FeatureTables) -> None:
    resolver = Resolver(default_tables, uses_weather=True, max_cached=4)
    for code in ("AA", "DL", "UA", "B6", "WN", "ZZ", "9E"):
        ok(resolver, flight(airline=code))
    assert len(resolver._routes) <= 4
    assert ok(resolver, flight(airline="AA"))[0].airline == "AA"
