"""The model card: every file, every number from the manifest, deterministic PNGs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from flightontime_core.bundle import (
    BUNDLE_FORMAT,
    CANCELLATION,
    EVALUATION_FILE,
    GRAPH_FILE,
    PLAIN_VARIANT,
    TABLES_FILE,
    WEATHER_VARIANT,
    Behaviour,
    Calibration,
    ExplanationSpec,
    Manifest,
    ModelSpec,
    Variant,
    write_bundle,
)
from flightontime_core.errors import BundleError
from flightontime_core.explain import GROUP_NAMES
from flightontime_core.features import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    N_WEATHER,
    FeatureTables,
    FlightColumns,
)
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.training.card import (
    BY_HOUR_PLOT,
    CARD_FILE,
    FACTORS_PLOT,
    RELIABILITY_PLOT,
    ROC_PLOT,
    render_card,
    write_card,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_FILES = {CARD_FILE, ROC_PLOT, RELIABILITY_PLOT, FACTORS_PLOT, BY_HOUR_PLOT}


def _summary(auc: float, at: dict[str, float] | None) -> dict[str, Any]:
    return {
        "rows": 1234,
        "roc_auc": auc,
        "pr_auc": 0.41237,
        "brier": 0.15321,
        "log_loss": 0.47123,
        "ece": 0.01234,
        "mean_predicted": 0.2061,
        "observed_rate": 0.2107,
        "at_decision_threshold": at,
    }


def _models(name: str, calibrated_30: Calibration) -> tuple[ModelSpec, ...]:
    """A variant's chain (15 then 30 minutes) and its cancellation model."""
    members = 2 if name == WEATHER_VARIANT else 1
    return (
        ModelSpec(
            key="15",
            columns=tuple(range(members)),
            label="departure delay >= 15 minutes",
        ),
        ModelSpec(
            key="30",
            columns=(members,),
            given=15,
            label="departure delay >= 30 minutes, among flights with departure delay >= 15",
            calibration=calibrated_30,
        ),
        ModelSpec(key=CANCELLATION, columns=(members + 1,), label="flight cancelled"),
    )


def _variant(name: str, calibrated_30: Calibration, bias: float) -> Variant:
    models = _models(name, calibrated_30)
    return Variant(
        name=name,
        graph_input=f"features_{name}",
        graph_output=f"scores_{name}",
        models=models,
        explanation=ExplanationSpec(
            first_column=sum(len(m.columns) for m in models), groups=GROUP_NAMES, bias=bias
        ),
    )


