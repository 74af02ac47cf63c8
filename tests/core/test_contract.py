"""The contract's names (Portuguese, as the Java backend sends them) and the answer's shape."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

from flightontime_core.contract import (
    ANSWER_FIELDS,
    EXAMPLE_REQUEST,
    FLIGHT_FIELDS,
    REQUIRED_FIELDS,
    STATUS,
    WEATHER_NAMES,
    answers,
    contract_field,
    flight_from_json,
    flight_from_record,
    problems,
    round4,
)
from flightontime_core.errors import FlightError
from flightontime_core.explain import GROUP_NAMES, SMALL_SLOTS
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import WEATHER_FIELDS, Flight, Weather
from flightontime_core.model import Model
from flightontime_core.prediction import notice
from flightontime_core.prediction_table import PredictionTable


def codes(error: Flight | FlightError) -> set[tuple[str, str]]:
    assert isinstance(error, FlightError), error
    return {(p.field, p.code) for p in error.problems}


# -- names -----------------------------------------------------------------------------------


def test_field_names_map_both_ways() -> None:
    assert FLIGHT_FIELDS == {
        "companhia": "airline",
        "origem": "origin",
        "destino": "destination",
        "data_partida": "departure",
        "distancia_m": "distance_m",
        "distancia_km": "distance_km",
        "clima": "weather",
    }
    for name, library in FLIGHT_FIELDS.items():
        assert contract_field(library) == name
    assert set(FLIGHT_FIELDS.values()) == set(Flight.__struct_fields__)
    assert tuple(WEATHER_NAMES.values()) == WEATHER_FIELDS
    for name, library in WEATHER_NAMES.items():
        assert contract_field(f"weather.{library}") == f"clima.{name}"
    assert contract_field("weather.vento_rajada") == "clima.vento_rajada"  # unknown: as sent
    assert contract_field("flight") == "flight"
    assert set(REQUIRED_FIELDS) == {"companhia", "origem", "destino", "data_partida"}


def test_every_weather_field_arrives_under_its_contract_name() -> None:
    clima = {name: float(k + 1) for k, name in enumerate(WEATHER_NAMES)}
    found = flight_from_json({**EXAMPLE_REQUEST, "clima": clima})
    assert isinstance(found, Flight)
    assert found.weather is not None
    for k, (_name, library) in enumerate(WEATHER_NAMES.items()):
        assert getattr(found.weather, library) == float(k + 1)


def test_problems_speak_the_contract_names(default_model: Model) -> None:
    bad = {
        **EXAMPLE_REQUEST,
        "data_partida": "2025-11-10",
        "distancia_m": -1,
        "clima": {"umidade_pct": 140},
    }
    flight = flight_from_json(bad)
    assert isinstance(flight, Flight)
    with pytest.raises(FlightError) as info:
        default_model.predict(flight)
    pt = problems(info.value, "pt")
    assert {(field, code) for field, _, code in pt} == {
        ("data_partida", "departure_needs_time"),
        ("distancia_m", "not_positive"),
        ("clima.umidade_pct", "out_of_range"),
    }
    en = problems(info.value, "en")
    assert [f for f, _, _ in en] == [f for f, _, _ in pt]
    assert all(a != b for (_, a, _), (_, b, _) in zip(en, pt, strict=True))
    assert problems(info.value)[0][1] == pt[0][1]  # Portuguese by default


# -- the answer ----------------------------------------------------------------------------------


def _is_4_decimals(value: float) -> bool:
    return abs(value * 10_000 - round(value * 10_000)) < 1e-6


def _alone(model: Model, flight: Flight, language: str = "pt") -> Any:
    """The contract's answer of one flight predicted alone."""
    return answers(model.predict_table(FlightTable.from_flights([flight])), language)[0]


