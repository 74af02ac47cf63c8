"""A training run end to end: split by time, fit the chain, choose calibration and the decision
threshold on validation, export one ONNX graph, evaluate it through the library against the
baseline, store self-test flights and the model card, and install a verified bundle."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from flightontime_core.__about__ import __version__
from flightontime_core.bundle import (
    BUNDLE_FORMAT,
    CANCELLATION,
    EVALUATION_FILE,
    GRAPH_FILE,
    MANIFEST_FILE,
    PLAIN_VARIANT,
    TABLES_FILE,
    WEATHER_VARIANT,
    Behaviour,
    Calibration,
    Manifest,
    ModelSpec,
    SelfTestCase,
    Variant,
    write_bundle,
)
from flightontime_core.calibration import calibrate
from flightontime_core.features import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    FeatureTables,
    FlightColumns,
    build_features,
)
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.model import load_model
from flightontime_core.training import export
from flightontime_core.training.calibrate import choose_calibrator, choose_decision_threshold
from flightontime_core.training.evaluate import baseline_section, evaluate, flights_of, rate_by_hour
from flightontime_core.training.fit import (
    BASE_PARAMS,
    CONDITIONAL_PARAMS,
    FIT_THREADS,
    WEATHER_MEMBERS,
    FitConfig,
    Fitted,
    FittedModels,
    fit_models,
    without_weather,
)
from flightontime_core.training.sources.table import LoadResult
from flightontime_core.training.split import (
    Split,
    delay_label,
    label_definition,
    late_by,
    temporal_split,
)

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_THRESHOLDS: tuple[int, ...] = (15, 30, 60)
MIN_CANCELLED_TO_MODEL = 50
SELF_TEST_ROUTES = 4
Progress = Callable[[str], None]


@dataclass
class TrainConfig:
    """What to train; the defaults make the committed default model."""

    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    seed: int = 42
    retrain_all: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)  # overrides of BASE_PARAMS
    baseline: bool = True
    card: bool = True
    # History tables computed elsewhere (flightontime_core.cluster, over more rows than the
    # fit sees); None fits them on the training window here.
    tables: FeatureTables | None = None

    def __post_init__(self) -> None:
        if self.tables is not None and self.retrain_all:
            raise ValueError("given feature tables cannot be refitted on all rows (retrain_all)")
        thresholds = tuple(int(t) for t in self.thresholds)
        if not thresholds or any(t < 0 for t in thresholds):
            raise ValueError("thresholds must be one or more minutes >= 0")
        if list(thresholds) != sorted(set(thresholds)):
            raise ValueError("thresholds must be increasing and distinct (the first is primary)")
        self.thresholds = thresholds

    def stages(self) -> int:
        """How many progress stages a run reports at most (a source with weather and
        cancelled flights; fewer otherwise), for a progress bar's total."""
        per_fit = 2 + 2 + (len(self.thresholds) - 1) + 1
        after = 4 + (1 if self.baseline else 0)
        return per_fit + after + ((1 + per_fit) if self.retrain_all else 0)


@dataclass
class TrainResult:
    """What a training run wrote and measured."""

    bundle_dir: Path
    manifest: Manifest
    seconds: dict[str, float]  # wall time per stage
    parity: dict[str, float]  # max |scikit-learn - onnxruntime| per model on the test window


@dataclass
class _Fit:
    tables: FeatureTables
    fitted: FittedModels


def _fit_window(
    columns: FlightColumns,
    delay: np.ndarray,
    cancelled: np.ndarray,
    split: Split,
    rows: np.ndarray,
    window: tuple[Any, Any],
    config: TrainConfig,
    has_weather: bool,
    with_cancellation: bool,
    rounds: Mapping[str, list[int]] | None,
    say: Progress,
) -> tuple[_Fit, np.ndarray]:
    """Tables and models on `rows`; returns them and the full feature matrix."""
    primary = config.thresholds[0]
    say("feature tables")
    tables = config.tables or FeatureTables.fit(
        columns.take(rows),
        delay_label(delay[rows], primary),
        label_threshold_min=primary,
        window=window,
    )
    say("features")
    x = build_features(columns, tables)
    validation = None
    if rounds is None:
        v = split.validation
        validation = (x[v], delay[v], cancelled[v])
    fitted = fit_models(
        x[rows],
        delay[rows],
        cancelled[rows],
        validation,
        config.thresholds,
        FitConfig(seed=config.seed, params=config.params),
        has_weather,
        with_cancellation,
        rounds,
        say,
    )
    return _Fit(tables, fitted), x


