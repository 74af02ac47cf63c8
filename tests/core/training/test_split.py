"""Labels and the temporal split."""

from __future__ import annotations

import numpy as np
import pytest

from flightontime_core.training.split import delay_label, label_definition, late_by, temporal_split


def test_delay_label_semantics() -> None:
    delay = np.array([-5.0, 0.0, 0.5, 14.9, 15.0, 60.0, np.nan])
    assert delay_label(delay, 15)[:6].tolist() == [0, 0, 0, 0, 1, 1]
    # 0 is the original project's "any delay": strictly later than scheduled.
    assert delay_label(delay, 0)[:6].tolist() == [0, 0, 1, 1, 1, 1]
    assert np.isnan(delay_label(delay, 15)[6])
    assert np.isnan(delay_label(delay, 0)[6])


def test_late_by_selects_the_flights_a_conditional_model_answers_for() -> None:
    delay = np.array([-5.0, 20.0, 40.0, np.nan])
    assert late_by(delay, None).tolist() == [True, True, True, True]
    assert late_by(delay, 15).tolist() == [False, True, True, False]
    assert late_by(delay, 30).tolist() == [False, False, True, False]


def test_label_definitions() -> None:
    assert label_definition(0) == "departure delay > 0 minutes (any delay)"
    assert label_definition(15) == "departure delay >= 15 minutes"


def test_temporal_split_of_a_year_by_month() -> None:
    days = np.arange("2013-01-01", "2014-01-01", dtype="datetime64[D]")
    split = temporal_split(np.repeat(days, 3).astype("datetime64[m]"))
    assert split.unit == "month"
    assert {k: (str(a), str(b)) for k, (a, b) in split.windows.items()} == {
        "train": ("2013-01-01", "2013-08-31"),
        "validation": ("2013-09-01", "2013-10-31"),
        "test": ("2013-11-01", "2013-12-31"),
    }
    assert not (split.train & split.validation).any()
    assert not (split.test & split.train).any()
    assert not (split.test & split.validation).any()
    assert (split.train | split.validation | split.test).all()


def test_temporal_split_of_two_months_by_day() -> None:
    days = np.arange("2013-01-01", "2013-03-01", dtype="datetime64[D]")
    split = temporal_split(days)
    assert split.unit == "day"
    assert split.windows["train"][1] < split.windows["validation"][0]
    assert split.windows["validation"][1] < split.windows["test"][0]
    assert [int(m.sum()) for m in (split.train, split.validation, split.test)] == [41, 9, 9]


def test_unsorted_rows_keep_their_places() -> None:
    days = np.array(["2013-03-01", "2013-01-01", "2013-02-01", "2013-01-15"], "datetime64[D]")
    split = temporal_split(days)
    assert split.unit == "day"
    assert split.train.tolist() == [False, True, False, True]
    assert split.validation.tolist() == [False, False, True, False]
    assert split.test.tolist() == [True, False, False, False]


def test_three_days_are_the_minimum() -> None:
    split = temporal_split(np.array(["2013-01-01", "2013-01-02", "2013-01-03"], "datetime64[D]"))
    assert [int(m.sum()) for m in (split.train, split.validation, split.test)] == [1, 1, 1]
    with pytest.raises(ValueError, match="three distinct days"):
        temporal_split(np.array(["2013-01-01", "2013-01-02", "2013-01-02"], "datetime64[D]"))
