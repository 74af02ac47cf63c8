"""`predict` and `score` route each flight to its origin's country's bundle, as the server does."""

from __future__ import annotations

import csv
import json
from pathlib import Path

BRAZIL = ["--companhia", "AZU", "--origem", "SBKP", "--destino", "SBRP"]
NYC = ["--companhia", "AA", "--origem", "JFK", "--destino", "LAX"]
WHEN = ["--data-partida", "2025-11-10T14:30:00"]


def _version(root: Path, name: str) -> str:
    return str(json.loads((root / name / "manifest.json").read_text())["model_version"])


def test_predict_answers_from_the_origins_bundle(run, two_markets: Path) -> None:
    for flight, name in ((BRAZIL, "brazil"), (NYC, "default")):
        result = run("predict", *flight, *WHEN, "--model", two_markets, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["versao_modelo"] == _version(two_markets, name)


def test_predict_takes_several_models_the_first_the_default(run, two_markets: Path) -> None:
    lisbon = ["--companhia", "TP", "--origem", "LPPT", "--destino", "LEMD"]
    models = ["--model", two_markets / "brazil", "--model", two_markets / "default"]
    result = run("predict", *lisbon, *WHEN, *models, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versao_modelo"] == _version(two_markets, "brazil")


def test_score_answers_each_row_from_its_bundle(run, two_markets: Path, tmp_path: Path) -> None:
    rows = [
        {"companhia": "AZU", "origem": "SBKP", "destino": "SBRP", "data_partida": WHEN[1]},
        {"companhia": "AA", "origem": "JFK", "destino": "LAX", "data_partida": WHEN[1]},
    ]
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run("score", source, tmp_path / "out.csv", "--model", two_markets)
    assert result.exit_code == 0, result.output
    with (tmp_path / "out.csv").open(newline="") as f:
        versions = [r["versao_modelo"] for r in csv.DictReader(f)]
    assert versions == [_version(two_markets, "brazil"), _version(two_markets, "default")]


def test_a_missing_bundle_is_a_clear_error(run, tmp_path: Path) -> None:
    result = run("predict", *NYC, *WHEN, "--model", tmp_path / "nothing", "--json")
    assert result.exit_code == 1
    assert "no model bundle at" in result.output
    assert "Traceback" not in result.output
