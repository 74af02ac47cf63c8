"""The answer Struct the routes return is built positionally by the core's contract.answers."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from flightontime_core import contract
from flightontime_core.errors import FlightError
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import Flight
from flightontime_core.service import PredictionService
from flightontime_server.schemas import PredictionResponse

from .server import JAVA_REQUEST

FLIGHTS = [
    JAVA_REQUEST,
    {**JAVA_REQUEST, "companhia": "ZZ9"},  # an unknown airline: a notice
    {**JAVA_REQUEST, "data_partida": "2025-12-24T23:10:00"},
    {**JAVA_REQUEST, "origem": "SBKP", "destino": "SBKP"},  # refused
]


def test_answer_struct_fields_are_the_contract_answer_fields_in_order() -> None:
    assert PredictionResponse.__struct_fields__ == contract.ANSWER_FIELDS


@pytest.mark.parametrize("language", ["pt", "en"])
def test_structs_hold_what_the_dict_answers_hold(bundle_dir: Path, language: str) -> None:
    service = PredictionService.load(bundle_dir)
    flights = [contract.flight_from_json(f) for f in FLIGHTS]
    assert all(isinstance(f, Flight) for f in flights)
    table = service.predict_table(FlightTable.from_flights(flights))
    dicts = contract.answers(table, language)
    structs = contract.answers(table, language, PredictionResponse)
    assert isinstance(structs[-1], FlightError)
    assert isinstance(dicts[-1], FlightError)
    assert [type(s) for s in structs[:-1]] == [PredictionResponse] * 3
    assert msgspec.to_builtins(structs[:-1]) == dicts[:-1]
    assert any(s.avisos for s in structs[:-1] if isinstance(s, PredictionResponse))
