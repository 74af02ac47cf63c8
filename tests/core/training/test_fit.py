"""Fitting the chain: weather hidden on a seeded share, conditional models on late flights."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from flightontime_core.bundle import CANCELLATION
from flightontime_core.features import FEATURE_INDEX, N_FEATURES, WEATHER_SLICE
from flightontime_core.training.fit import (
    ALL_FEATURES,
    NO_WEATHER,
    PLAIN_FEATURES,
    WEATHER_COLUMNS,
    FitConfig,
    fit_models,
    hide_weather,
)


def test_hide_weather_hides_a_seeded_share_of_rows() -> None:
    x = np.ones((20_000, N_FEATURES), dtype=np.float32)
    hidden = hide_weather(x, 0.45, seed=42)
    assert np.isnan(x).sum() == 0  # a copy
    blind = np.isnan(hidden[:, WEATHER_SLICE]).all(axis=1)
    assert blind.mean() == pytest.approx(0.45, abs=0.02)
    assert not np.isnan(hidden[:, : WEATHER_SLICE.start]).any()
    assert np.array_equal(hide_weather(x, 0.45, seed=42), hidden, equal_nan=True)
    assert not np.array_equal(hide_weather(x, 0.45, seed=7), hidden, equal_nan=True)


def test_fit_models_trains_both_variants_and_conditional_models_on_late_flights() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    delay = np.where(x[:, FEATURE_INDEX["hour"]] > 0, 40.0, -2.0) + rng.normal(0, 20, n)
    cancelled = rng.random(n) < 0.05
    delay[cancelled] = np.nan
    config = FitConfig(params={"max_iter": 5, "min_samples_leaf": 20, "early_stopping": False})
    fitted = fit_models(x, delay, cancelled, None, (15, 30), config, True, with_cancellation=True)
    assert list(fitted.models) == ["weather:15", "plain:15", "30", CANCELLATION]
    assert fitted.iterations() == {
        "weather:15": [5, 5],
        "plain:15": [5],
        "30": [5],
        CANCELLATION: [5],
    }
    # The plain model reads neither the weather nor the days to the nearest holiday.
    (plain,) = fitted.models["plain:15"]
    assert plain.features == PLAIN_FEATURES
    assert not set(WEATHER_COLUMNS) & set(plain.features)
    assert FEATURE_INDEX["days_to_holiday"] not in plain.features
    assert fitted.variant("plain", (15, 30))["15"] == fitted.models["plain:15"]
    assert fitted.variant("weather", (15, 30))["30"] == fitted.models["30"]
    flown = ~np.isnan(delay)
    late15 = flown & (delay >= 15)
    p15 = plain.predict(x)
    assert (
        p15[x[:, FEATURE_INDEX["hour"]] > 0].mean() > p15[x[:, FEATURE_INDEX["hour"]] <= 0].mean()
    )
    # The conditional model never saw an on-time flight: its base rate is that of the late ones.
    p30 = fitted.models["30"][0].predict(x[late15])
    assert p30.mean() == pytest.approx((delay[late15] >= 30).mean(), abs=0.08)
    stages: list[str] = []
    fit_models(x, delay, cancelled, None, (15,), config, False, False, None, stages.append)
    assert stages == ["model 15 min, without weather"]
    assert list(fit_models(x, delay, cancelled, None, (15,), config, False, False).models) == [
        "plain:15"
    ]


def test_shared_models_read_every_feature_with_weather_and_none_of_it_without() -> None:
    """With weather, the weather members and the shared models read every feature (the weather
    hidden on a seeded share of rows, a different share per member); without it, the shared
    models read the non-weather columns (the fix for training on sources without weather)."""
    rng = np.random.default_rng(1)
    n = 1500
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    delay = np.where(x[:, FEATURE_INDEX["hour"]] > 0, 40.0, -2.0) + rng.normal(0, 20, n)
    cancelled = rng.random(n) < 0.05
    delay[cancelled] = np.nan
    config = FitConfig(params={"max_iter": 3, "min_samples_leaf": 20, "early_stopping": False})
    with_weather = fit_models(x, delay, cancelled, None, (15, 30), config, True, True)
    members = with_weather.models["weather:15"]
    assert [m.features for m in members] == [ALL_FEATURES, ALL_FEATURES]
    assert members[0].model.random_state != members[1].model.random_state
    assert not np.array_equal(members[0].predict(x), members[1].predict(x))
    for key in ("30", CANCELLATION):
        assert [m.features for m in with_weather.models[key]] == [ALL_FEATURES], key
    assert with_weather.variant("weather", (15, 30)) == {
        "15": members,
        "30": with_weather.models["30"],
        CANCELLATION: with_weather.models[CANCELLATION],
    }
    assert with_weather.variant("plain", (15, 30))["15"] == with_weather.models["plain:15"]
    without = fit_models(x, delay, cancelled, None, (15, 30), config, False, True)
    assert list(without.models) == ["plain:15", "30", CANCELLATION]
    assert without.models["plain:15"][0].features == PLAIN_FEATURES
    for key in ("30", CANCELLATION):
        (shared,) = without.models[key]
        assert shared.features == NO_WEATHER, key
        assert not set(WEATHER_COLUMNS) & set(shared.features), key
    assert FEATURE_INDEX["days_to_holiday"] in NO_WEATHER


def test_early_stopping_keeps_the_trees_up_to_the_best_validation_loss() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from flightontime_core.training.fit import ALL_FEATURES, fit_one

    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] + rng.normal(0, 2.0, n) > 0).astype(np.float64)
    xv = rng.normal(size=(2000, N_FEATURES)).astype(np.float32)
    yv = (xv[:, 0] + rng.normal(0, 2.0, 2000) > 0).astype(np.float64)
    params = {"learning_rate": 0.3, "max_iter": 300, "min_samples_leaf": 20,
              "early_stopping": True, "validation_fraction": None, "n_iter_no_change": 15,
              "scoring": "loss", "tol": 1e-7}  # fmt: skip
    fitted = fit_one(x, y, ALL_FEATURES, (xv, yv), params, seed=5)
    # The same fit left to scikit-learn keeps the patience trees past the best iteration.
    plain = HistGradientBoostingClassifier(random_state=5, **params)
    plain.fit(x, y.astype(np.int64), X_val=xv, y_val=yv.astype(np.int64))
    best = int(np.argmax(plain.validation_score_))
    assert 0 < best < plain.n_iter_
    assert fitted.iterations == best
    # Its answers are exactly the early-stopped model's at its best iteration.
    staged = list(plain.staged_predict_proba(xv.astype(np.float64)))[best - 1][:, 1]
    assert np.array_equal(fitted.predict(xv), staged)