def test_answer_has_the_contract_shape(default_model: Model) -> None:
    flight = flight_from_json(EXAMPLE_REQUEST)
    assert isinstance(flight, Flight)
    prediction = default_model.predict(flight)
    for language in ("pt", "en"):
        out = _alone(default_model, flight, language)
        assert tuple(out) == ANSWER_FIELDS
        assert len(ANSWER_FIELDS) == 9
        assert out["previsao"] == (1 if prediction.delayed else 0)
        assert out["previsao"] in (0, 1)
        assert out["status"] == STATUS[language][prediction.delayed]
        assert out["limiar_decisao"] == prediction.decision_threshold
        assert out["versao_modelo"] == default_model.version
        assert set(out["probabilidades"]) == {str(t) for t in default_model.thresholds}
        numbers = [out["probabilidade"], *out["probabilidades"].values()]
        if prediction.cancellation is not None:
            numbers.append(out["probabilidade_cancelamento"])
            assert out["probabilidade_cancelamento"] == pytest.approx(
                prediction.cancellation, abs=5e-5
            )
        assert all(_is_4_decimals(v) and 0.0 <= v <= 1.0 for v in numbers)
        assert out["probabilidade"] == pytest.approx(prediction.probability, abs=5e-5)
        for key, value in prediction.probabilities.items():
            assert out["probabilidades"][str(key)] == pytest.approx(value, abs=5e-5)
        assert out["fatores"] == [f.text(language) for f in prediction.factors]
        assert out["avisos"] == [n.text(language) for n in prediction.warnings]
        # AZU, Campinas and Ribeirão Preto are unknown to a model trained in New York.
        assert out["avisos"]
        msgspec.json.encode(out)  # plain JSON types only
    pt, en = _alone(default_model, flight, "pt"), _alone(default_model, flight, "en")
    assert pt["avisos"] != en["avisos"]
    assert pt["fatores"] != en["fatores"] or not prediction.factors
    table = default_model.predict_table(FlightTable.from_flights([flight]))
    assert answers(table) == [pt]  # the contract speaks Portuguese by default


def test_batch_answers_equal_one_answer_each(default_model: Model) -> None:
    flights = [
        Flight(airline="UA", origin="EWR", destination="ORD", departure=f"2013-12-{d}T18:45")
        for d in range(10, 30)
    ]
    flights += [
        Flight(airline="ZZ", origin="JFK", destination="SBGR", departure="2013-12-01T22:00")
    ]
    flights += [flights[0], flights[-1]]  # repeats share their texts
    flights += [Flight(airline="UA", origin="EWR", destination="EWR", departure="2013-12-01")]
    table = default_model.predict_table(FlightTable.from_flights(flights))
    for language in ("pt", "en"):
        batch = answers(table, language)
        assert batch[:-1] == [_alone(default_model, f, language) for f in flights[:-1]]
        assert isinstance(batch[-1], FlightError)  # refused in its place
    assert answers(default_model.predict_table(FlightTable.from_flights([]))) == []


def _table(delayed: bool, cancellation: float = math.nan) -> PredictionTable:
    """The answers (as columns) of one flight, made up."""
    return PredictionTable(
        n=1,
        thresholds=(15, 30, 60),
        rows=np.array([0]),
        probabilities=np.array([[0.123456, 0.05557, 0.00004999]]),
        cancellation=np.array([cancellation]),
        decision_threshold=np.array([0.1 if delayed else 0.2732]),
        version=np.array([0]),
        versions=["m-0123456789abcdef"],
        factor_group=np.array([[GROUP_NAMES.index("weekday"), -1, -1]]),
        factor_weight=np.array([[0.2, 0.0, 0.0]]),
        factor_key=np.array([[0, -1, -1]]),
        factor_params=[(("weekday", 4),)],
        notice_index=np.array([0]),
        notices=[(notice("weather_missing"),)],
        errors={},
    )


def test_status_and_prediction_follow_delayed() -> None:
    assert answers(_table(True), "pt")[0]["status"] == "Atrasado"  # type: ignore[index]
    assert answers(_table(False), "pt")[0]["status"] == "Pontual"  # type: ignore[index]
    assert answers(_table(True), "en")[0]["status"] == "Delayed"  # type: ignore[index]
    assert answers(_table(False), "en")[0]["status"] == "On time"  # type: ignore[index]
    assert answers(_table(True))[0]["previsao"] == 1  # type: ignore[index]
    assert answers(_table(False))[0]["previsao"] == 0  # type: ignore[index]