def make_manifest(*, weather: bool = True, version: str = "m-0123456789abcdef") -> Manifest:
    """A manifest shaped as the training pipeline writes it, with distinctive numbers."""
    plain = _variant(
        PLAIN_VARIANT, Calibration(method="isotonic", x=(0.0, 1.0), y=(0.1, 0.9)), -1.3
    )
    variants = (plain,)
    if weather:
        variants = (
            _variant(WEATHER_VARIANT, Calibration(method="platt", a=0.9, b=0.1), -1.2),
            plain,
        )
    behaviour = Behaviour(
        feature_names=FEATURE_NAMES,
        feature_definition=FEATURE_DEFINITION,
        weather_fields=WEATHER_FIELDS if weather else (),
        thresholds=(15, 30),
        decision_threshold=0.3141,
        variants=variants,
    )
    iterations: dict[str, list[int]] = {"plain:15": [111], "30": [123], CANCELLATION: [77]}
    if weather:
        iterations = {"weather:15": [321, 320], **iterations}
    calibration = {
        "plain:15": {
            "decision": "none",
            "reason": "the plain model needed none",
            "ece_validation_raw": 0.0199,
        },
        "plain:30": {
            "decision": "isotonic",
            "reason": "isotonic improved the plain shape",
            "ece_validation_raw": 0.0311,
        },
        "plain:cancelled": {"decision": "none", "reason": "validation window too small"},
    }
    if weather:
        calibration = {
            "weather:15": {
                "decision": "none",
                "reason": "no calibrator improved the shape",
                "ece_validation_raw": 0.0177,
            },
            "weather:30": {
                "decision": "platt",
                "reason": "platt improved the shape on both halves",
                "ece_validation_raw": 0.0288,
            },
            "weather:cancelled": {"decision": "none", "reason": "validation window too small"},
            **calibration,
        }
    at = {"threshold": 0.3141, "precision": 0.45678, "recall": 0.56789, "f1": 0.50123}
    cases = ("with_weather", "without_weather") if weather else ("without_weather",)
    model = {"with_weather": None, "without_weather": None}
    for n, case in enumerate(cases):
        model[case] = {"15": _summary(0.7123 - n / 100, at), "30": _summary(0.6987, None)}
    return Manifest(
        format=BUNDLE_FORMAT,
        model_version=version,
        created="2026-01-02T03:04:05+00:00",
        package_version="0.1.0",
        behaviour=behaviour,
        files={},
        cancellation={"available": True, "reason": "trained on every scheduled flight"},
        data={
            "source": "nycflights13",
            "date_range": ["2013-01-01", "2013-12-31"],
            "rows_read": 336776,
            "rows": 336000,
            "bad_rows": {"missing_time": 776},
            "weather_issues": {},
            "has_weather": weather,
            "has_cancelled": True,
        },
        split={
            "rule": "temporal by month: first 70% train, next 15% validation, last 15% test",
            "unit": "month",
            "train": {
                "window": ["2013-01-01", "2013-08-31"],
                "scheduled": 9001,
                "delay_rows": 8800,
                "cancelled": 201,
            },
            "validation": {
                "window": ["2013-09-01", "2013-10-31"],
                "scheduled": 2002,
                "delay_rows": 1950,
                "cancelled": 52,
            },
            "test": {
                "window": ["2013-11-01", "2013-12-31"],
                "scheduled": 2003,
                "delay_rows": 1960,
                "cancelled": 43,
            },
        },
        label={
            "thresholds": [15, 30],
            "definitions": {
                "15": "departure delay >= 15 minutes",
                "30": "departure delay >= 30 minutes",
            },
            "primary": 15,
            "cancelled_flights": "never delay rows; only the cancellation model sees them",
        },
        training={
            "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
            "weather_hidden_share": 0.3 if weather else None,
            "iterations": iterations,
            "calibration": calibration,
            "retrained_on_all_rows": False,
            "metrics_from": "this bundle's own models on the test window",
        },
        metrics={
            "primary_threshold": 15,
            "model": model,
            "cancellation": {
                "rows": 2003,
                "roc_auc": 0.6543,
                "pr_auc": 0.0432,
                "brier": 0.0205,
                "log_loss": 0.0987,
                "ece": 0.0031,
                "mean_predicted": 0.0214,
                "observed_rate": 0.0215,
            },
            "baseline": {**_summary(0.6666, None), "description": "the seed project's shape"},
            "test_window": ["2013-11-01", "2013-12-31"],
            "validation": {
                "decision_threshold": {
                    "threshold": 0.3141,
                    "precision": 0.4321,
                    "recall": 0.6012,
                    "f1": 0.5028,
                },
                "note": "chosen on the validation window maximising F1",
            },
        },
    )


def make_curves(*, weather: bool = True) -> dict[str, Any]:
    """Curves shaped as `evaluate` and the pipeline store them in evaluation.json."""
    cases = ("with_weather", "without_weather") if weather else ("without_weather",)
    roc = {"baseline": {"x": [0.0, 0.3, 1.0], "y": [0.0, 0.5, 1.0]}}
    reliability = {
        "baseline": {
            "bin_lower": [0.0, 0.5],
            "count": [10.0, 5.0],
            "mean_predicted": [0.2, 0.6],
            "observed_rate": [0.25, 0.5],
        }
    }
    factor_weight = {}
    for n, case in enumerate(cases):
        roc[f"model_{case}"] = {"x": [0.0, 0.2, 0.5, 1.0], "y": [0.0, 0.4 + n / 10, 0.8, 1.0]}
        reliability[f"model_{case}"] = {
            "bin_lower": [0.0, 0.1, 0.2],
            "count": [50.0, 30.0, 9.0],
            "mean_predicted": [0.05, 0.15, 0.27],
            "observed_rate": [0.06, 0.14, 0.3],
        }
        weights = dict.fromkeys(GROUP_NAMES, 0.0)
        weights.update({"time": 0.31 - n / 10, "airline": 0.12, "route": 0.08})
        if case == "with_weather":
            weights[WEATHER_FIELDS[0]] = 0.2
        factor_weight[case] = weights
    rate = [None if h < 5 else 0.1 + h / 100 for h in range(24)]
    return {
        "roc": roc,
        "reliability": reliability,
        "factor_weight": factor_weight,
        "delay_rate_by_hour": {
            "hour": list(range(24)),
            "train": rate,
            "test": [None if v is None else v + 0.05 for v in rate],
        },
        "label": "departure delay >= 15 minutes",
    }


