"""Public holidays: signed days from a date to the nearest holiday of a country."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache

import numpy as np

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=512)
def holiday_days(country: str, year: int) -> tuple[int, ...]:
    """Sorted holiday dates (days since 1970-01-01) of a country in year-1 .. year+1."""
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=[year - 1, year, year + 1])
    except (NotImplementedError, KeyError):
        return ()
    return tuple(sorted(d.toordinal() - EPOCH_ORDINAL for d in calendar))


@lru_cache(maxsize=512)
def holiday_calendar(country: str, first_year: int, last_year: int) -> np.ndarray:
    """Sorted holiday dates (days since 1970-01-01) of a country from `first_year` - 1 to
    `last_year` + 1 (int64; empty without a calendar)."""
    days: set[int] = set()
    for year in range(first_year, last_year + 1):
        days.update(holiday_days(country, year))
    calendar = np.array(sorted(days), dtype=np.int64)
    calendar.flags.writeable = False  # shared by every caller of the cache
    return calendar


@lru_cache(maxsize=512)
def holiday_distances(country: str, first_year: int, last_year: int) -> tuple[int, np.ndarray]:
    """Every day from 1 January of `first_year` to 31 December of `last_year` (the first as
    days since 1970-01-01) and its signed days to the nearest holiday (float64; empty without
    a calendar). Negative: the holiday is ahead; ties go to the coming holiday (travel before
    a holiday is the busier side)."""
    first = date(first_year, 1, 1).toordinal() - EPOCH_ORDINAL
    calendar = holiday_calendar(country, first_year, last_year)
    if calendar.size == 0:
        return first, np.empty(0)
    days = np.arange(first, date(last_year, 12, 31).toordinal() - EPOCH_ORDINAL + 1)
    last = calendar.size - 1
    pos = np.searchsorted(calendar, days)
    to_after = days - calendar[np.minimum(pos, last)]
    to_before = days - calendar[np.maximum(pos - 1, 0)]
    nearest = np.where(np.abs(to_after) <= np.abs(to_before), to_after, to_before)
    out = nearest.astype(np.float64)
    out.flags.writeable = False  # shared by every caller of the cache
    return first, out


def _year(day: int) -> int:
    return date.fromordinal(day + EPOCH_ORDINAL).year


def days_to_holiday(
    days: np.ndarray, countries: np.ndarray, names: Sequence[str | None]
) -> np.ndarray:
    """Signed days from each date (days since 1970-01-01) to the nearest public holiday of its
    country (`holiday_distances`); `countries` indexes `names` for each row; NaN without a
    calendar."""
    out = np.full(days.shape[0], np.nan)
    for k, country in enumerate(names):
        if country is None:
            continue
        rows = None if len(names) == 1 else np.flatnonzero(countries == k)
        d = days if rows is None else days[rows]
        if d.size == 0:
            continue
        first, distances = holiday_distances(country, _year(int(d.min())), _year(int(d.max())))
        if distances.size == 0:
            continue
        if rows is None:
            out[:] = distances[d - first]
        else:
            out[rows] = distances[d - first]
    return out
