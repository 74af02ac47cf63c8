"""Every sentence in English and Portuguese: problems, notices, factors."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from flightontime_core import contract, resolve
from flightontime_core.errors import FlightError, Problem, problem
from flightontime_core.explain import GROUP_NAMES, Explainer
from flightontime_core.features import FeatureTables
from flightontime_core.messages import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    factor_text,
    notice_text,
    problem_text,
)
from flightontime_core.prediction import Factor, Notice, notice
from flightontime_core.resolve import local_minutes

from .one_flight import features_of


def _emitted(pattern: str) -> set[str]:
    """The codes the core's validating modules emit (read from their source)."""
    found: set[str] = set()
    for module in (resolve, contract):
        found |= set(re.findall(pattern, inspect.getsource(module)))
    return found


PROBLEM_CODES = _emitted(r'problem\(\s*[^,()]+,\s*"([a-z_]+)"')
NOTICE_CODES = _emitted(r'notice\(\s*"([a-z_]+)"')

# Parameters as the core gives them, per code.
PROBLEM_PARAMS: dict[str, dict[str, Any]] = {
    "wrong_type": {"expected": "number"},
    "departure_out_of_range": {"min": 1950, "max": 2100},
    "out_of_range": {"min": 0.0, "max": 100.0},
    "not_positive": {"max": 20_000_000.0},
    "distances_disagree": {"metres": 218000.0, "km": 300.0},
    "same_airports": {"icao": "KJFK"},
    "invalid_json": {"byte": 12},
}
NOTICE_PARAMS: dict[str, dict[str, Any]] = {
    "unknown_airline": {"airline": "AZU"},
    "unknown_airport": {"airports": "SBGR"},
    "unknown_airports": {"airports": "EGLL, SBGR"},
    "unseen_route": {"route": "KLAX-KJFK"},
    "unknown_timezone": {"airport": "KJFK"},
    "unlisted_airport": {"airport": "SBZZ"},
    "renamed_airport": {"old": "SWSI", "current": "SBSI"},
    "distance_replaced": {
        "value": 218.0,
        "unit": "m",
        "probable": "km",
        "route": "SBKP-SBRP",
        "km": 218.3,
    },
}


def test_the_source_scan_finds_the_codes() -> None:
    # The scan itself must see what the resolver and the contract say.
    assert {"wrong_type", "distances_disagree", "required", "departure_needs_time"} <= PROBLEM_CODES
    assert {"unknown_airline", "unseen_route", "unlisted_airport"} <= NOTICE_CODES
    assert "distance_replaced" in NOTICE_CODES


@pytest.mark.parametrize("code", sorted(PROBLEM_CODES | set(PROBLEM_PARAMS)))
def test_every_problem_code_renders_in_both_languages(code: str) -> None:
    params = PROBLEM_PARAMS.get(code, {})
    en = problem_text(code, params, "en")
    pt = problem_text(code, params, "pt")
    assert en != code, "no English message"
    assert pt != code, "no Portuguese message"
    assert en != pt
    for key, value in params.items():
        if key == "expected":  # a type name, translated (checked below)
            continue
        text = value if isinstance(value, str) else f"{value:g}"
        assert text in en
        assert text in pt


@pytest.mark.parametrize("code", sorted(NOTICE_CODES | set(NOTICE_PARAMS)))
def test_every_notice_code_renders_in_both_languages(code: str) -> None:
    params = tuple(sorted(NOTICE_PARAMS.get(code, {}).items()))
    en = notice_text(code, params, "en")
    pt = notice_text(code, params, "pt")
    assert en != code
    assert pt != code
    assert en != pt
    for _, value in params:
        text = value if isinstance(value, str) else f"{value:g}"
        assert text in en
        assert text.replace(".", ",") in pt  # Portuguese writes 218,3
    assert Notice(code, params).text("pt") == pt
    assert Notice(code, params).text() == en  # English is the library's default


def test_catalogs_have_the_same_codes_in_both_languages() -> None:
    from flightontime_core import messages

    assert set(messages._PROBLEMS["en"]) == set(messages._PROBLEMS["pt"])
    assert set(messages._NOTICES["en"]) == set(messages._NOTICES["pt"])
    assert set(LANGUAGES) == {"en", "pt"}
    assert DEFAULT_LANGUAGE == "en"


def test_wrong_type_names_the_type_in_the_reader_language() -> None:
    for expected, en, pt in (
        ("text", "expected text", "esperado texto"),
        ("number", "expected number", "esperado número"),
        ("object", "expected object", "esperado objeto"),
    ):
        p = problem("airline", "wrong_type", expected=expected)
        assert p.text("en") == en
        assert p.text("pt") == pt


def test_problem_text_falls_back_to_english_then_to_the_code() -> None:
    p = problem("departure", "departure_needs_time")
    assert p.text("fr") == p.text("en")
    assert problem_text("no_such_code", {}, "pt") == "no_such_code"
    assert notice_text("no_such_code", (), "en") == "no_such_code"


def test_flight_error_lists_every_problem_in_english() -> None:
    error = FlightError([problem("airline", "required"), problem("distance_m", "not_finite")])
    assert str(error) == "airline: required field is missing; distance_m: must be a finite number"
    assert error == FlightError(list(error.problems))
    assert error != FlightError([problem("airline", "required")])
    assert isinstance(error, ValueError)
    import pickle

    again = pickle.loads(pickle.dumps(error))
    assert again == error
    assert str(again) == str(error)