def _variants(
    fitted: FittedModels, thresholds: tuple[int, ...], has_weather: bool
) -> dict[str, dict[str, list[Fitted]]]:
    names = [WEATHER_VARIANT, PLAIN_VARIANT] if has_weather else [PLAIN_VARIANT]
    return {name: fitted.variant(name, thresholds) for name in names}


def _served_rows(x: np.ndarray, has_weather: bool) -> dict[str, np.ndarray]:
    """The rows each variant answers: these with their weather, and the same without."""
    if not has_weather:
        return {PLAIN_VARIANT: x}
    return {WEATHER_VARIANT: x, PLAIN_VARIANT: without_weather(x)}


def _calibrate(
    raw: Mapping[str, Mapping[str, np.ndarray]],
    thresholds: tuple[int, ...],
    delay_val: np.ndarray,
    cancelled_val: np.ndarray,
    second_half: np.ndarray,
) -> tuple[dict[str, dict[str, Calibration]], dict[str, Any], dict[str, float]]:
    """Each variant's calibrations, chosen on its raw validation probabilities (`raw`, by
    variant and model key, on the validation rows it answers); the reports; the decision
    threshold chosen on every variant's primary answers together."""
    calibrations: dict[str, dict[str, Calibration]] = {}
    reports: dict[str, Any] = {}
    primaries: list[np.ndarray] = []
    for name, by_key in raw.items():
        calibrations[name] = {}
        chained = np.ones(delay_val.shape[0])
        previous: int | None = None
        for threshold in thresholds:
            key = str(threshold)
            y = delay_label(delay_val, threshold)
            # A conditional model is calibrated on the flights it answers for.
            keep = ~np.isnan(y) & late_by(delay_val, previous)
            calibrations[name][key], reports[f"{name}:{key}"] = choose_calibrator(
                by_key[key][keep], y[keep], second_half[keep]
            )
            chained = chained * calibrate(calibrations[name][key], by_key[key])
            if previous is None:
                primaries.append(chained)
            previous = threshold
        if CANCELLATION in by_key:
            calibrations[name][CANCELLATION], reports[f"{name}:{CANCELLATION}"] = choose_calibrator(
                by_key[CANCELLATION], cancelled_val.astype(np.float64), second_half
            )
    y_primary = delay_label(delay_val, thresholds[0])
    stacked_y = np.concatenate([y_primary] * len(primaries))
    keep = ~np.isnan(stacked_y)
    decision = choose_decision_threshold(np.concatenate(primaries)[keep], stacked_y[keep])
    return calibrations, reports, decision


def _variant_specs(
    layouts: Mapping[str, export.VariantLayout],
    calibrations: Mapping[str, Mapping[str, Calibration]],
    thresholds: Sequence[int],
) -> tuple[Variant, ...]:
    out = []
    for name, layout in layouts.items():
        specs: list[ModelSpec] = []
        previous: int | None = None
        for threshold in thresholds:
            key = str(threshold)
            label = label_definition(threshold)
            if previous is not None:
                label = f"{label}, among flights with {label_definition(previous)}"
            specs.append(
                ModelSpec(
                    key=key,
                    columns=layout.columns[key],
                    given=previous,
                    label=label,
                    calibration=calibrations[name][key],
                )
            )
            previous = threshold
        if CANCELLATION in layout.columns:
            specs.append(
                ModelSpec(
                    key=CANCELLATION,
                    columns=layout.columns[CANCELLATION],
                    label="flight cancelled",
                    calibration=calibrations[name][CANCELLATION],
                )
            )
        out.append(
            Variant(
                name=name,
                graph_input=layout.graph_input,
                graph_output=layout.graph_output,
                models=tuple(specs),
                explanation=layout.explanation,
            )
        )
    return tuple(out)


