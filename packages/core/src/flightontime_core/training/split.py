"""Labels and the temporal split: train on the past, validate and test on what came after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

# 70 % / 15 % / 15 % of the distinct months (of the days when the data spans under six months).
SPLIT_FRACTIONS = (0.70, 0.85)
MIN_MONTHS_FOR_MONTH_SPLIT = 6
# Between these many distinct days (about one month), validation and test are whole weeks
# instead: 15 % of a month is four days, a test window that misses whole weekdays and holds
# too few late flights to measure; a week sees every weekday once.
WEEK = 7
WEEK_SPLIT_DAYS = (3 * WEEK, 8 * WEEK)  # [min, max)


@dataclass(frozen=True)
class Split:
    """Boolean row masks and inclusive date windows of the temporal split."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    windows: dict[str, tuple[date, date]]
    unit: str  # "month" or "day"
    rule: str  # the rule in words, for the manifest and the model card


def label_definition(threshold: int) -> str:
    """Plain words for the delay label of a threshold."""
    if threshold == 0:
        return "departure delay > 0 minutes (any delay)"
    return f"departure delay >= {threshold} minutes"


def delay_label(delay_min: np.ndarray, threshold: int) -> np.ndarray:
    """1.0 late / 0.0 not late / NaN cancelled or unknown; threshold 0 means delay > 0."""
    delay = np.asarray(delay_min, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        late = delay > 0 if threshold == 0 else delay >= threshold
    return np.where(np.isnan(delay), np.nan, late.astype(np.float64))


def late_by(delay_min: np.ndarray, threshold: int | None) -> np.ndarray:
    """The flights a conditional model answers for: late by `threshold` (all for None)."""
    if threshold is None:
        return np.ones(len(delay_min), dtype=bool)
    return np.asarray(delay_label(delay_min, threshold) == 1.0)


def _as_date(day: np.datetime64) -> date:
    value = day.astype("datetime64[D]").item()
    assert isinstance(value, date)
    return value


def temporal_split(departure: np.ndarray) -> Split:
    """Train / validation / test by date: 70/15/15 % of the distinct months (or days); about a
    month of days (WEEK_SPLIT_DAYS): the last week test, the week before validation."""
    days = np.asarray(departure).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    unique_months = np.unique(months)
    if unique_months.size >= MIN_MONTHS_FOR_MONTH_SPLIT:
        unit, units, unit_of = "month", unique_months, months
    else:
        unit, units, unit_of = "day", np.unique(days), days
    n = units.size
    if n < 3:
        raise ValueError(f"need at least three distinct days to split by time, got {n}")
    if unit == "day" and WEEK_SPLIT_DAYS[0] <= n < WEEK_SPLIT_DAYS[1]:
        n_train, n_val_end = n - 2 * WEEK, n - WEEK
        rule = (
            "temporal by day: the last 7 days test, the 7 days before validation (early "
            "stopping, calibration, decision threshold), the days before those train"
        )
    else:
        n_train = min(max(1, round(SPLIT_FRACTIONS[0] * n)), n - 2)
        n_val_end = min(max(n_train + 1, round(SPLIT_FRACTIONS[1] * n)), n - 1)
        rule = (
            f"temporal by {unit}: first 70% of the {unit}s train, next 15% "
            "validation (early stopping, calibration, decision threshold), last 15% test"
        )
    train = unit_of <= units[n_train - 1]
    test = unit_of > units[n_val_end - 1]
    validation = ~train & ~test
    windows = {
        name: (_as_date(days[mask].min()), _as_date(days[mask].max()))
        for name, mask in (("train", train), ("validation", validation), ("test", test))
    }
    return Split(train, validation, test, windows, unit, rule)
