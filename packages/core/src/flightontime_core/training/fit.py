"""Fitting the chain of models with scikit-learn's HistGradientBoostingClassifier.

Delay models are a chain: the first threshold on every flown flight, each longer one on the
flights late by the previous threshold (P(>= 30) = P(>= 15) x P(>= 30 | >= 15)), so the
probabilities never cross and a conditional model needs few trees. The cancellation model
learns from every scheduled flight. Early stopping watches the temporal validation window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flightontime_core.bundle import CANCELLATION
from flightontime_core.features import WEATHER_SLICE
from flightontime_core.training.split import delay_label, late_by

# Fixed, not "all cores": the thread count changes the order of the gradient sums, and the
# same data and seed must give the same model on any machine.
FIT_THREADS = 2

# Small trees and early stopping: serving walks every tree of every model per flight.
BASE_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 1000,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 1000,
    "l2_regularization": 10.0,
    "max_bins": 255,
    "early_stopping": True,
    "validation_fraction": None,
    "n_iter_no_change": 50,
    "scoring": "loss",
    "tol": 1e-7,
}
# Conditional models learn from a few tens of thousands of late flights and start from their
# base rate: a larger step reaches the same held-out quality with far fewer trees.
CONDITIONAL_PARAMS: dict[str, Any] = {"learning_rate": 0.2}
# Share of training rows whose weather is hidden, so one model answers with and without it.
WEATHER_HIDDEN_SHARE = 0.45


@dataclass
class FitConfig:
    """Hyperparameters of one training run."""

    seed: int = 42
    params: Mapping[str, Any] = field(default_factory=dict)  # overrides of BASE_PARAMS
    weather_hidden_share: float = WEATHER_HIDDEN_SHARE


@dataclass
class FittedChain:
    """The fitted models by key ("15", "30", "60", "cancelled") and their iteration counts."""

    models: dict[str, Any]
    iterations: dict[str, int]


def _classifier(params: Mapping[str, Any], seed: int, rounds: int | None) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    settings = {**params, "random_state": seed}
    if rounds is not None:  # a refit with the evaluated run's size: no validation to stop on
        settings.update(max_iter=max(rounds, 1), early_stopping=False)
    return HistGradientBoostingClassifier(**settings)


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray] | None,
    params: Mapping[str, Any],
    seed: int,
    rounds: int | None,
) -> Any:
    from threadpoolctl import threadpool_limits

    model = _classifier(params, seed, rounds)
    with threadpool_limits(FIT_THREADS, user_api="openmp"):
        if validation is not None and rounds is None:
            model.fit(
                x, y.astype(np.int64), X_val=validation[0], y_val=validation[1].astype(np.int64)
            )
        else:
            model.fit(x, y.astype(np.int64))
    return model


def hide_weather(x: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of x with the weather of a seeded share of rows set to NaN (not given)."""
    x = x.copy()
    hide = np.random.default_rng(seed).random(x.shape[0]) < share
    x[hide, WEATHER_SLICE] = np.nan
    return x


def fit_chain(
    x: np.ndarray,
    delay: np.ndarray,
    cancelled: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    thresholds: tuple[int, ...],
    config: FitConfig,
    with_cancellation: bool,
    rounds: Mapping[str, int] | None = None,
    progress: Any = None,
) -> FittedChain:
    """Fit every model on training rows `x` (delay NaN where cancelled); `validation` is
    (x, delay, cancelled) of the validation window, or None with `rounds` for a refit."""
    say = progress or (lambda _stage: None)
    base = {**BASE_PARAMS, **config.params}
    models: dict[str, Any] = {}
    iterations: dict[str, int] = {}
    flown = ~np.isnan(delay)
    previous: int | None = None
    for k, threshold in enumerate(thresholds):
        key = str(threshold)
        say(f"model {key} min")
        rows = flown & late_by(delay, previous)
        held_out = None
        if validation is not None:
            xv, dv, _ = validation
            keep = ~np.isnan(dv) & late_by(dv, previous)
            held_out = (xv[keep], delay_label(dv[keep], threshold))
        params = base if previous is None else {**base, **CONDITIONAL_PARAMS, **config.params}
        model = _fit(
            x[rows],
            delay_label(delay[rows], threshold),
            held_out,
            params,
            config.seed + k,
            None if rounds is None else rounds[key],
        )
        models[key] = model
        iterations[key] = int(model.n_iter_)
        previous = threshold
    if with_cancellation:
        say("model cancelled")
        held_out = None
        if validation is not None:
            held_out = (validation[0], validation[2].astype(np.float64))
        model = _fit(
            x,
            cancelled.astype(np.float64),
            held_out,
            base,
            config.seed + len(thresholds),
            None if rounds is None else rounds[CANCELLATION],
        )
        models[CANCELLATION] = model
        iterations[CANCELLATION] = int(model.n_iter_)
    return FittedChain(models, iterations)