def test_problem_params_are_sorted() -> None:
    assert problem("x", "out_of_range", min=0.0, max=1.0) == Problem(
        "x", "out_of_range", (("max", 1.0), ("min", 0.0))
    )
    assert notice("unknown_airline", airline="ZZ") == Notice(
        "unknown_airline", (("airline", "ZZ"),)
    )


# -- factors -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explainer(default_tables: FeatureTables) -> Explainer:
    return Explainer(default_tables)


@pytest.fixture(scope="module")
def storm_row(default_tables: FeatureTables) -> list[float]:
    """A real feature row: UA Newark -> Chicago on a stormy Christmas Eve evening."""
    from datetime import datetime

    weather = [-1.0, -3.0, 95.0, 40.0, 55.0, 80.0, 6.5, 995.0, 0.4]
    return features_of(
        default_tables,
        "UA",
        "KEWR",
        "KORD",
        local_minutes(datetime(2013, 12, 24, 18, 45)),
        1_155_000.0,
        weather,
    ).tolist()


@pytest.mark.parametrize("group", GROUP_NAMES)
def test_every_factor_group_renders_in_both_languages(
    explainer: Explainer, storm_row: list[float], group: str
) -> None:
    params = explainer.params(GROUP_NAMES.index(group), storm_row, "KEWR", "KORD")
    texts = {
        (language, raises): factor_text(group, params, raises, language)
        for language in LANGUAGES
        for raises in (True, False)
    }
    assert len(set(texts.values())) == 4, texts
    assert texts[("en", True)].endswith(("raises the delay risk", "raises the risk"))
    assert texts[("en", False)].endswith(("lowers the delay risk", "lowers the risk"))
    assert texts[("pt", True)].endswith(("aumenta o risco de atraso", "aumenta o risco"))
    assert texts[("pt", False)].endswith(("reduz o risco de atraso", "reduz o risco"))
    factor = Factor(group, True, 0.5, params)
    assert factor.text("pt") == texts[("pt", True)]
    assert factor.text() == texts[("en", True)]


def test_factor_sentences_name_what_they_are_about(
    explainer: Explainer, storm_row: list[float]
) -> None:
    def text(group: str, language: str = "en", raises: bool = True) -> str:
        params = explainer.params(GROUP_NAMES.index(group), storm_row, "KEWR", "KORD")
        return factor_text(group, params, raises, language)

    assert text("time") == "Departure time 18:45 raises the delay risk"
    assert text("time", "pt") == "Partida às 18:45 aumenta o risco de atraso"
    assert text("weekday") == "Departure on a Tuesday raises the delay risk"
    assert text("weekday", "pt") == "Partida na terça-feira aumenta o risco de atraso"
    assert text("holiday") == "1 day before a public holiday raises the delay risk"
    assert text("holiday", "pt") == "1 dia antes de um feriado aumenta o risco de atraso"
    assert text("airline").startswith("Airline UA (historically late ")
    assert "% of the time" in text("airline")
    assert text("route").startswith("Route EWR → ORD (historically late")
    assert text("origin").startswith("Departing from EWR around 18:00 (historically late")
    assert text("destination", raises=False) == "Destination ORD lowers the delay risk"
    assert text("distance") == "Distance 1,155 km raises the delay risk"
    assert text("distance", "pt") == "Distância de 1.155 km aumenta o risco de atraso"
    assert text("visibility_km") == "Origin weather: low visibility 0.4 km raises the risk"
    assert text("precipitation_mm", "pt") == "Tempo na origem: precipitação 6.5 mm aumenta o risco"
    assert text("gust_kmh") == "Origin weather: gusts 80 km/h raises the risk"


def test_portuguese_weekdays_take_their_article() -> None:
    def pt(weekday: int) -> str:
        return factor_text("weekday", (("weekday", weekday),), True, "pt")

    assert [pt(d) for d in range(7)] == [
        f"Partida {day} aumenta o risco de atraso"
        for day in (
            "na segunda-feira",
            "na terça-feira",
            "na quarta-feira",
            "na quinta-feira",
            "na sexta-feira",
            "no sábado",
            "no domingo",
        )
    ]
    assert factor_text("weekday", (("weekday", 6),), False, "en") == (
        "Departure on a Sunday lowers the delay risk"
    )


def test_holiday_sentences() -> None:
    def en(days: int) -> str:
        return factor_text("holiday", (("days", days),), False, "en")

    assert en(0) == "Departure on a public holiday lowers the delay risk"
    assert en(-1) == "1 day before a public holiday lowers the delay risk"
    assert en(3) == "3 days after a public holiday lowers the delay risk"
    assert factor_text("holiday", (("days", 0),), True, "pt") == (
        "Partida em um feriado aumenta o risco de atraso"
    )
    assert factor_text("holiday", (("days", 2),), True, "pt").startswith("2 dias depois de")


def test_weather_words_depend_on_the_value() -> None:
    def en(group: str, value: float) -> str:
        return factor_text(group, (("value", value),), True, "en")

    assert en("precipitation_mm", 0.0) == "Origin weather: no precipitation raises the risk"
    assert en("visibility_km", 10.0) == "Origin weather: visibility 10 km raises the risk"
    assert en("visibility_km", 2.0) == "Origin weather: low visibility 2.0 km raises the risk"
    assert factor_text("precipitation_mm", (("value", 0.0),), False, "pt") == (
        "Tempo na origem: sem precipitação reduz o risco"
    )
