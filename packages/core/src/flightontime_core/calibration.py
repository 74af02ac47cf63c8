"""Applying a stored calibration to raw model probabilities (numpy only).

Training fits a calibrator only where a held-out check shows it improves the curve's shape
(`flightontime_core.training.calibrate`); most models keep "none".
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable

import numpy as np

from flightontime_core.bundle import Calibration

EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.asarray(np.log(q) - np.log1p(-q))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) in the tanh form (no overflow warnings for large |z|)."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64))))


def calibrate(calibration: Calibration, p: np.ndarray) -> np.ndarray:
    """Calibrated probabilities (float64) for raw probabilities `p`."""
    values = np.asarray(p, dtype=np.float64)
    if calibration.method == "platt":
        return sigmoid(calibration.a * logit(values) + calibration.b)
    if calibration.method == "isotonic":
        return np.asarray(np.interp(values, calibration.x, calibration.y))
    return values


def check(calibration: Calibration) -> None:
    """Raise ValueError for a calibration that cannot be applied."""
    if calibration.method == "isotonic":
        x, y = np.asarray(calibration.x), np.asarray(calibration.y)
        if x.size < 2 or x.size != y.size or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
            raise ValueError("isotonic calibration needs >= 2 non-decreasing knots")
    elif calibration.method not in ("none", "platt"):
        raise ValueError(f"unknown calibration method {calibration.method!r}")


def probability(log_odds: float) -> float:
    """1 / (1 + exp(-log_odds)) for one value, with the C library's exp."""
    if log_odds < -700.0:  # exp would overflow; the probability is 0 in float64 anyway
        return 0.0
    return 1.0 / (1.0 + math.exp(-log_odds))


def scalar(calibration: Calibration) -> Callable[[float], float]:
    """The calibration as a function of one float, its parameters bound.

    Serving applies calibrations value by value with this, for one flight and for a batch
    alike, so a flight gets the same floats alone and among others (numpy's vectorised log
    and tanh may round the last bit differently from the C library's).
    """
    if calibration.method == "platt":
        a, b, log, log1p, tanh = calibration.a, calibration.b, math.log, math.log1p, math.tanh
        lo, hi = EPS, 1.0 - EPS

        def platt(p: float) -> float:
            q = lo if p < lo else hi if p > hi else p
            return 0.5 * (1.0 + tanh(0.5 * (a * (log(q) - log1p(-q)) + b)))

        return platt
    if calibration.method == "isotonic":
        x, y = calibration.x, calibration.y
        last = len(x) - 1

        def isotonic(p: float) -> float:
            # Linear between the knots, flat beyond them (np.interp's rule).
            if p <= x[0]:
                return y[0]
            if p >= x[last]:
                return y[last]
            j = bisect_right(x, p) - 1
            return y[j] + (p - x[j]) * (y[j + 1] - y[j]) / (x[j + 1] - x[j])

        return isotonic
    return _identity


def _identity(p: float) -> float:
    return p
