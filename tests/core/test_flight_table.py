"""FlightTable: flights as columns, from `Flight`s or from an Arrow table of contract-named
columns; what each reads, what each refuses, and that both give the same answers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flightontime_core import Flight, FlightError, Model, Weather
from flightontime_core.contract import EXAMPLE_REQUEST, flight_from_json
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.scoring import contract_columns
from flightontime_core.training.evaluate import flights_of

if TYPE_CHECKING:
    from flightontime_core.training.sources.table import LoadResult

BASE: dict[str, Any] = {
    "companhia": "AA",
    "origem": "JFK",
    "destino": "LAX",
    "data_partida": "2013-11-10T14:30:00",
}


def rows(*changes: dict[str, Any], **columns: pa.DataType) -> pa.Table:
    """A table of BASE rows with `changes`, typed as `columns` says (text by default)."""
    records = [{**BASE, **c} for c in changes]
    names = list(dict.fromkeys(k for r in records for k in r))
    return pa.table(
        {n: pa.array([r.get(n) for r in records], type=columns.get(n, pa.string())) for n in names}
    )


def codes(error: FlightError | Any) -> list[tuple[str, str]]:
    assert isinstance(error, FlightError), error
    return [(p.field, p.code) for p in error.problems]


@pytest.fixture(scope="module")
def departures(nycflights13_full: LoadResult) -> pd.DataFrame:
    """600 real departures of the test window (Nov-Dec 2013), weather on about half."""
    df = nycflights13_full.flights
    test = df[(df["scheduled_departure"] >= "2013-11-01") & ~df["cancelled"]]
    out = test.sample(n=600, random_state=7).sort_values("scheduled_departure").copy()
    out.loc[out.index[::2], list(WEATHER_FIELDS)] = np.nan  # as most requests come
    return out.reset_index(drop=True)


def test_from_arrow_answers_what_predict_many_answers_on_real_rows(
    default_model: Model, departures: pd.DataFrame
) -> None:
    table = FlightTable.from_arrow(contract_columns(departures))
    assert len(table) == len(departures)
    assert not table.refused
    assert not table.problems
    assert table.weather is not None
    assert table.weather.shape == (len(departures), len(WEATHER_FIELDS))
    expected = default_model.predict_many(flights_of(departures, with_weather=True))
    assert all(not isinstance(a, FlightError) for a in expected)
    assert default_model.predict_table(table).predictions() == expected
    # The same flights as Flights make the same features.
    from_flights = FlightTable.from_flights(flights_of(departures, with_weather=True))
    assert np.array_equal(
        default_model.features(table), default_model.features(from_flights), equal_nan=True
    )


def test_routes_and_departures_are_dictionary_encoded(departures: pd.DataFrame) -> None:
    table = FlightTable.from_arrow(contract_columns(departures))
    triples = list(
        zip(departures["airline"], departures["origin"], departures["destination"], strict=True)
    )
    assert [table.routes.values[k] for k in table.routes.index.tolist()] == triples
    assert len(table.routes.values) == len(set(triples)) < len(triples)
    texts = departures["scheduled_departure"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    assert [table.departures.values[k] for k in table.departures.index.tolist()] == texts
    assert table.distance_m is not None
    assert table.distance_m.tolist() == departures["distance_m"].tolist()
    assert table.distance_km is None  # no such column


@pytest.mark.parametrize("blank", ["", "   ", None])
@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("companhia", "airline"),
        ("origem", "origin"),
        ("destino", "destination"),
        ("data_partida", "departure"),
    ],
)
def test_blank_required_cells_are_refused_as_required(
    default_model: Model, column: str, field: str, blank: str | None
) -> None:
    table = FlightTable.from_arrow(rows({}, {column: blank}, {}))
    assert sorted(table.refused) == [1]
    assert codes(table.refused[1]) == [(field, "required")]
    answers = default_model.predict_table(table).predictions()
    assert codes(answers[1]) == [(field, "required")]
    assert answers[0] == answers[2] == default_model.predict(Flight(**_flight(BASE)))


def test_a_row_blank_everywhere_names_each_required_field(default_model: Model) -> None:
    empty = {"companhia": None, "origem": " ", "destino": "", "data_partida": None}
    table = FlightTable.from_arrow(rows(empty, {"distancia_m": "abc"}))
    assert codes(table.refused[0]) == [
        ("airline", "required"),
        ("origin", "required"),
        ("destination", "required"),
        ("departure", "required"),
    ]
    # A row refused for its required values is not also charged with its numbers' problems.
    assert 0 not in table.problems
    assert codes(default_model.predict_table(table).answer(1)) == [("distance_m", "wrong_type")]


def test_a_missing_required_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="data_partida"):
        FlightTable.from_arrow(rows({}).drop_columns(["data_partida"]))


def _flight(record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "airline": record["companhia"],
        "origin": record["origem"],
        "destination": record["destino"],
        "departure": record["data_partida"],
        **extra,
    }


def test_numeric_text_columns_are_parsed_or_refused_as_wrong_type(default_model: Model) -> None:
    """CSV-style cells: numbers as text (spaces around allowed), blank as not given, anything
    else refused as the problem of the field it is in."""
    metres = ["3983000", " 3983000.5 ", "", "  ", None, "abc", "1e6x"]
    wind = ["20", "", "abc", " 12.5", None, "7", "x1"]
    table = FlightTable.from_arrow(
        rows(*({"distancia_m": m, "vento_kmh": w} for m, w in zip(metres, wind, strict=True)))
    )
    assert table.distance_m is not None
    assert table.distance_m[:2].tolist() == [3_983_000.0, 3_983_000.5]
    assert np.isnan(table.distance_m[2:]).all()
    assert table.weather is not None
    read = table.weather[:, WEATHER_FIELDS.index("wind_kmh")].tolist()
    assert [None if math.isnan(v) else v for v in read] == [20.0, None, None, 12.5, None, 7.0, None]
    others = np.delete(table.weather, WEATHER_FIELDS.index("wind_kmh"), axis=1)
    assert np.isnan(others).all()
    assert not table.refused
    found = {i: [(p.field, p.code) for p in ps] for i, ps in table.problems.items()}
    assert found == {
        2: [("weather.wind_kmh", "wrong_type")],
        5: [("distance_m", "wrong_type")],
        6: [("distance_m", "wrong_type"), ("weather.wind_kmh", "wrong_type")],
    }
    answers = default_model.predict_table(table).predictions()
    for i, expected in found.items():
        assert codes(answers[i]) == expected
    assert answers[0] == default_model.predict(
        Flight(**_flight(BASE, distance_m=3_983_000, weather=Weather(wind_kmh=20)))
    )
    assert answers[3] == default_model.predict(
        Flight(**_flight(BASE, weather=Weather(wind_kmh=12.5)))
    )
    assert answers[4] == default_model.predict(Flight(**_flight(BASE)))


def test_numeric_columns_of_numbers_are_read_as_float64_with_nulls_not_given() -> None:
    table = FlightTable.from_arrow(
        rows(
            {"distancia_km": 3983, "umidade_pct": 55.5},
            {"distancia_km": None, "umidade_pct": None},
            distancia_km=pa.int64(),
            umidade_pct=pa.float32(),
        )
    )
    assert table.distance_m is None
    assert table.distance_km is not None
    assert table.distance_km.dtype == np.float64
    assert table.distance_km[0] == 3983.0
    assert np.isnan(table.distance_km[1])
    assert table.weather is not None
    assert table.weather[0, WEATHER_FIELDS.index("humidity_pct")] == 55.5
    assert np.isnan(table.weather[1]).all()
    # A weather column with nothing in it is no weather at all.
    assert FlightTable.from_arrow(rows({"umidade_pct": None})).weather is None


OFFSETS = [
    "2013-11-10T14:30:00",
    "2013-11-10T19:30:00Z",
    "2013-11-10T16:30:00-03:00",
    " 2013-11-10T20:30:00+01:00 ",
    "2013-11-10T14:30:59",
]


def test_departures_with_offsets_are_the_origin_local_time(default_model: Model) -> None:
    table = FlightTable.from_arrow(rows(*({"data_partida": d} for d in OFFSETS)))
    assert [table.departures.values[k] for k in table.departures.index.tolist()] == OFFSETS
    resolved = default_model.resolver.table(table)
    assert resolved.rows.tolist() == list(range(len(OFFSETS)))
    assert len(set(resolved.minutes.tolist())) == 1  # 14:30 in New York, each way
    answers = default_model.predict_table(table).predictions()
    alone = default_model.predict(Flight(**_flight(BASE)))
    assert answers == [alone] * len(OFFSETS)
    as_flights = [Flight(**_flight({**BASE, "data_partida": d})) for d in OFFSETS]
    assert default_model.predict_many(as_flights) == answers
    bad = FlightTable.from_arrow(rows({"data_partida": "2013-11-10"}, {"data_partida": "soon"}))
    out = default_model.predict_table(bad).predictions()
    assert [codes(a) for a in out] == [
        [("departure", "departure_needs_time")],
        [("departure", "invalid_departure")],
    ]


def test_take_renumbers_rows_refusals_and_problems(
    default_model: Model, departures: pd.DataFrame
) -> None:
    flights: list[Flight | FlightError] = list(flights_of(departures.head(6), with_weather=True))
    flights[1] = FlightError([])
    flights[4] = Flight(**_flight(BASE, distance_m="far"))
    table = FlightTable.from_flights(flights)
    assert sorted(table.refused) == [1]
    assert sorted(table.problems) == [4]
    picked = np.array([4, 0, 1, 5])
    part = table.take(picked)
    assert len(part) == 4
    assert sorted(part.refused) == [2]
    assert sorted(part.problems) == [0]
    assert [part.routes.values[k] for k in part.routes.index.tolist()] == [
        table.routes.values[k] for k in table.routes.index[picked].tolist()
    ]
    assert [part.departures.values[k] for k in part.departures.index.tolist()] == [
        table.departures.values[k] for k in table.departures.index[picked].tolist()
    ]
    # Only the values the rows use are kept.
    assert len(part.routes.values) == len(set(table.routes.index[picked].tolist()))
    assert part.weather is not None
    assert table.weather is not None
    assert np.array_equal(part.weather, table.weather[picked], equal_nan=True)
    whole = default_model.predict_table(table).predictions()
    assert default_model.predict_table(part).predictions() == [whole[i] for i in picked.tolist()]


def _columns(table: FlightTable) -> tuple[object, ...]:
    """What a table holds, comparable: each row's route and departure, distances, weather."""
    routes = [table.routes.values[i] for i in table.routes.index.tolist()]
    departures = [table.departures.values[i] for i in table.departures.index.tolist()]
    numbers = [
        None if a is None else [None if math.isnan(v) else v for v in a.ravel().tolist()]
        for a in (table.distance_m, table.distance_km, table.weather)
    ]
    return routes, departures, numbers, table.refused, table.problems