def train_bundle(
    load: LoadResult, out: Path, config: TrainConfig | None = None, progress: Progress | None = None
) -> TrainResult:
    """Train, calibrate, export, evaluate against the baseline and install a verified bundle."""
    config = config or TrainConfig()
    say: Progress = progress or (lambda _stage: None)
    clock: dict[str, float] = {}
    started = last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        clock[stage] = round(now - last, 3)
        last = now

    df = load.flights.sort_values("scheduled_departure", kind="mergesort").reset_index(drop=True)
    if len(df) == 0:
        raise ValueError("the source produced no flights")
    has_weather = bool(load.has_weather) and all(c in df.columns for c in WEATHER_FIELDS)
    columns = FlightColumns.from_frame(df)
    if not has_weather:
        columns = columns.without_weather()
    split = temporal_split(df["scheduled_departure"].to_numpy())
    cancelled = df["cancelled"].to_numpy(dtype=bool)
    raw_delay = df["dep_delay_min"].to_numpy(dtype=np.float64, na_value=np.nan)
    delay = np.where(cancelled, np.nan, raw_delay)
    n_cancelled = int(cancelled[split.train].sum())
    with_cancellation = n_cancelled >= MIN_CANCELLED_TO_MODEL
    if not cancelled.any():
        cancellation_reason = "the source has no cancelled flights"
    elif not with_cancellation:
        cancellation_reason = (
            f"only {n_cancelled} cancelled flights in the training window "
            f"(at least {MIN_CANCELLED_TO_MODEL} needed)"
        )
    else:
        cancellation_reason = "trained on every scheduled flight of the training window"
    lap("prepare")

    trained, x = _fit_window(
        columns, delay, cancelled, split, split.train, split.windows["train"], config,
        has_weather, with_cancellation, None, say,
    )  # fmt: skip
    variants = _variants(trained.fitted, config.thresholds, has_weather)
    lap("fit")

    say("export")
    graph, layouts = export.export_graph(variants, str(config.thresholds[0]))
    parity = export.check_parity(graph, variants, layouts, _served_rows(x[split.test], has_weather))
    lap("export")

    say("calibration")
    # On the graph's own answers for the validation window: what serving will calibrate.
    v = split.validation
    days = df["scheduled_departure"].to_numpy()[v].astype("datetime64[D]")
    second_half = days > days.min() + (days.max() - days.min()) // 2
    raw = export.graph_probabilities(graph, layouts, _served_rows(x[v], has_weather))
    calibrations, reports, decision = _calibrate(
        raw, config.thresholds, delay[v], cancelled[v], second_half
    )
    lap("calibrate")

    behaviour = Behaviour(
        feature_names=FEATURE_NAMES,
        feature_definition=FEATURE_DEFINITION,
        weather_fields=WEATHER_FIELDS if has_weather else (),
        thresholds=config.thresholds,
        decision_threshold=decision["threshold"],
        variants=_variant_specs(layouts, calibrations, config.thresholds),
    )
    manifest = Manifest(
        format=BUNDLE_FORMAT,
        model_version="",
        package_version=__version__,
        behaviour=behaviour,
        files={},
        countries=origin_countries(columns.origin[split.train]),
        cancellation={"available": with_cancellation, "reason": cancellation_reason},
        data=_data_section(load, df, has_weather, cancelled),
        split=_split_section(split, cancelled),
        label={
            "thresholds": list(config.thresholds),
            "definitions": {str(t): label_definition(t) for t in config.thresholds},
            "primary": config.thresholds[0],
            "cancelled_flights": "never delay rows; only the cancellation model sees them",
        },
        training=_training_section(
            config, has_weather, split, trained.fitted.iterations(), reports, decision
        ),
    )

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = {GRAPH_FILE: graph, TABLES_FILE: trained.tables.to_json()}
        write_bundle(tmp, manifest, files)
        say("evaluation")
        test_df = df.loc[split.test]
        labels = {t: delay_label(delay[split.test], t) for t in config.thresholds}
        model = load_model(tmp)
        curves, section = evaluate(model, test_df, labels, cancelled[split.test], has_weather)
        section["test_window"] = [d.isoformat() for d in split.windows["test"]]
        section["validation"] = {
            "decision_threshold": decision,
            "note": "chosen on the validation window (with and without weather) maximising F1",
        }
        primary_all = delay_label(delay, config.thresholds[0])
        minutes = columns.minutes
        curves["delay_rate_by_hour"] = {
            "hour": list(range(24)),
            "train": rate_by_hour(minutes[split.train], primary_all[split.train]),
            "test": rate_by_hour(minutes[split.test], primary_all[split.test]),
        }
        curves["label"] = label_definition(config.thresholds[0])
        lap("evaluate")
        if config.baseline:
            say("baseline")
            summary, roc, reliability = baseline_section(
                df, primary_all, split.train, split.test, config.seed
            )
            section["baseline"] = summary
            curves["roc"]["baseline"] = roc
            curves["reliability"]["baseline"] = reliability
            lap("baseline")
        manifest.metrics = section

        if config.retrain_all:
            say("retrain on all rows")
            everything = np.ones(len(df), dtype=bool)
            window = (split.windows["train"][0], split.windows["test"][1])
            refit, _ = _fit_window(
                columns, delay, cancelled, split, everything, window, config, has_weather,
                with_cancellation, trained.fitted.iterations(), say,
            )  # fmt: skip
            refit_variants = _variants(refit.fitted, config.thresholds, has_weather)
            graph, layouts = export.export_graph(refit_variants, str(config.thresholds[0]))
            export.check_parity(
                graph, refit_variants, layouts, _served_rows(x[split.test], has_weather)
            )
            files = {GRAPH_FILE: graph, TABLES_FILE: refit.tables.to_json()}
            evaluated = manifest.model_version
            manifest.behaviour = msgspec.structs.replace(
                behaviour, variants=_variant_specs(layouts, calibrations, config.thresholds)
            )
            manifest.countries = origin_countries(columns.origin)
            manifest.training = {
                **manifest.training,
                "retrained_on_all_rows": True,
                "window": [d.isoformat() for d in window],
                "evaluated_model_version": evaluated,
                "metrics_from": (
                    f"the evaluated run {evaluated} (trained on the training window only, tested "
                    "on the test window); this bundle was retrained on all rows, test window "
                    "included, with the same iteration counts, calibration and decision "
                    "threshold, so it has no held-out metrics of its own"
                ),
            }
            lap("retrain_all")

        say("self-test and card")
        write_bundle(tmp, manifest, files)
        manifest.self_test = _self_test(load_model(tmp), df, split, has_weather)
        manifest.created = datetime.now(UTC).isoformat(timespec="seconds")
        files[EVALUATION_FILE] = msgspec.json.encode(curves)
        if config.card:
            from flightontime_core.training.card import render_card

            files.update(render_card(manifest, curves))
        write_bundle(tmp, manifest, files)
        final = load_model(tmp)
        problems = final.self_test()
        if problems:  # the bundle must answer as measured before it replaces anything
            raise RuntimeError(f"the new bundle fails its own self-test: {problems}")
        _install(tmp, out, [*files, MANIFEST_FILE])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lap("save")
    clock["total"] = round(time.perf_counter() - started, 3)
    return TrainResult(out, manifest, clock, parity)


