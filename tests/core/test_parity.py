"""Every answer of the stored sample (`parity_sample.py`: real test-window flights of both
markets and the resolver's edge cases, answered by the row-by-row path this one replaced)
stays within 1e-6, with the same factors, notices and refusals; one flight alone gets exactly
its answer in the batch."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import msgspec
import pytest

from flightontime_core import FlightError, Prediction, PredictionService
from flightontime_core.contract import flight_from_json

from .parity_sample import SAMPLE, answer_record

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = msgspec.json.decode(gzip.decompress(SAMPLE.read_bytes()))
    return records


@pytest.fixture(scope="module")
def service(default_model_dir: Path, brazil_model_dir: Path) -> PredictionService:
    return PredictionService.load([default_model_dir, brazil_model_dir])


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What moved between two answer records (empty: the same within TOLERANCE)."""
    if "error" in expected or "error" in got:
        return [] if expected == got else [f"{expected} != {got}"]
    found = []
    for key in ("delayed", "warnings", "model_version"):
        if expected[key] != got[key]:
            found.append(f"{key}: {expected[key]} != {got[key]}")
    numbers = [
        (f"P({k})", v, got["probabilities"].get(k)) for k, v in expected["probabilities"].items()
    ]
    numbers.append(("cancellation", expected["cancellation"], got["cancellation"]))
    if [f[:2] + f[3:] for f in expected["factors"]] != [f[:2] + f[3:] for f in got["factors"]]:
        found.append(f"factors: {expected['factors']} != {got['factors']}")
    else:
        numbers += [
            (f"weight {e[0]}", e[2], g[2])
            for e, g in zip(expected["factors"], got["factors"], strict=True)
        ]
    for name, want, have in numbers:
        if (want is None) != (have is None) or (want is not None and abs(want - have) > TOLERANCE):
            found.append(f"{name}: {want} != {have}")
    return found


def test_the_sample_is_answered_as_stored(
    sample: list[dict[str, Any]], service: PredictionService
) -> None:
    answers = service.predict_many([flight_from_json(r["flight"]) for r in sample])
    moved = {
        i: d
        for i, (record, answer) in enumerate(zip(sample, answers, strict=True))
        if (d := differences(record["answer"], answer_record(answer)))
    }
    assert not moved, (
        f"{len(moved)} of {len(sample)} answers moved, e.g. {next(iter(moved.items()))}"
    )
    assert sum(isinstance(a, Prediction) for a in answers) >= 3000


def test_one_flight_alone_gets_its_answer_in_the_batch(
    sample: list[dict[str, Any]], service: PredictionService
) -> None:
    flights = [flight_from_json(r["flight"]) for r in sample[::25]]
    batch = service.predict_many(flights)
    for flight, in_batch in zip(flights, batch, strict=True):
        if isinstance(flight, FlightError) or isinstance(in_batch, FlightError):
            continue
        assert service.predict(flight) == in_batch


def test_the_comparison_sees_a_moved_answer(sample: list[dict[str, Any]]) -> None:
    record = next(r["answer"] for r in sample if r["answer"].get("factors"))
    moved = msgspec.json.decode(msgspec.json.encode(record))
    moved["probabilities"]["15"] += 2 * TOLERANCE
    moved["factors"][0][2] -= 2 * TOLERANCE
    assert len(differences(record, moved)) == 2
    moved = msgspec.json.decode(msgspec.json.encode(record))
    moved["warnings"].append(["unseen_route", []])
    assert differences(record, moved)