def test_a_well_typed_batch_decodes_into_the_table_its_flights_make() -> None:
    items = [
        EXAMPLE_REQUEST,
        {**EXAMPLE_REQUEST, "companhia": "GLO", "distancia_m": None},
        {"companhia": "AA", "origem": "JFK", "destino": "LAX", "data_partida": "2013-11-10T14:30"},
        {**EXAMPLE_REQUEST, "distancia_km": 218, "extra": [1, 2], "clima": None},
        {**EXAMPLE_REQUEST, "companhia": "", "data_partida": "not a date"},  # the resolver's
    ]
    table = FlightTable.from_json_batch(msgspec.json.encode({"voos": items}))
    assert table is not None
    expected = FlightTable.from_flights([flight_from_json(i) for i in items])
    assert _columns(table) == _columns(expected)
    assert table.distance_m is not None
    assert math.isnan(table.distance_m[1])


@pytest.mark.parametrize(
    "change",
    [
        {"distancia_m": True},  # a boolean is no number
        {"distancia_m": "218000"},
        {"companhia": None},
        {"origem": 7},
        {"clima": {"vento_kmh": 10.0}},  # weather goes one flight at a time
        {"clima": {"vento": 3}},
    ],
)
def test_a_batch_with_any_other_flight_is_read_one_flight_at_a_time(
    change: dict[str, Any],
) -> None:
    items = [EXAMPLE_REQUEST, {**EXAMPLE_REQUEST, **change}]
    assert FlightTable.from_json_batch(msgspec.json.encode({"voos": items})) is None


@pytest.mark.parametrize(
    "body", [b"", b"[1]", b'{"voos": 3}', b"{}", b'{"voos": [{"companhia": NaN}]}']
)
def test_a_body_that_is_not_a_typed_batch_is_left_to_the_reader(body: bytes) -> None:
    assert FlightTable.from_json_batch(body) is None
