"""Airline codes: a small curated IATA/ICAO reference (airlines.csv, package data).

Imported by the serving path, so no pandas here. Each IATA and ICAO code appears at most once
in the file; codes reused over the decades (e.g. OH) map to the carrier flying them most recently.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from typing import NamedTuple


class Airline(NamedTuple):
    """One row of airlines.csv."""

    iata: str  # "" when unknown
    icao: str  # "" when unknown
    name: str


@lru_cache(maxsize=1)
def _index() -> dict[str, Airline]:
    """Every IATA and ICAO code -> its airline, read once from the package's CSV."""
    text = (resources.files("flightontime_core") / "data" / "airlines.csv").read_text("utf-8")
    index: dict[str, Airline] = {}
    for row in csv.DictReader(text.splitlines()):
        airline = Airline(
            iata=row["iata"].strip().upper(),
            icao=row["icao"].strip().upper(),
            name=row["name"].strip(),
        )
        for code in (airline.iata, airline.icao):
            if code:
                if code in index:
                    # A duplicate would make the mapping depend on row order: refuse it.
                    raise ValueError(f"airlines.csv: code {code} listed twice")
                index[code] = airline
    return index


def known_airlines() -> tuple[Airline, ...]:
    """All airlines in the reference, in file order."""
    return tuple(dict.fromkeys(_index().values()))


def airline_codes(code: str) -> tuple[str, ...]:
    """Every known code of the airline, the given one (stripped, upper case) first."""
    key = code.strip().upper()
    airline = _index().get(key)
    if airline is None:
        return (key,) if key else ()
    others = tuple(c for c in (airline.iata, airline.icao) if c and c != key)
    return (key, *others)


def airline_name(code: str) -> str | None:
    """Airline name for an IATA or ICAO code (any case), or None when unknown."""
    airline = _index().get(code.strip().upper())
    return airline.name if airline is not None else None
