"""Honest evaluation: metrics on the test window measured through the library's own serving
path (`load_model` + `predict_many`), and the seed project's model shape as a baseline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from flightontime_core.errors import FlightError
from flightontime_core.explain import GROUP_NAMES
from flightontime_core.flights import WEATHER_FIELDS, Flight, Weather
from flightontime_core.model import Model
from flightontime_core.prediction import Prediction
from flightontime_core.training import metrics

if TYPE_CHECKING:
    import pandas as pd


def flights_of(df: pd.DataFrame, with_weather: bool) -> list[Flight]:
    """The rows of a canonical flights table as `Flight`s (local departures, no offset)."""
    departures = df["scheduled_departure"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    weather: list[Weather | None] = [None] * len(df)
    if with_weather and all(name in df.columns for name in WEATHER_FIELDS):
        values = df[list(WEATHER_FIELDS)].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
        weather = [
            None
            if all(math.isnan(v) for v in row)
            else Weather(
                **{
                    n: None if math.isnan(v) else v
                    for n, v in zip(WEATHER_FIELDS, row, strict=True)
                }
            )
            for row in values
        ]
    return [
        Flight(airline=a, origin=o, destination=d, departure=t, distance_m=m, weather=w)
        for a, o, d, t, m, w in zip(
            df["airline"].tolist(),
            df["origin"].tolist(),
            df["destination"].tolist(),
            departures,
            df["distance_m"].tolist(),
            weather,
            strict=True,
        )
    ]


def predicted(model: Model, flights: Sequence[Flight]) -> list[Prediction]:
    """`predict_many`, refusing any flight the table should never contain."""
    answers = model.predict_many(flights)
    bad = [a for a in answers if isinstance(a, FlightError)]
    if bad:
        raise ValueError(f"{len(bad)} evaluation flights could not be predicted: {bad[0]}")
    return [a for a in answers if isinstance(a, Prediction)]


def _round(value: Any, digits: int = 6) -> Any:
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v, digits) for v in value]
    return value


def evaluate(
    model: Model,
    test: pd.DataFrame,
    labels: Mapping[int, np.ndarray],
    cancelled: np.ndarray,
    has_weather: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(evaluation curves for the card, metrics for the manifest) on the test rows."""
    primary = model.thresholds[0]
    y = labels[primary]
    keep = ~np.isnan(y)
    cases = [("without_weather", False)]
    if has_weather:
        cases.insert(0, ("with_weather", True))
    results: dict[str, Any] = {"with_weather": None, "without_weather": None}
    curves: dict[str, Any] = {"roc": {}, "reliability": {}, "factor_weight": {}}
    cancel: np.ndarray | None = None
    for case, weather in cases:
        answers = predicted(model, flights_of(test, weather))
        p = np.array([[a.probabilities[t] for t in model.thresholds] for a in answers])
        entry: dict[str, Any] = {}
        for k, threshold in enumerate(model.thresholds):
            yk = labels[threshold]
            rows = ~np.isnan(yk)
            summary = metrics.summary(yk[rows], p[rows, k])
            summary["at_decision_threshold"] = (
                metrics.classification_at(yk[rows], p[rows, k], model.decision_threshold)
                if k == 0
                else None
            )
            entry[str(threshold)] = summary
        results[case] = _round(entry)
        fpr, tpr = metrics.roc_curve(y[keep], p[keep, 0])
        curves["roc"][f"model_{case}"] = metrics.thin_curve(fpr, tpr)
        curves["reliability"][f"model_{case}"] = _round(metrics.reliability(y[keep], p[keep, 0]))
        weight = dict.fromkeys(GROUP_NAMES, 0.0)
        for a in answers:
            for f in a.factors:
                weight[f.group] += abs(f.weight)
        curves["factor_weight"][case] = _round(
            {g: w / max(len(answers), 1) for g, w in weight.items()}
        )
        if cancel is None and answers and answers[0].cancellation is not None:
            cancel = np.array([a.cancellation for a in answers], dtype=np.float64)
    section: dict[str, Any] = {"primary_threshold": primary, "model": results}
    if cancel is not None:
        section["cancellation"] = _round(metrics.summary(cancelled.astype(np.float64), cancel))
    return curves, section


def baseline_frame(df: pd.DataFrame, categories: Mapping[str, list[str]] | None) -> pd.DataFrame:
    """The seed project's five raw inputs, with its calendar split into numbers."""
    import pandas as pd

    when = df["scheduled_departure"].dt
    out = pd.DataFrame(
        {
            "distance": df["distance_m"].astype("float64"),
            "month": when.month,
            "day": when.day,
            "weekday": when.day_of_week,
            "hour": when.hour,
            "minute": when.minute,
        }
    )
    for name in ("airline", "origin", "destination"):
        cats = categories[name] if categories is not None else sorted(df[name].unique())
        # Values unseen in training become missing, as the seed pipeline's encoder did.
        out[name] = pd.Categorical(df[name].where(df[name].isin(cats)), categories=cats)
    return out


def train_baseline(
    df: pd.DataFrame, train_rows: np.ndarray, y: np.ndarray, test_rows: np.ndarray, seed: int
) -> np.ndarray:
    """The seed project's model shape on the same rows: gradient-boosted trees on the raw
    inputs with categories, classes balanced, no calibration; test-row probabilities."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from flightontime_core.training.fit import FIT_THREADS

    frame = baseline_frame(df.loc[train_rows], None)
    categories = {c: list(frame[c].cat.categories) for c in ("airline", "origin", "destination")}
    model = HistGradientBoostingClassifier(
        class_weight="balanced", categorical_features="from_dtype", random_state=seed
    )
    with threadpool_limits(FIT_THREADS, user_api="openmp"):
        model.fit(frame, y[train_rows].astype(np.int64))
    test = baseline_frame(df.loc[test_rows], categories)
    return np.asarray(model.predict_proba(test), dtype=np.float64)[:, 1]


def baseline_section(
    df: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> tuple[dict[str, Any], dict[str, list[float]], dict[str, Any]]:
    """The baseline's metrics, ROC curve and reliability bins on the test rows."""
    flown = ~np.isnan(y)
    p = train_baseline(df, train & flown, y, test & flown, seed)
    y_test = y[test & flown]
    summary: dict[str, Any] = metrics.summary(y_test, p)
    summary["description"] = (
        "the seed project's shape: gradient-boosted trees (HistGradientBoosting, default size) "
        "on airline, origin, destination (categories), distance, month, day, weekday, hour, "
        'minute; class_weight="balanced"; no calibration; same training window and test rows'
    )
    fpr, tpr = metrics.roc_curve(y_test, p)
    return _round(summary), metrics.thin_curve(fpr, tpr), _round(metrics.reliability(y_test, p))


def rate_by_hour(minutes: np.ndarray, y: np.ndarray) -> list[float | None]:
    """Observed rate of `y` by local hour of departure (None for hours without flights)."""
    hour = (minutes // 60) % 24
    keep = ~np.isnan(y)
    count = np.bincount(hour[keep], minlength=24)
    late = np.bincount(hour[keep], weights=y[keep], minlength=24)
    return [round(float(late[h] / count[h]), 6) if count[h] else None for h in range(24)]