def test_every_file_and_the_markdown_links_them() -> None:
    files = render_card(make_manifest(), make_curves())
    assert set(files) == ALL_FILES
    assert all("/" not in name for name in files)
    text = files[CARD_FILE].decode("utf-8")
    for plot in ALL_FILES - {CARD_FILE}:
        assert f"]({plot})" in text


def test_markdown_names_the_version_and_the_manifest_numbers() -> None:
    text = render_card(make_manifest(), make_curves())[CARD_FILE].decode("utf-8")
    assert text.startswith("# Model card — FlightOnTime m-0123456789abcdef")
    # Metrics of the manifest, with four decimals.
    for number in (
        "0.7123",
        "0.7023",
        "0.6666",
        "0.4124",
        "0.1532",
        "0.4712",
        "0.0123",
        "0.6987",
        "0.3141",
        "0.4568",
        "0.5679",
        "0.5012",
        "0.6543",
        "0.0031",
        "0.4321",
        "0.6012",
        "0.0177",
        "0.0288",
        "0.0199",
        "0.0311",
    ):
        assert number in text, number
    assert "0.71230" not in text  # four decimals, not the stored precision
    # The chain of each variant with its members and trees, the split, the calibration
    # decisions of each variant with their reasons.
    for row in (
        "| weather | 15 min | departure delay >= 15 minutes | — | 2 | none | 321 + 320 |",
        "| weather | 30 min | departure delay >= 30 minutes, among flights with departure delay"
        " >= 15 | 15 min | 1 | platt | 123 |",
        "| weather | cancellation | flight cancelled | — | 1 | none | 77 |",
        "| plain | 15 min | departure delay >= 15 minutes | — | 1 | none | 111 |",
        "| plain | 30 min | departure delay >= 30 minutes, among flights with departure delay"
        " >= 15 | 15 min | 1 | isotonic | 123 |",
        "| plain | cancellation | flight cancelled | — | 1 | none | 77 |",
    ):
        assert f"\n{row}\n" in text, row
    header = "| variant | model | answers | conditional on | members | calibration | trees |"
    assert text.index(header) < text.index("| weather | 15 min") < text.index("| plain | 15 min")
    assert "| train | 2013-01-01 → 2013-08-31 | 9001 | 8800 | 201 |" in text
    for line in (
        "- weather, 15 min: **none** — no calibrator improved the shape (validation ECE before"
        " calibration 0.0177).",
        "- weather, 30 min: **platt** — platt improved the shape on both halves (validation ECE"
        " before calibration 0.0288).",
        "- weather, cancellation: **none** — validation window too small.",
        "- plain, 15 min: **none** — the plain model needed none (validation ECE before"
        " calibration 0.0199).",
        "- plain, 30 min: **isotonic** — isotonic improved the plain shape (validation ECE before"
        " calibration 0.0311).",
        "- plain, cancellation: **none** — validation window too small.",
    ):
        assert f"\n{line}\n" in text, line
    assert "`load_model` + `predict_many`" in text
    assert "Retrained on all rows" not in text
    assert "HistGradientBoosting" in text
    assert "LightGBM" not in text


def test_retrained_bundle_says_where_its_metrics_come_from() -> None:
    manifest = make_manifest()
    manifest.training = {
        **manifest.training,
        "retrained_on_all_rows": True,
        "metrics_from": "the evaluated run m-feedfacefeedface",
    }
    text = render_card(manifest, make_curves())[CARD_FILE].decode("utf-8")
    assert (
        "**Retrained on all rows.** Metrics come from the evaluated run m-feedfacefeedface" in text
    )


def test_without_weather() -> None:
    files = render_card(make_manifest(weather=False), make_curves(weather=False))
    assert set(files) == ALL_FILES
    text = files[CARD_FILE].decode("utf-8")
    assert "trained without weather" in text
    assert "model, weather given" not in text
    # Only the plain variant, in the model table and the calibration lines.
    assert "| plain | 15 min | departure delay >= 15 minutes | — | 1 | none | 111 |" in text
    assert "- plain, 30 min: **isotonic**" in text
    assert "| weather |" not in text
    assert "- weather, " not in text


