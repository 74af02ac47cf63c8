"""Applying a stored calibration to raw model probabilities (numpy only).

Training fits a calibrator only where a held-out check shows it improves the curve's shape
(`flightontime_core.training.calibrate`); most models keep "none".
"""

from __future__ import annotations

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
