"""Evaluation metrics in plain numpy, against scikit-learn's and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from flightontime_core.training import metrics


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def test_ece_is_zero_for_calibrated_and_the_gap_for_offset(rng: np.random.Generator) -> None:
    p = rng.uniform(0.05, 0.95, 400_000)
    y = (rng.random(p.size) < p).astype(float)
    assert metrics.ece(y, p) < 0.005
    q = np.full(200_000, 0.35)  # every prediction 0.1 too high
    y = (rng.random(q.size) < 0.25).astype(float)
    assert metrics.ece(y, q) == pytest.approx(0.10, abs=0.005)


def test_ece_bins_are_ten_equal_width_bins() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    assert metrics.ece(y, p) == pytest.approx(0.45)
    assert metrics.reliability(np.array([1.0]), np.array([1.0]))["bin_lower"] == [0.9]
    assert np.isnan(metrics.ece(np.array([]), np.array([])))


def test_ranking_metrics_match_scikit_learn(rng: np.random.Generator) -> None:
    p = np.round(rng.random(5000), 2)  # ties on purpose
    y = (rng.random(p.size) < p).astype(float)
    assert metrics.roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.average_precision(y, p) == pytest.approx(
        average_precision_score(y, p), abs=1e-12
    )
    assert metrics.brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    q = np.clip(p, 0.01, 0.99)
    assert metrics.log_loss(y, q) == pytest.approx(log_loss(y, q), abs=1e-12)
    assert np.isnan(metrics.roc_auc(np.ones(3), np.array([0.1, 0.2, 0.3])))


def test_brier_and_log_loss_by_hand() -> None:
    y = np.array([1.0, 0.0])
    p = np.array([0.8, 0.4])
    assert metrics.brier(y, p) == pytest.approx((0.04 + 0.16) / 2)
    assert metrics.log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert np.isfinite(metrics.log_loss(np.array([1.0]), np.array([0.0])))


def test_roc_curve_runs_from_corner_to_corner(rng: np.random.Generator) -> None:
    p = rng.random(1000)
    y = (rng.random(p.size) < p).astype(float)
    fpr, tpr = metrics.roc_curve(y, p)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0)
    assert np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc(y, p), abs=1e-12)
    thin = metrics.thin_curve(fpr, tpr, points=50)
    assert len(thin["x"]) <= 50
    assert thin["x"][0] == 0.0
    assert thin["x"][-1] == 1.0


def test_classification_at_a_threshold() -> None:
    y = np.array([1.0, 1.0, 0.0, 0.0])
    p = np.array([0.9, 0.4, 0.6, 0.1])
    at = metrics.classification_at(y, p, 0.5)
    assert at == {"threshold": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert metrics.classification_at(y, p, 0.95)["f1"] == 0.0


def test_summary_has_every_reported_metric(rng: np.random.Generator) -> None:
    p = rng.random(500)
    y = (rng.random(p.size) < p).astype(float)
    summary = metrics.summary(y, p)
    assert set(summary) == {
        "rows",
        "roc_auc",
        "pr_auc",
        "brier",
        "log_loss",
        "ece",
        "mean_predicted",
        "observed_rate",
    }
    assert summary["rows"] == 500
    assert summary["observed_rate"] == y.mean()
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.summary(y, p[:-1])
