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


def test_one_month_by_day_tests_and_validates_on_whole_weeks() -> None:
    # 70/15/15 % of 30 days would test on four days (2021-04-27 .. 30): no weekend at all.
    days = np.arange("2021-04-01", "2021-05-01", dtype="datetime64[D]")
    split = temporal_split(np.repeat(days, 2).astype("datetime64[m]"))
    assert split.unit == "day"
    assert {k: (str(a), str(b)) for k, (a, b) in split.windows.items()} == {
        "train": ("2021-04-01", "2021-04-16"),
        "validation": ("2021-04-17", "2021-04-23"),
        "test": ("2021-04-24", "2021-04-30"),
    }
    assert [int(m.sum()) for m in (split.train, split.validation, split.test)] == [32, 14, 14]
    assert split.rule.startswith("temporal by day: the last 7 days test")


@pytest.mark.parametrize(("first", "end", "sizes"), [
    ("2021-04-01", "2021-04-21", [7, 7, 7]),  # three weeks: the shortest week split
    ("2021-04-01", "2021-04-20", [14, 3, 3]),  # under three weeks: 70/15/15 %
    ("2021-04-01", "2021-05-25", [41, 7, 7]),  # just under eight weeks: still whole weeks
    ("2021-04-01", "2021-05-26", [39, 9, 8]),  # eight weeks: 70/15/15 %
])  # fmt: skip
def test_where_the_week_split_starts_and_ends(first: str, end: str, sizes: list[int]) -> None:
    days = np.arange(first, np.datetime64(end) + 1, dtype="datetime64[D]")
    split = temporal_split(days)
    assert [int(m.sum()) for m in (split.train, split.validation, split.test)] == sizes


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
