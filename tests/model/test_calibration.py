"""Metrics, calibrators, the calibration decision and the decision threshold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from flightontime.model import metrics
from flightontime.model.calibration import (
    Calibrator,
    choose_calibrator,
    choose_decision_threshold,
    fit_isotonic,
    fit_platt,
    level_neutral,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def test_ece_is_zero_for_calibrated_and_the_gap_for_offset(rng: np.random.Generator) -> None:
    p = rng.uniform(0.05, 0.95, 400_000)
    y = (rng.random(p.size) < p).astype(float)
    assert metrics.ece(y, p) < 0.005
    # Every prediction 0.1 too high (and staying inside its bins' range): ECE is the offset.
    q = np.full(200_000, 0.35)
    y = (rng.random(q.size) < 0.25).astype(float)
    assert metrics.ece(y, q) == pytest.approx(0.10, abs=0.005)


def test_ece_bins_are_ten_equal_width_bins() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    # Two bins, each off by 0.45: ECE 0.45. Ten bins: 1.0 falls in the last bin.
    assert metrics.ece(y, p) == pytest.approx(0.45)
    assert metrics.reliability(np.array([1.0]), np.array([1.0]))["bin_lower"] == [0.9]


def test_ranking_metrics_match_scikit_learn(rng: np.random.Generator) -> None:
    p = np.round(rng.random(5000), 2)  # ties on purpose
    y = (rng.random(p.size) < p).astype(float)
    assert metrics.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.average_precision(y, p) == pytest.approx(
        average_precision_score(y, p), abs=1e-12
    )
    assert np.isnan(metrics.roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_brier_and_log_loss() -> None:
    y = np.array([1.0, 0.0])
    p = np.array([0.8, 0.4])
    assert metrics.brier(y, p) == pytest.approx((0.04 + 0.16) / 2)
    assert metrics.log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_platt_recovers_a_known_distortion(rng: np.random.Generator) -> None:
    truth = rng.uniform(0.02, 0.98, 200_000)
    y = (rng.random(truth.size) < truth).astype(float)
    logit = np.log(truth / (1 - truth))
    raw = _sigmoid(2.0 * logit - 0.5)  # overconfident and shifted
    calibrator = fit_platt(raw, y)
    assert calibrator.a == pytest.approx(0.5, abs=0.02)
    assert calibrator.b == pytest.approx(0.25, abs=0.03)
    assert metrics.ece(y, calibrator.apply(raw)) < 0.01


def test_isotonic_is_monotone_and_json_round_trips(rng: np.random.Generator) -> None:
    raw = rng.random(20_000)
    y = (rng.random(raw.size) < raw**2).astype(float)
    calibrator = fit_isotonic(raw, y)
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff(calibrator.apply(grid)) >= 0)
    again = Calibrator.from_dict(calibrator.to_dict())
    assert np.array_equal(again.apply(grid), calibrator.apply(grid))
    with pytest.raises(ValueError, match="non-decreasing"):
        Calibrator.from_dict({"method": "isotonic", "x": [0.0, 1.0], "y": [0.9, 0.1]})
    with pytest.raises(ValueError, match="unknown"):
        Calibrator.from_dict({"method": "magic"})


def test_level_neutral_keeps_the_mean(rng: np.random.Generator) -> None:
    raw = rng.uniform(0.05, 0.6, 10_000)
    y = (rng.random(raw.size) < 0.1).astype(float)
    for fitter in (fit_platt, fit_isotonic):
        neutral = level_neutral(fitter(raw, y), raw)
        assert neutral.apply(raw).mean() == pytest.approx(raw.mean(), abs=1e-4)


def test_calibrator_is_chosen_when_the_shape_is_wrong(rng: np.random.Generator) -> None:
    truth = rng.uniform(0.05, 0.6, 60_000)
    y = (rng.random(truth.size) < truth).astype(float)
    logit = np.log(truth / (1 - truth))
    raw = _sigmoid(2.0 * (logit - logit.mean()) + logit.mean())  # overconfident, same level
    halves = np.arange(raw.size) >= raw.size // 2
    calibrator, report = choose_calibrator(raw, y, halves)
    assert report["decision"] in ("platt", "isotonic")
    assert calibrator.method == report["decision"]
    assert metrics.ece(y, calibrator.apply(raw)) < metrics.ece(y, raw)
    # Level-neutral: the shape is fixed, the mean stays the model's.
    assert calibrator.apply(raw).mean() == pytest.approx(raw.mean(), abs=1e-3)


def test_no_calibrator_for_calibrated_probabilities(rng: np.random.Generator) -> None:
    raw = rng.uniform(0.05, 0.6, 60_000)
    y = (rng.random(raw.size) < raw).astype(float)
    calibrator, report = choose_calibrator(raw, y, np.arange(raw.size) % 2 == 0)
    assert report["decision"] == "none"
    assert calibrator.method == "none"


def test_a_validation_window_with_its_own_level_does_not_buy_a_calibrator(
    rng: np.random.Generator,
) -> None:
    """The design notes' trap: a low-delay month makes every calibrator look good in plain ECE."""
    raw = rng.uniform(0.05, 0.6, 60_000)
    calmer = _sigmoid(np.log(raw / (1 - raw)) - 0.6)  # the window is calmer than usual
    y = (rng.random(raw.size) < calmer).astype(float)
    halves = np.arange(raw.size) >= raw.size // 2
    calibrator, report = choose_calibrator(raw, y, halves)
    plain = report["held_out_ece"]
    assert min(plain["platt"]) < min(plain["none"])  # plain ECE would have adopted it
    assert calibrator.method == "none"


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
