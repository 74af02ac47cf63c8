"""Calibration chosen on held-out data, and the decision threshold."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from flightontime_core.calibration import calibrate
from flightontime_core.training import metrics
from flightontime_core.training.calibrate import (
    choose_calibrator,
    choose_decision_threshold,
    fit_isotonic,
    fit_platt,
    level_neutral,
    logit_shift,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def test_platt_recovers_a_known_distortion(rng: np.random.Generator) -> None:
    truth = rng.uniform(0.02, 0.98, 200_000)
    y = (rng.random(truth.size) < truth).astype(float)
    logit = np.log(truth / (1 - truth))
    raw = _sigmoid(2.0 * logit - 0.5)  # overconfident and shifted
    calibration = fit_platt(raw, y)
    assert calibration.method == "platt"
    assert calibration.a == pytest.approx(0.5, abs=0.02)
    assert calibration.b == pytest.approx(0.25, abs=0.03)
    assert metrics.ece(y, calibrate(calibration, raw)) < 0.01


def test_isotonic_is_monotone(rng: np.random.Generator) -> None:
    raw = rng.random(20_000)
    y = (rng.random(raw.size) < raw**2).astype(float)
    calibration = fit_isotonic(raw, y)
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff(calibrate(calibration, grid)) >= 0)
    assert metrics.ece(y, calibrate(calibration, raw)) < 0.01
    constant = fit_isotonic(np.full(10, 0.3), np.zeros(10))  # one knot becomes two
    assert len(constant.x) == 2
    assert calibrate(constant, np.array([0.1, 0.9])).tolist() == [0.0, 0.0]


def test_level_neutral_keeps_the_mean(rng: np.random.Generator) -> None:
    raw = rng.uniform(0.05, 0.6, 10_000)
    y = (rng.random(raw.size) < 0.1).astype(float)
    for fitter in (fit_platt, fit_isotonic):
        neutral = level_neutral(fitter(raw, y), raw)
        assert calibrate(neutral, raw).mean() == pytest.approx(raw.mean(), abs=1e-4)


def test_logit_shift_reaches_the_target_mean(rng: np.random.Generator) -> None:
    p = rng.uniform(0.05, 0.6, 10_000)
    for target in (0.05, 0.2, 0.5):
        d = logit_shift(p, target)
        shifted = _sigmoid(np.log(p / (1 - p)) + d)
        assert shifted.mean() == pytest.approx(target, abs=1e-6)


def test_calibrator_is_chosen_when_the_shape_is_wrong(rng: np.random.Generator) -> None:
    truth = rng.uniform(0.05, 0.6, 60_000)
    y = (rng.random(truth.size) < truth).astype(float)
    logit = np.log(truth / (1 - truth))
    raw = _sigmoid(2.0 * (logit - logit.mean()) + logit.mean())  # overconfident, same level
    halves = np.arange(raw.size) >= raw.size // 2
    calibration, report = choose_calibrator(raw, y, halves)
    assert report["decision"] in ("platt", "isotonic")
    assert calibration.method == report["decision"]
    assert metrics.ece(y, calibrate(calibration, raw)) < metrics.ece(y, raw)
    assert calibrate(calibration, raw).mean() == pytest.approx(raw.mean(), abs=1e-3)


def test_no_calibrator_for_calibrated_probabilities(rng: np.random.Generator) -> None:
    raw = rng.uniform(0.05, 0.6, 60_000)
    y = (rng.random(raw.size) < raw).astype(float)
    calibration, report = choose_calibrator(raw, y, np.arange(raw.size) % 2 == 0)
    assert report["decision"] == "none"
    assert calibration.method == "none"


def test_a_validation_window_with_its_own_level_does_not_buy_a_calibrator(
    rng: np.random.Generator,
) -> None:
    """The design notes' trap: a calmer window makes every calibrator look good in plain ECE."""
    raw = rng.uniform(0.05, 0.6, 60_000)
    calmer = _sigmoid(np.log(raw / (1 - raw)) - 0.6)
    y = (rng.random(raw.size) < calmer).astype(float)
    halves = np.arange(raw.size) >= raw.size // 2
    calibration, report = choose_calibrator(raw, y, halves)
    plain = report["held_out_ece"]
    assert min(plain["platt"]) < min(plain["none"])  # plain ECE would have adopted it
    assert calibration.method == "none"


def test_too_small_a_window_keeps_the_raw_model(rng: np.random.Generator) -> None:
    raw = rng.random(150)
    y = (rng.random(raw.size) < raw).astype(float)
    calibration, report = choose_calibrator(raw, y, np.arange(raw.size) < 75)
    assert calibration.method == "none"
    assert "too small" in report["reason"]


def test_decision_threshold_maximises_f1(rng: np.random.Generator) -> None:
    p = rng.random(5000)
    y = (rng.random(p.size) < p**2).astype(float)
    chosen = choose_decision_threshold(p, y)
    best = max(metrics.classification_at(y, p, t)["f1"] for t in np.linspace(0.01, 0.99, 99))
    assert chosen["f1"] >= best - 1e-9
    at = metrics.classification_at(y, p, chosen["threshold"])
    assert at["f1"] == pytest.approx(chosen["f1"], abs=1e-3)
    assert at["precision"] == pytest.approx(chosen["precision"], abs=1e-3)
    assert 0.0 < chosen["threshold"] < 1.0
    assert chosen["threshold"] == round(chosen["threshold"], 4)


def test_decision_threshold_is_a_usable_cut_off_for_tiny_probabilities(
    rng: np.random.Generator,
) -> None:
    """A rare label (every probability below 1e-4) must still give a threshold a bundle
    accepts (0 < t < 1); 0.0 would make every flight "delayed" and fail the bundle check."""
    p = rng.uniform(0.0, 5e-5, 2000)
    y = (rng.random(p.size) < 0.3).astype(float)
    chosen = choose_decision_threshold(p, y)
    assert 0.0 < chosen["threshold"] < 1.0, chosen