def origin_countries(origins: np.ndarray) -> tuple[str, ...]:
    """Sorted ISO 3166-1 alpha-2 countries of these origin airports (unknown ones left out)."""
    from flightontime_core.airports import resolve_airport

    found = {a.country for code in np.unique(origins).tolist() if (a := resolve_airport(code))}
    return tuple(sorted(c for c in found if c))


def _data_section(
    load: LoadResult, df: pd.DataFrame, has_weather: bool, cancelled: np.ndarray
) -> dict[str, Any]:
    first, last = df["scheduled_departure"].min(), df["scheduled_departure"].max()
    return {
        "source": load.source,
        "date_range": [first.date().isoformat(), last.date().isoformat()],
        "rows_read": int(load.rows_read),
        "rows": len(df),
        "bad_rows": dict(sorted(load.bad_rows.items())),
        "weather_issues": dict(sorted(load.weather_issues.items())),
        "has_weather": has_weather,
        "has_cancelled": bool(cancelled.any()),
    }


def _split_section(split: Split, cancelled: np.ndarray) -> dict[str, Any]:
    flown = ~cancelled

    def counts(mask: np.ndarray) -> dict[str, int]:
        return {
            "scheduled": int(mask.sum()),
            "delay_rows": int((mask & flown).sum()),
            "cancelled": int((mask & cancelled).sum()),
        }

    return {
        "rule": split.rule,
        "unit": split.unit,
        **{
            name: {"window": [a.isoformat(), b.isoformat()], **counts(getattr(split, name))}
            for name, (a, b) in split.windows.items()
        },
    }


