"""The committed Brazilian bundle (models/brazil, one ANAC month): it loads, says where it
knows the airports, answers a Brazilian flight from its own history, and counts the days to
Brazil's holidays, not the United States'."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from flightontime_core import Flight, Model, load_model
from flightontime_core.calendar import EPOCH_ORDINAL
from flightontime_core.features import (
    FEATURE_INDEX,
    N_WEATHER,
    FeatureTables,
    FlightColumns,
    build_features,
)


@pytest.fixture(scope="module")
def brazil(brazil_model_dir: Path) -> Model:
    return load_model(brazil_model_dir)


def test_it_loads_and_declares_brazil(brazil: Model) -> None:
    assert brazil.manifest.countries == ("BR",)
    assert brazil.manifest.data["source"] == "anac"
    assert brazil.self_test() == []


def test_a_brazilian_flight_is_answered_from_its_history(brazil: Model) -> None:
    answer = brazil.predict(
        Flight(airline="AZU", origin="SBKP", destination="SBRP", departure="2025-11-10T14:30:00")
    )
    codes = {notice.code for notice in answer.warnings}
    assert not codes & {"unknown_airline", "unknown_airport", "unknown_airports"}, codes
    assert 0.0 < answer.probability < 1.0
    assert answer.model_version == brazil.version


def test_an_old_code_is_answered_as_the_renamed_aerodrome_with_a_warning(brazil: Model) -> None:
    # Sinop: SBSI in ANAC's data (and this model's history), SWSI in airportsdata and older data.
    flights = [
        Flight(airline="AZU", origin=code, destination="SBCY", departure="2021-05-03T10:00:00")
        for code in ("SBSI", "SWSI", "swsi ")
    ]
    current, *old = brazil.predict_many(flights)
    assert not isinstance(current, Exception)
    assert {n.code for n in current.warnings} == set()  # a route of the model's own history
    for answer in old:
        assert not isinstance(answer, Exception)
        assert answer.probabilities == current.probabilities
        assert [n.code for n in answer.warnings] == ["renamed_airport"]
        assert answer.warnings[0].text("en") == ("airport SWSI was renamed SBSI: answered as SBSI")
        assert "SWSI passou a se chamar SBSI" in answer.warnings[0].text("pt")


def _days_to_holiday(tables: FeatureTables, origin: str, day: str) -> float:
    columns = FlightColumns(
        airline=np.array(["AZU"], dtype=object),
        origin=np.array([origin], dtype=object),
        destination=np.array(["SBGR"], dtype=object),
        minutes=np.array([(date.fromisoformat(day).toordinal() - EPOCH_ORDINAL) * 1440 + 600]),
        distance_m=np.array([np.nan]),
        weather=np.full((1, N_WEATHER), np.nan),
    )
    return float(build_features(columns, tables)[0, FEATURE_INDEX["days_to_holiday"]])


def test_days_to_holiday_follow_brazils_calendar(brazil: Model) -> None:
    tables = brazil.tables
    assert tables.country("SBKP") == "BR"
    # Tiradentes (21 April) and Good Friday 2021 (2 April) are Brazilian holidays only.
    assert _days_to_holiday(tables, "SBKP", "2021-04-20") == -1.0
    assert _days_to_holiday(tables, "SBKP", "2021-04-03") == 1.0
    # An origin the tables do not know still gets its own country's calendar.
    assert _days_to_holiday(tables, "KJFK", "2021-04-20") != -1.0