def test_answer_rounds_to_four_decimals_and_keeps_none() -> None:
    (out,) = answers(_table(False))
    assert isinstance(out, dict)
    assert out["probabilidade"] == 0.1235
    assert out["probabilidades"] == {"15": 0.1235, "30": 0.0556, "60": 0.0}
    assert out["probabilidade_cancelamento"] is None
    (cancelled,) = answers(_table(False, cancellation=0.98767))
    assert isinstance(cancelled, dict)
    assert cancelled["probabilidade_cancelamento"] == 0.9877
    assert out["fatores"] == ["Partida na sexta-feira aumenta o risco de atraso"]
    assert out["avisos"] == ["clima não informado: previsão só pelo horário, menos precisa"]
    assert round4(0.99996) == 1.0
    assert round4(0.0) == 0.0


def test_a_big_table_keeps_each_flight_its_own_factors() -> None:
    """Beyond SMALL_SLOTS factor slots the sentences are gathered at once and the flights with
    fewer than three factors mended: each answer is the one its row gives alone."""
    one = _table(False)
    three = PredictionTable(
        **{
            **one.__dict__,
            "factor_group": np.array(
                [[GROUP_NAMES.index(g) for g in ("weekday", "time", "distance")]]
            ),
            "factor_weight": np.array([[0.2, -0.1, 0.05]]),
            "factor_key": np.array([[0, 1, 2]]),
            "factor_params": [
                (("weekday", 4),),
                (("hour", 18), ("minute", 5)),
                (("km", 712.5),),
            ],
        }
    )
    rows = [one, three, three, one] * 5
    big = PredictionTable.combine(len(rows), [(np.array([i]), t) for i, t in enumerate(rows)])
    assert big.factor_key.size > SMALL_SLOTS
    for language in ("pt", "en"):
        assert answers(big, language) == [answers(t, language)[0] for t in rows]
        assert [len(a["fatores"]) for a in answers(big, language)] == [1, 3, 3, 1] * 5  # type: ignore[index]


# -- decoding --------------------------------------------------------------------------------


def test_flight_from_json_of_the_backend_example() -> None:
    found = flight_from_json(EXAMPLE_REQUEST)
    assert found == Flight(
        airline="AZU",
        origin="SBKP",
        destination="SBRP",
        departure="2025-11-10T14:30:00",
        distance_m=218000.0,
    )
    assert isinstance(found, Flight)
    assert isinstance(found.distance_m, float)
    # Fields beyond the contract are ignored, as the backend has always been allowed to send.
    assert flight_from_json({**EXAMPLE_REQUEST, "id_voo": 77, "extra": {"x": 1}}) == found
    # distancia_m and clima are optional; null is the same as absent.
    plain = {k: v for k, v in EXAMPLE_REQUEST.items() if k != "distancia_m"}
    assert flight_from_json(plain) == msgspec.structs.replace(found, distance_m=None)
    assert flight_from_json({**plain, "distancia_m": None, "clima": None}) == flight_from_json(
        plain
    )
    with_nulls = flight_from_json({**plain, "clima": {"vento_kmh": None, "umidade_pct": 80}})
    assert isinstance(with_nulls, Flight)
    assert with_nulls.weather == Weather(humidity_pct=80.0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([EXAMPLE_REQUEST], {("flight", "wrong_type")}),
        ("AZU SBKP SBRP", {("flight", "wrong_type")}),
        (None, {("flight", "wrong_type")}),
        ({}, {(f, "required") for f in ("airline", "origin", "destination", "departure")}),
        ({**EXAMPLE_REQUEST, "companhia": None}, {("airline", "required")}),
        ({**EXAMPLE_REQUEST, "companhia": 42}, {("airline", "wrong_type")}),
        ({**EXAMPLE_REQUEST, "origem": ["SBKP"]}, {("origin", "wrong_type")}),
        ({**EXAMPLE_REQUEST, "data_partida": 20251110}, {("departure", "wrong_type")}),
        ({**EXAMPLE_REQUEST, "distancia_m": "218000"}, {("distance_m", "wrong_type")}),
        ({**EXAMPLE_REQUEST, "distancia_m": True}, {("distance_m", "wrong_type")}),
        ({**EXAMPLE_REQUEST, "clima": [1, 2]}, {("weather", "wrong_type")}),
        ({**EXAMPLE_REQUEST, "clima": {"neve_cm": 3}}, {("weather.neve_cm", "unknown_field")}),
        (
            {**EXAMPLE_REQUEST, "clima": {"vento_kmh": "forte"}},
            {("weather.wind_kmh", "wrong_type")},
        ),
        (
            {**EXAMPLE_REQUEST, "clima": {"umidade_pct": False}},
            {("weather.humidity_pct", "wrong_type")},
        ),
    ],
)
def test_flight_from_json_problems(data: Any, expected: set[tuple[str, str]]) -> None:
    assert codes(flight_from_json(data)) == expected