def _training_section(
    config: TrainConfig,
    has_weather: bool,
    split: Split,
    iterations: Mapping[str, list[int]],
    calibration: Mapping[str, Any],
    decision: Mapping[str, float],
) -> dict[str, Any]:
    return {
        "estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "seed": config.seed,
        "fit_threads": FIT_THREADS,
        "params": {**BASE_PARAMS, **config.params},
        # The conditional models and the cancellation model.
        "conditional_params": {**BASE_PARAMS, **CONDITIONAL_PARAMS, **config.params},
        "weather_hidden_share": FitConfig().weather_hidden_share if has_weather else None,
        "variants": {
            WEATHER_VARIANT: (
                f"flights sent with weather: the mean of {WEATHER_MEMBERS} models on every "
                "feature, each trained with the weather hidden on a share of the rows"
                if has_weather
                else None
            ),
            PLAIN_VARIANT: (
                "flights without weather: a model of its own without the weather block and "
                "without days_to_holiday"
            ),
            "shared": "the conditional and cancellation models answer both variants",
        },
        "window": [d.isoformat() for d in split.windows["train"]],
        "iterations": dict(iterations),
        "calibration": dict(calibration),
        "decision_threshold": dict(decision),
        "retrained_on_all_rows": False,
        "metrics_from": "this bundle's own models on the test window",
    }


def _self_test(
    model: Any, df: pd.DataFrame, split: Split, has_weather: bool
) -> tuple[SelfTestCase, ...]:
    """Flights on the training window's busiest routes, from the test window, with the
    probabilities this bundle gives them (with their weather and without)."""
    train = df.loc[split.train]
    busiest = train.groupby(["airline", "origin", "destination"]).size().nlargest(SELF_TEST_ROUTES)
    test = df.loc[split.test]
    chosen = []
    for airline, origin, destination in busiest.index:
        on_route = test[
            (test["airline"] == airline)
            & (test["origin"] == origin)
            & (test["destination"] == destination)
        ]
        if len(on_route):
            chosen.append(on_route.iloc[[len(on_route) // 2]])
    if not chosen:
        return ()
    import pandas as pd

    rows = pd.concat(chosen)
    flights = flights_of(rows, False) + (flights_of(rows, True) if has_weather else [])
    cases = []
    for flight, answer in zip(flights, model.predict_many(flights), strict=True):
        probabilities = {str(k): round(v, 8) for k, v in answer.probabilities.items()}
        if answer.cancellation is not None:
            probabilities[CANCELLATION] = round(answer.cancellation, 8)
        weather = None
        if flight.weather is not None:
            weather = {
                n: v for n in WEATHER_FIELDS if (v := getattr(flight.weather, n)) is not None
            }
        cases.append(
            SelfTestCase(
                airline=flight.airline,
                origin=flight.origin,
                destination=flight.destination,
                departure=str(flight.departure),
                distance_m=flight.distance_m,
                weather=weather,
                probabilities=probabilities,
            )
        )
    return tuple(cases)


def _install(tmp: Path, out: Path, names: Sequence[str]) -> None:
    """Move a finished bundle into `out`, manifest last (no reader ever sees half a bundle);
    files the previous bundle there listed and this one does not are removed."""
    out.mkdir(parents=True, exist_ok=True)
    old_manifest = out / MANIFEST_FILE
    previous: list[str] = []
    if old_manifest.exists():
        try:
            previous = list(msgspec.json.decode(old_manifest.read_bytes(), type=_Files).files)
        except (msgspec.DecodeError, msgspec.ValidationError):
            previous = []
        old_manifest.unlink()  # the old files are about to change: no longer a valid bundle
    for name in names:
        if name != MANIFEST_FILE:
            os.replace(tmp / name, out / name)
    for stale in set(previous) - set(names):
        if Path(stale).name == stale:
            (out / stale).unlink(missing_ok=True)
    os.replace(tmp / MANIFEST_FILE, out / MANIFEST_FILE)


class _Files(msgspec.Struct):
    files: dict[str, str] = {}
