"""Issue 17: well-formed codes no table knows are answered with a warning, and given distances
that cannot be the route's are replaced by the great circle with a warning naming the probable
unit; `distance_km` is the km form of the same field. Through the resolver and the committed
model, so every adapter gets these answers."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from flightontime_core.airports import distance_m, resolve_airport
from flightontime_core.errors import FlightError
from flightontime_core.explain import GROUP_NAMES, Explainer
from flightontime_core.features import FEATURE_INDEX, FeatureTables
from flightontime_core.flights import Flight
from flightontime_core.model import Model
from flightontime_core.prediction import Notice, notice
from flightontime_core.resolve import Resolver, local_minutes, plausible

from .one_flight import features_of, resolve_one

# Viracopos to Ribeirão Preto, the Java backend's example route.
ROUTE: dict[str, Any] = {
    "airline": "AZU",
    "origin": "SBKP",
    "destination": "SBRP",
    "departure": "2025-11-10T14:30:00",
}


def great_circle(a: str = "SBKP", b: str = "SBRP") -> float:
    first, second = resolve_airport(a), resolve_airport(b)
    assert first is not None
    assert second is not None
    return distance_m(first, second)


@pytest.fixture
def resolver(default_tables: FeatureTables) -> Resolver:
    return Resolver(default_tables, uses_weather=False)


def resolved(resolver: Resolver, **changes: Any) -> tuple[float, int, tuple[Notice, ...]]:
    """(distance used, local minutes, notices) of the example route with `changes`."""
    found = resolve_one(resolver, Flight(**{**ROUTE, **changes}))
    assert not isinstance(found, FlightError), found
    _, minutes, distance, _, notices = found
    return distance, minutes, notices


def codes(notices: tuple[Notice, ...]) -> list[str]:
    return [n.code for n in notices]


# -- codes no table knows ----------------------------------------------------------------------


@pytest.mark.parametrize("code", ["SBZZ", "zzzz", " QQQ "])
def test_a_well_formed_unknown_code_is_answered_with_a_warning_naming_it(
    resolver: Resolver, code: str
) -> None:
    distance, _, notices = resolved(resolver, origin=code)
    name = code.strip().upper()
    assert notice("unlisted_airport", airport=name) in notices
    assert name in notices[0].text("en")
    assert name in notices[0].text("pt")
    assert math.isnan(distance)  # no coordinates, no distance given: unknown


def test_an_unknown_code_uses_the_given_distance(resolver: Resolver) -> None:
    assert resolved(resolver, destination="SBZZ", distance_m=218_000)[0] == 218_000.0
    assert resolved(resolver, destination="SBZZ", distance_km=218)[0] == 218_000.0
    # No great circle to check it against: a value in any unit is used as given.
    assert resolved(resolver, destination="SBZZ", distance_m=218)[0] == 218.0


def test_an_unknown_origin_takes_the_departure_as_the_clock_time_given(resolver: Resolver) -> None:
    _, minutes, notices = resolved(resolver, origin="SBZZ", departure="2025-11-10T14:30:00+05:00")
    # The offset is dropped, not converted: no zone is known for the airport.
    assert minutes == local_minutes(datetime(2025, 11, 10, 14, 30))
    assert notice("unknown_timezone", airport="SBZZ") in notices


def test_the_same_unknown_code_twice_is_still_refused(resolver: Resolver) -> None:
    found = resolve_one(resolver, Flight(**{**ROUTE, "origin": "SBZZ", "destination": "sbzz"}))
    assert isinstance(found, FlightError)
    assert [(p.field, p.code) for p in found.problems] == [("destination", "same_airports")]


def test_a_nan_distance_gives_a_finite_probability(default_model: Model) -> None:
    # HistGradientBoosting routes a missing value down a learnt branch; the exported graph too.
    p = default_model.predict(Flight(**{**ROUTE, "origin": "SBZZ"}))
    assert 0.0 < p.probability < 1.0
    assert all(0.0 <= v <= 1.0 for v in p.probabilities.values())
    assert p.cancellation is None or 0.0 <= p.cancellation <= 1.0
    assert "distance" not in [f.group for f in p.factors]  # a missing input is never named
    assert "unlisted_airport" in codes(p.warnings)
    batch = default_model.predict_many([Flight(**{**ROUTE, "origin": "SBZZ"})])
    assert batch == [p]


# -- distances that cannot be right ------------------------------------------------------------


def test_the_bounds_around_the_great_circle() -> None:
    gc = great_circle()
    assert plausible(gc, gc)
    assert plausible(0.8 * gc, gc)
    assert not plausible(0.79 * gc, gc)
    assert plausible(2.0 * gc + 50_000, gc)
    assert not plausible(2.0 * gc + 51_000, gc)


@pytest.mark.parametrize(
    ("changes", "value", "unit", "probable"),
    [
        ({"distance_m": 218}, 218.0, "m", "km"),
        ({"distance_m": 135.5}, 135.5, "m", "mi"),  # 218 km in miles
        ({"distance_m": 4}, 4.0, "m", ""),
        ({"distance_m": 5_000_000}, 5_000_000.0, "m", ""),
        ({"distance_km": 1.5}, 1.5, "km", ""),
        ({"distance_km": 135.5}, 135.5, "km", "mi"),
    ],
)
def test_a_distance_that_cannot_be_the_route_s_is_replaced_by_the_great_circle(
    resolver: Resolver, changes: dict[str, Any], value: float, unit: str, probable: str
) -> None:
    gc = great_circle()
    distance, _, notices = resolved(resolver, **changes)
    assert distance == gc
    expected = notice(
        "distance_replaced",
        value=value,
        unit=unit,
        probable=probable,
        route="SBKP-SBRP",
        km=round(gc / 1000, 1),
    )
    assert expected in notices
    en, pt = expected.text("en"), expected.text("pt")
    assert f"great circle {round(gc / 1000, 1):g} km" in en
    words = {"m": ("metres", "metros"), "km": ("km", "km"), "mi": ("miles", "milhas")}
    if probable:
        assert f"probably given in {words[probable][0]}" in en
        assert f"provavelmente em {words[probable][1]}" in pt
    else:
        assert "no unit" in en
        assert "nenhuma unidade" in pt


def test_metres_sent_as_km_are_beyond_any_distance_on_earth(resolver: Resolver) -> None:
    # 218,000 km: refused by the field's bound before any route is looked at.
    found = resolve_one(resolver, Flight(**ROUTE, distance_km=218_000))
    assert isinstance(found, FlightError)
    assert [(p.field, p.code) for p in found.problems] == [("distance_km", "not_positive")]


@pytest.mark.parametrize("ratio", [0.85, 1.0, 1.3, 1.9])
def test_a_plausible_distance_is_used_as_given(resolver: Resolver, ratio: float) -> None:
    given = great_circle() * ratio
    distance, _, notices = resolved(resolver, distance_m=given)
    assert distance == given
    assert "distance_replaced" not in codes(notices)
    assert resolved(resolver, distance_km=given / 1000)[0] == pytest.approx(given)


def test_distance_km_alone_and_both_agreeing(resolver: Resolver) -> None:
    assert resolved(resolver, distance_km=218)[0] == 218_000.0
    # Both given and agreeing within the km value's rounding: the metres (more precise) win.
    assert resolved(resolver, distance_m=218_400, distance_km=218)[0] == 218_400.0
    assert resolved(resolver, distance_m=217_000, distance_km=218)[0] == 217_000.0


@pytest.mark.parametrize(("metres", "km"), [(218_000, 300), (218_000, 2_180), (216_999, 218)])
def test_both_distances_disagreeing_is_a_problem_naming_both(
    resolver: Resolver, metres: float, km: float
) -> None:
    found = resolve_one(resolver, Flight(**ROUTE, distance_m=metres, distance_km=km))
    assert isinstance(found, FlightError)
    assert [(p.field, p.code) for p in found.problems] == [
        ("distance_m", "distances_disagree"),
        ("distance_km", "distances_disagree"),
    ]
    text = found.problems[0].text("en")
    assert f"{metres} m" in text
    assert f"{km} km" in text


# -- the factor names the distance the model used -------------------------------------------------


def _km_in(text: str) -> float:
    """The distance a factor sentence names, in km (English: 1,234 km, 2.5 km or 250 m)."""
    found = re.search(r"Distance ([\d,.]+) (km|m)\b", text)
    assert found is not None, text
    value = float(found.group(1).replace(",", ""))
    return value if found.group(2) == "km" else value / 1000


def _km_in_pt(text: str) -> float:
    found = re.search(r"Distância de ([\d.,]+) (km|m)\b", text)
    assert found is not None, text
    value = float(found.group(1).replace(".", "").replace(",", "."))
    return value if found.group(2) == "km" else value / 1000


@pytest.mark.parametrize(
    "changes",
    [
        {"distance_m": 218},  # km sent as metres: the great circle is used and named
        {"distance_m": 218_000},
        {"distance_km": 135.5},
        {"destination": "SBZZ", "distance_m": 218},  # nothing to check against: 218 m
        {"destination": "SBZZ", "distance_m": 2_500},
        {"destination": "SBZZ", "distance_km": 1_234.4},
    ],
)
def test_the_distance_factor_names_the_distance_the_features_used(
    resolver: Resolver, default_tables: FeatureTables, changes: dict[str, Any]
) -> None:
    found = resolve_one(resolver, Flight(**{**ROUTE, **changes}))
    assert not isinstance(found, FlightError)
    route, minutes, distance, weather, _ = found
    row = features_of(
        default_tables,
        route.airline,
        route.origin.icao,
        route.destination.icao,
        minutes,
        distance,
        weather,
    ).tolist()
    used_km = row[FEATURE_INDEX["distance_km"]]
    assert used_km == float(np.float32(distance / 1000))  # the model reads float32
    explainer = Explainer(default_tables)
    params = explainer.params(
        GROUP_NAMES.index("distance"), row, route.origin.icao, route.destination.icao
    )
    from flightontime_core.prediction import Factor

    factor = Factor("distance", False, -0.1, params)
    # Equal to the shown precision: whole km from 10 km, 0.1 km below, metres below 1 km.
    shown = _km_in(factor.text("en"))
    tolerance = 0.5 if used_km >= 10 else 0.05 if used_km >= 1 else 0.0005
    assert abs(shown - used_km) <= tolerance
    assert shown > 0
    assert _km_in_pt(factor.text("pt")) == shown


def test_a_distance_sent_in_km_is_answered_as_the_great_circle(default_model: Model) -> None:
    # The bug behind issue 17: 218 (km) sent as distancia_m gave "Distância de 0 km".
    for base in (ROUTE, {**ROUTE, "airline": "AA", "origin": "JFK", "destination": "LAX"}):
        wrong = default_model.predict(Flight(**base, distance_m=218))
        plain = default_model.predict(Flight(**base))
        assert "distance_replaced" in codes(wrong.warnings)
        assert (wrong.probability, wrong.factors) == (plain.probability, plain.factors)