def test_flight_from_json_reports_every_problem_together() -> None:
    data = {
        "companhia": 1,
        "destino": "SBRP",
        "data_partida": None,
        "distancia_m": "far",
        "clima": {"neve_cm": 3, "vento_kmh": "forte", "umidade_pct": 50},
    }
    error = flight_from_json(data)
    assert codes(error) == {
        ("airline", "wrong_type"),
        ("origin", "required"),
        ("departure", "required"),
        ("distance_m", "wrong_type"),
        ("weather.neve_cm", "unknown_field"),
        ("weather.wind_kmh", "wrong_type"),
    }
    assert isinstance(error, FlightError)
    fields = {field for field, _, _ in problems(error)}
    assert fields == {
        "companhia",
        "origem",
        "data_partida",
        "distancia_m",
        "clima.neve_cm",
        "clima.vento_kmh",
    }


def test_flight_from_record_of_a_table_row() -> None:
    record = {
        "companhia": "AA",
        "origem": "JFK",
        "destino": "LAX",
        "data_partida": pd.Timestamp("2013-11-10 14:30"),
        "distancia_m": np.float64(3_983_000.0),
        "temperatura_c": 4.5,
        "umidade_pct": math.nan,
        "vento_kmh": None,
        "visibilidade_km": "",
        "pressao_hpa": np.float64(1012.0),
    }
    found = flight_from_record(record)
    assert isinstance(found, Flight)
    assert found.airline == "AA"
    assert found.departure == datetime(2013, 11, 10, 14, 30)
    assert found.distance_m == 3_983_000.0
    assert found.weather == Weather(temperature_c=4.5, pressure_hpa=1012.0)
    # Text departures stay text (the resolver parses them); blank distance and weather: none.
    text = flight_from_record(
        {
            "companhia": "AA",
            "origem": "JFK",
            "destino": "LAX",
            "data_partida": "2013-11-10T14:30:00",
            "distancia_m": math.nan,
            "temperatura_c": "",
        }
    )
    assert text == Flight(
        airline="AA", origin="JFK", destination="LAX", departure="2013-11-10T14:30:00"
    )


@pytest.mark.parametrize("blank", [None, "", math.nan])
def test_flight_from_record_names_every_blank_required_field(blank: Any) -> None:
    record = {"companhia": blank, "origem": "JFK", "destino": blank, "data_partida": blank}
    assert codes(flight_from_record(record)) == {
        ("airline", "required"),
        ("destination", "required"),
        ("departure", "required"),
    }
    assert codes(flight_from_record({})) == {
        (f, "required") for f in ("airline", "origin", "destination", "departure")
    }


def test_recorded_and_json_flights_predict_the_same(default_model: Model) -> None:
    data = {**EXAMPLE_REQUEST, "clima": {"vento_kmh": 30.0, "visibilidade_km": 2.0}}
    from_json = flight_from_json(data)
    record = {k: v for k, v in data.items() if k != "clima"}
    record.update({"vento_kmh": 30.0, "visibilidade_km": 2.0, "umidade_pct": math.nan})
    from_record = flight_from_record(record)
    assert isinstance(from_json, Flight)
    assert isinstance(from_record, Flight)
    assert default_model.predict(from_json) == default_model.predict(from_record)