def test_pngs_are_valid_and_deterministic() -> None:
    first = render_card(make_manifest(), make_curves())
    second = render_card(make_manifest(), make_curves())
    assert first == second
    for name in ALL_FILES - {CARD_FILE}:
        assert first[name].startswith(PNG_MAGIC), name
        assert b"Software" not in first[name]


@pytest.mark.parametrize(
    ("curve", "plot"),
    [
        ("roc", ROC_PLOT),
        ("reliability", RELIABILITY_PLOT),
        ("factor_weight", FACTORS_PLOT),
        ("delay_rate_by_hour", BY_HOUR_PLOT),
    ],
)
def test_a_missing_curve_omits_its_plot_and_link(curve: str, plot: str) -> None:
    curves = make_curves()
    del curves[curve]
    files = render_card(make_manifest(), curves)
    assert set(files) == ALL_FILES - {plot}
    text = files[CARD_FILE].decode("utf-8")
    assert plot not in text
    for other in ALL_FILES - {CARD_FILE, plot}:
        assert f"]({other})" in text


def test_no_curves_at_all_gives_the_markdown_only() -> None:
    files = render_card(make_manifest(), {})
    assert set(files) == {CARD_FILE}
    assert "## Plots" not in files[CARD_FILE].decode("utf-8")


def _tables() -> FeatureTables:
    n = 4
    columns = FlightColumns(
        airline=np.array(["AA", "AA", "B6", "B6"], dtype=object),
        origin=np.array(["KJFK"] * n, dtype=object),
        destination=np.array(["KBOS", "KLAX", "KBOS", "KLAX"], dtype=object),
        minutes=np.array([22_000_000 + 60 * i for i in range(n)], dtype=np.int64),
        distance_m=np.full(n, 300_000.0),
        weather=np.full((n, N_WEATHER), np.nan),
    )
    return FeatureTables.fit(
        columns,
        np.array([0.0, 1.0, 0.0, 1.0]),
        label_threshold_min=15,
        window=(date(2013, 1, 1), date(2013, 8, 31)),
    )


def _bundle(path: Path, evaluation: bytes | None) -> Manifest:
    files = {GRAPH_FILE: b"not read by the card", TABLES_FILE: _tables().to_json()}
    if evaluation is not None:
        files[EVALUATION_FILE] = evaluation
    return write_bundle(path, make_manifest(), files)


def test_write_card_from_a_bundle(tmp_path: Path) -> None:
    curves = make_curves()
    manifest = _bundle(tmp_path / "bundle", msgspec.json.encode(curves))
    out = tmp_path / "card"
    path = write_card(tmp_path / "bundle", out)
    assert path == out / CARD_FILE
    assert {p.name for p in out.iterdir()} == ALL_FILES
    text = path.read_text(encoding="utf-8")
    assert manifest.model_version in text
    assert manifest.model_version != "m-0123456789abcdef"  # write_bundle set the real one
    expected = render_card(manifest, msgspec.json.decode(msgspec.json.encode(curves)))
    assert all((out / name).read_bytes() == data for name, data in expected.items())


def test_write_card_refuses_a_directory_without_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"manifest\.json"):
        write_card(tmp_path / "empty", tmp_path / "card")
    with pytest.raises(BundleError, match="no model bundle directory"):
        write_card(tmp_path / "absent", tmp_path / "card")
    assert not (tmp_path / "card").exists()


def test_write_card_needs_the_evaluation(tmp_path: Path) -> None:
    _bundle(tmp_path / "bundle", None)
    with pytest.raises(BundleError, match="missing: the card needs the evaluation data") as info:
        write_card(tmp_path / "bundle", tmp_path / "card")
    assert info.value.file == EVALUATION_FILE


def test_write_card_refuses_a_tampered_evaluation(tmp_path: Path) -> None:
    _bundle(tmp_path / "bundle", msgspec.json.encode(make_curves()))
    (tmp_path / "bundle" / EVALUATION_FILE).write_bytes(b"{}")
    with pytest.raises(BundleError, match="sha256"):
        write_card(tmp_path / "bundle", tmp_path / "card")


def test_write_card_keeps_out_of_the_bundle(tmp_path: Path) -> None:
    _bundle(tmp_path / "bundle", msgspec.json.encode(make_curves()))
    with pytest.raises(ValueError, match="outside the bundle"):
        write_card(tmp_path / "bundle", tmp_path / "bundle")
