"""Evaluation metrics in plain numpy (ROC/PR AUC, Brier, log loss, ECE, curves)."""

from __future__ import annotations

from typing import Any

import numpy as np

ECE_BINS = 10
_EPS = 1e-15


def _xy(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and predictions {p.shape} differ in shape")
    return y, p


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half), NaN when one class is absent."""
    y, p = _xy(y, p)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    # Average ranks of tied scores (Mann-Whitney U).
    ranks = np.empty(p.size, dtype=np.float64)
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """PR AUC as average precision (step interpolation, as scikit-learn)."""
    y, p = _xy(y, p)
    n_pos = y.sum()
    if n_pos == 0:
        return float("nan")
    precision, recall, _ = pr_curve(y, p)
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


def pr_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and threshold at every distinct score (decreasing thresholds)."""
    y, p = _xy(y, p)
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]
    tp = np.cumsum(ys)[last_of_tie]
    predicted = last_of_tie + 1.0
    precision = tp / predicted
    recall = tp / max(ys.sum(), 1.0)
    return precision, recall, ps[last_of_tie]


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score, from (0, 0) to (1, 1)."""
    y, p = _xy(y, p)
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]
    tp = np.cumsum(ys)[last_of_tie]
    fp = (last_of_tie + 1.0) - tp
    tpr = np.r_[0.0, tp / max(ys.sum(), 1.0)]
    fpr = np.r_[0.0, fp / max(ys.size - ys.sum(), 1.0)]
    return fpr, tpr


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probability."""
    y, p = _xy(y, p)
    return float(np.mean((p - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood (probabilities clipped to [1e-15, 1 - 1e-15])."""
    y, p = _xy(y, p)
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> dict[str, list[float]]:
    """Per equal-width bin: count, mean prediction and observed rate (empty bins omitted)."""
    y, p = _xy(y, p)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    sum_p = np.bincount(index, weights=p, minlength=bins)
    sum_y = np.bincount(index, weights=y, minlength=bins)
    used = count > 0
    return {
        "bin_lower": (np.arange(bins)[used] / bins).tolist(),
        "count": count[used].tolist(),
        "mean_predicted": (sum_p[used] / count[used]).tolist(),
        "observed_rate": (sum_y[used] / count[used]).tolist(),
    }


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: count-weighted |observed - predicted| over equal-width bins."""
    y, p = _xy(y, p)
    if y.size == 0:
        return float("nan")
    r = reliability(y, p, bins)
    count = np.asarray(r["count"])
    gap = np.abs(np.asarray(r["observed_rate"]) - np.asarray(r["mean_predicted"]))
    return float(np.sum(count * gap) / y.size)


def classification_at(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of `p >= threshold`."""
    y, p = _xy(y, p)
    yes = p >= threshold
    tp = float(np.sum(yes & (y == 1)))
    precision = tp / max(float(yes.sum()), 1.0)
    recall = tp / max(float(y.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"threshold": float(threshold), "precision": precision, "recall": recall, "f1": f1}


def summary(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """The metrics the manifest reports for one model on one set of rows."""
    y, p = _xy(y, p)
    return {
        "rows": int(y.size),
        "roc_auc": roc_auc(y, p),
        "pr_auc": average_precision(y, p),
        "brier": brier(y, p),
        "log_loss": log_loss(y, p),
        "ece": ece(y, p),
        "mean_predicted": float(p.mean()) if p.size else float("nan"),
        "observed_rate": float(y.mean()) if y.size else float("nan"),
    }


def thin_curve(x: np.ndarray, y: np.ndarray, points: int = 200) -> dict[str, list[float]]:
    """A curve reduced to about `points` points (for plots stored in the bundle)."""
    if x.size > points:
        keep = np.unique(np.linspace(0, x.size - 1, points).round().astype(np.int64))
        x, y = x[keep], y[keep]
    return {"x": np.round(x, 5).tolist(), "y": np.round(y, 5).tolist()}
