"""PredictionTable: answers as columns agree with the Predictions built from them; factor and
notice texts per distinct sentence; tables of two bundles combined in input order; a big batch
(the packed-integer keying of factors) answers each flight as it is answered alone."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from flightontime_core import Flight, FlightError, Model, Prediction, PredictionService, Weather
from flightontime_core.flight_table import FlightTable
from flightontime_core.messages import LANGUAGES
from flightontime_core.model import load_model
from flightontime_core.training.evaluate import flights_of

if TYPE_CHECKING:
    from flightontime_core.training.sources.table import LoadResult


def real(nycflights13_full: LoadResult, n: int, seed: int) -> list[Flight]:
    df = nycflights13_full.flights
    test = df[(df["scheduled_departure"] >= "2013-11-01") & ~df["cancelled"]]
    sample = test.sample(n=n, random_state=seed).sort_values("scheduled_departure").copy()
    sample.loc[sample.index[::3], ["wind_kmh", "visibility_km"]] = np.nan
    sample.loc[
        sample.index[1::3],
        list(
            df.columns[
                df.columns.str.endswith(("_c", "_pct", "_kmh", "_deg", "_mm", "_hpa", "_km"))
            ]
        ),
    ] = np.nan
    return flights_of(sample.reset_index(drop=True), with_weather=True)


@pytest.fixture(scope="module")
def mixed(nycflights13_full: LoadResult) -> list[Flight | FlightError]:
    """200 real flights with refusals and problems among them."""
    flights: list[Flight | FlightError] = list(real(nycflights13_full, 200, 3))
    flights[5] = FlightError([])
    flights[17] = Flight(airline="A", origin="JFK", destination="LAX", departure="2013-11-10")
    flights[60] = Flight(
        airline="ZZ", origin="SBZZ", destination="LAX", departure="2013-11-10T08:00:00+02:00"
    )
    return flights


@pytest.fixture(scope="module")
def big(nycflights13_full: LoadResult) -> list[Flight]:
    return real(nycflights13_full, 3000, 11)


def test_predictions_and_answer_agree(
    default_model: Model, mixed: list[Flight | FlightError]
) -> None:
    table = default_model.predict_table(FlightTable.from_flights(mixed))
    out = table.predictions()
    assert len(out) == len(table) == len(mixed)
    assert sorted(table.errors) == [5, 17]
    assert [table.answer(i) for i in range(len(mixed))] == out
    assert out == default_model.predict_many(mixed)
    for i in table.rows.tolist():
        a = out[i]
        assert isinstance(a, Prediction)
        assert a.delayed == bool(table.delayed[table.rows.tolist().index(i)])
    unlisted = out[60]
    assert isinstance(unlisted, Prediction)
    assert {"unlisted_airport", "unknown_timezone"} <= {n.code for n in unlisted.warnings}
    with pytest.raises(IndexError):
        table.answer(len(mixed))


@pytest.mark.parametrize("language", LANGUAGES)
def test_factor_and_notice_texts_are_the_predictions_texts(
    default_model: Model, mixed: list[Flight | FlightError], language: str
) -> None:
    table = default_model.predict_table(FlightTable.from_flights(mixed))
    texts, index = table.factor_texts(language)
    assert index.shape == table.factor_key.shape
    notices = table.notice_texts(language)
    for k, position in enumerate(table.rows.tolist()):
        answer = table.answer(position)
        assert isinstance(answer, Prediction)
        shown = [texts[j] for j in index[k].tolist() if j >= 0]
        assert shown == [f.text(language) for f in answer.factors], position
        assert notices[table.notice_index[k]] == tuple(n.text(language) for n in answer.warnings)
    assert any(index[:, 0] >= 0)


def test_combine_keeps_input_order_and_errors(
    default_model_dir: Path, brazil_model_dir: Path, mixed: list[Flight | FlightError]
) -> None:
    default, brazil = load_model(default_model_dir), load_model(brazil_model_dir)
    service = PredictionService([default, brazil])
    domestic = [
        Flight(airline="AZU", origin="SBKP", destination="SBRP", departure="2021-04-10T14:30:00"),
        Flight(
            airline="GLO",
            origin="SBGR",
            destination="SBRJ",
            departure="2021-04-11T07:05:00",
            weather=Weather(wind_kmh=30.0),
        ),
        Flight(airline="TAM", origin="SBGR", destination="SBGR", departure="2021-04-11T07:05:00"),
    ]
    flights: list[Flight | FlightError] = [
        *mixed[:20],
        domestic[0],
        *mixed[20:40],
        domestic[1],
        domestic[2],
        *mixed[40:60],
    ]
    table = service.predict_table(FlightTable.from_flights(flights))
    assert len(table) == len(flights)
    assert table.rows.tolist() == sorted(table.rows.tolist())
    out = table.predictions()
    brazilian = {20, 41, 42}
    for i, (flight, answer) in enumerate(zip(flights, out, strict=True)):
        if isinstance(flight, FlightError):
            assert answer is flight or answer == flight, i
            continue
        model = brazil if i in brazilian else default
        try:
            expected: Prediction | FlightError = model.predict(flight)
        except FlightError as error:
            expected = error
        assert answer == expected, i
    assert sorted(table.errors) == [5, 17, 42]
    assert {p.model_version for p in out if isinstance(p, Prediction)} == {
        default.version,
        brazil.version,
    }
    assert out == service.predict_many(flights)
    # The texts of a combined table are each part's.
    texts, index = table.factor_texts("pt")
    for k, position in enumerate(table.rows.tolist()):
        answer = out[position]
        assert isinstance(answer, Prediction)
        assert [texts[j] for j in index[k].tolist() if j >= 0] == [
            f.text("pt") for f in answer.factors
        ]


def test_a_big_batch_gives_each_flight_its_answer_alone(
    default_model: Model, big: list[Flight]
) -> None:
    """3,000 flights name their factors through packed integers and render their sentences
    with numpy (more than 48 factor slots); one flight alone through tuples and a plain loop:
    the same factors and sentences."""
    table = default_model.predict_table(FlightTable.from_flights(big))
    assert int((table.factor_key >= 0).sum()) > 48
    out = table.predictions()
    texts, index = table.factor_texts("en")
    for i, flight in enumerate(big):
        alone = default_model.predict(flight)
        assert out[i] == alone, i
        shown = [texts[j] for j in index[i].tolist() if j >= 0]
        assert shown == [f.text("en") for f in alone.factors], i
        one_texts, one_index = default_model.predict_table(
            FlightTable.from_flights([flight])
        ).factor_texts("en")
        assert [one_texts[j] for j in one_index[0].tolist() if j >= 0] == shown, i


def test_factor_texts_are_distinct_in_a_big_batch(default_model: Model, big: list[Flight]) -> None:
    texts, _ = default_model.predict_table(FlightTable.from_flights(big[:200])).factor_texts("en")
    assert len(texts) == len(set(texts))


def test_factor_texts_are_distinct_in_a_small_batch(
    default_model: Model, big: list[Flight]
) -> None:
    table = default_model.predict_table(FlightTable.from_flights(big[:10]))
    assert int((table.factor_key >= 0).sum()) <= 48
    texts, _ = table.factor_texts("en")
    assert len(texts) == len(set(texts))
