"""Fitting the models with scikit-learn's HistGradientBoostingClassifier.

Two variants answer two kinds of request. Flights sent with a forecast ("weather"): the mean
of two models on every feature, each trained with the weather hidden on a seeded share of the
training rows. Flights without one ("plain", the Java backend's usual case): a model of its
own without the weather block and without `days_to_holiday`. Both variants share the chain's
conditional models (30 minutes given 15, 60 given 30: P(>= 30) = P(>= 15) x P(>= 30 | >= 15))
and the cancellation model. Each model reads a subset of the feature columns; the export maps
its trees back onto the full feature matrix. Early stopping watches the temporal validation
window. Every choice here was made on the validation window, never on the test months;
docs/model.md has the measurements behind each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flightontime_core.bundle import CANCELLATION
from flightontime_core.features import FEATURE_INDEX, N_FEATURES, WEATHER_SLICE
from flightontime_core.training.split import delay_label, late_by

# Fixed, not "all cores": the thread count changes the order of the gradient sums, and the
# same data and seed must give the same model on any machine.
FIT_THREADS = 2

# Small trees and early stopping: serving walks every tree of a variant per flight.
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
# The conditional models (a few tens of thousands of late flights, starting from their base
# rate) and the cancellation model reach the same or a better validation loss with a larger
# step and far fewer trees; the primary models do not (docs/model.md).
CONDITIONAL_PARAMS: dict[str, Any] = {"learning_rate": 0.2}
# Share of training rows whose weather is hidden, so a model answers with and without it.
WEATHER_HIDDEN_SHARE = 0.45
# Members averaged for flights with a forecast, and the seed offset between them.
WEATHER_MEMBERS = 2
MEMBER_SEED_STEP = 100

ALL_FEATURES: tuple[int, ...] = tuple(range(N_FEATURES))
WEATHER_COLUMNS: tuple[int, ...] = tuple(range(WEATHER_SLICE.start, WEATHER_SLICE.stop))
NO_WEATHER: tuple[int, ...] = tuple(i for i in ALL_FEATURES if i not in WEATHER_COLUMNS)
# The plain model also leaves out the days to the nearest holiday: far from a holiday it acts
# as a season proxy that does not carry over to later months.
PLAIN_FEATURES: tuple[int, ...] = tuple(
    i for i in NO_WEATHER if i != FEATURE_INDEX["days_to_holiday"]
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Fitted:
    """A fitted classifier and the feature columns it reads (indices into the full matrix)."""

    model: Any
    features: tuple[int, ...]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(class 1) for rows of the full feature matrix (float32 values, as served)."""
        rows = x[:, list(self.features)].astype(np.float32).astype(np.float64)
        return np.asarray(self.model.predict_proba(rows)[:, 1])

    @property
    def iterations(self) -> int:
        """Boosting rounds kept (trees)."""
        return int(self.model.n_iter_)


@dataclass
class FitConfig:
    """Hyperparameters of one training run."""

    seed: int = 42
    params: Mapping[str, Any] = field(default_factory=dict)  # overrides of BASE_PARAMS
    weather_hidden_share: float = WEATHER_HIDDEN_SHARE


@dataclass
class FittedModels:
    """Every fitted model by name: "weather:<T>" and "plain:<T>" for the primary threshold T,
    then the shared "<T>" conditional models and "cancelled"; each a list of members."""

    models: dict[str, list[Fitted]]

    def variant(self, name: str, thresholds: tuple[int, ...]) -> dict[str, list[Fitted]]:
        """A variant's members by model key ("15", "30", "60", "cancelled")."""
        primary = str(thresholds[0])
        out = {primary: self.models[f"{name}:{primary}"]}
        for key in [str(t) for t in thresholds[1:]] + [CANCELLATION]:
            if key in self.models:
                out[key] = self.models[key]
        return out

    def iterations(self) -> dict[str, list[int]]:
        """Trees kept per model name and member."""
        return {name: [m.iterations for m in members] for name, members in self.models.items()}


def hide_weather(x: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of x with the weather of a seeded share of rows set to NaN (not given)."""
    x = x.copy()
    hide = np.random.default_rng(seed).random(x.shape[0]) < share
    x[hide, WEATHER_SLICE] = np.nan
    return x


def without_weather(x: np.ndarray) -> np.ndarray:
    """A copy of x with no weather given."""
    x = x.copy()
    x[:, WEATHER_SLICE] = np.nan
    return x


def fit_one(
    x: np.ndarray,
    y: np.ndarray,
    features: tuple[int, ...],
    validation: tuple[np.ndarray, np.ndarray] | None,
    params: Mapping[str, Any],
    seed: int,
    rounds: int | None = None,
) -> Fitted:
    """One classifier on `features` of x; early stopping on `validation` unless `rounds` is
    given (a refit with an evaluated run's size)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    settings = {**params, "random_state": seed}
    if rounds is not None:
        settings.update(max_iter=max(rounds, 1), early_stopping=False)
    model = HistGradientBoostingClassifier(**settings)
    cols = list(features)
    fit_kwargs: dict[str, Any] = {}
    if validation is not None and rounds is None:
        fit_kwargs = {"X_val": validation[0][:, cols], "y_val": validation[1].astype(np.int64)}
    with threadpool_limits(FIT_THREADS, user_api="openmp"):
        model.fit(x[:, cols], y.astype(np.int64), **fit_kwargs)
        if fit_kwargs:
            # scikit-learn keeps the trees grown while waiting for an improvement that never
            # came; the model that stopping chose has only the trees up to the best validation
            # loss. The same data and seed grow the same first trees, so a refit with that
            # many is that model (tests/core/training/test_fit.py holds them equal).
            best = int(np.argmax(model.validation_score_))
            if best < model.n_iter_:
                settings.update(max_iter=max(best, 1), early_stopping=False)
                model = HistGradientBoostingClassifier(**settings)
                model.fit(x[:, cols], y.astype(np.int64))
    return Fitted(model, features)


def fit_models(
    x: np.ndarray,
    delay: np.ndarray,
    cancelled: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    thresholds: tuple[int, ...],
    config: FitConfig,
    has_weather: bool,
    with_cancellation: bool,
    rounds: Mapping[str, list[int]] | None = None,
    progress: Progress | None = None,
) -> FittedModels:
    """Fit every model on training rows `x` (delay NaN where cancelled). `validation` is the
    validation window's (x, delay, cancelled), or None with `rounds` for a refit."""
    say = progress or (lambda _stage: None)
    base = {**BASE_PARAMS, **config.params}
    conditional = {**base, **CONDITIONAL_PARAMS, **config.params}
    flown = ~np.isnan(delay)
    primary = thresholds[0]
    models: dict[str, list[Fitted]] = {}

    def held_out(
        x_val: np.ndarray, d_val: np.ndarray, previous: int | None, threshold: int
    ) -> tuple[np.ndarray, np.ndarray]:
        keep = ~np.isnan(d_val) & late_by(d_val, previous)
        return x_val[keep], delay_label(d_val[keep], threshold)

    def size(name: str, member: int = 0) -> int | None:
        return None if rounds is None else rounds[name][member]

    rows = flown
    y = delay_label(delay[rows], primary)
    if has_weather:
        say(f"model {primary} min, with weather")
        stacked = None
        if validation is not None:
            xv, dv, _ = validation
            stacked = held_out(
                np.vstack([xv, without_weather(xv)]), np.concatenate([dv, dv]), None, primary
            )
        members = []
        for m in range(WEATHER_MEMBERS):
            seed = config.seed + m * MEMBER_SEED_STEP
            masked = hide_weather(x[rows], config.weather_hidden_share, seed)
            members.append(
                fit_one(masked, y, ALL_FEATURES, stacked, base, seed, size(f"weather:{primary}", m))
            )
        models[f"weather:{primary}"] = members
    say(f"model {primary} min, without weather")
    plain_val = (
        None if validation is None else held_out(validation[0], validation[1], None, primary)
    )
    models[f"plain:{primary}"] = [
        fit_one(x[rows], y, PLAIN_FEATURES, plain_val, base, config.seed, size(f"plain:{primary}"))
    ]

    # The shared models: every feature with the weather hidden on a share of rows when the
    # source has weather (they answer both variants), the non-weather columns otherwise.
    features = ALL_FEATURES if has_weather else NO_WEATHER
    x_shared = hide_weather(x, config.weather_hidden_share, config.seed) if has_weather else x
    x_val_shared = d_val_shared = c_val_shared = None
    if validation is not None:
        xv, dv, cv = validation
        if has_weather:
            xv, dv, cv = (
                np.vstack([xv, without_weather(xv)]),
                np.concatenate([dv, dv]),
                np.concatenate([cv, cv]),
            )
        x_val_shared, d_val_shared, c_val_shared = xv, dv, cv
    previous = primary
    for k, threshold in enumerate(thresholds[1:], start=1):
        key = str(threshold)
        say(f"model {key} min")
        given = flown & late_by(delay, previous)
        validation_k = None
        if x_val_shared is not None and d_val_shared is not None:
            validation_k = held_out(x_val_shared, d_val_shared, previous, threshold)
        models[key] = [
            fit_one(
                x_shared[given],
                delay_label(delay[given], threshold),
                features,
                validation_k,
                conditional,
                config.seed + k,
                size(key),
            )
        ]
        previous = threshold
    if with_cancellation:
        say("model cancelled")
        validation_c = None
        if x_val_shared is not None and c_val_shared is not None:
            validation_c = (x_val_shared, c_val_shared.astype(np.float64))
        models[CANCELLATION] = [
            fit_one(
                x_shared,
                cancelled.astype(np.float64),
                features,
                validation_c,
                conditional,
                config.seed + len(thresholds),
                size(CANCELLATION),
            )
        ]
    return FittedModels(models)
