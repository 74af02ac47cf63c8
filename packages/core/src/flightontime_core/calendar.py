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


# Each country's widest table of distances asked for so far (first day, last day, distances):
# a batch whose dates it covers is one gather, with no date arithmetic per call. Values do not
# depend on the span a table covers (each day's nearest holiday is within a year of it).
_covering: dict[str, tuple[int, int, np.ndarray]] = {}


def _distances(country: str, lo: int, hi: int) -> tuple[int, np.ndarray]:
    """A country's first day and distances covering the days `lo`..`hi` (empty: no calendar)."""
    found = _covering.get(country)
    if found is not None and found[0] <= lo and hi <= found[1]:
        return found[0], found[2]
    if found is not None:
        lo, hi = min(lo, found[0]), max(hi, found[1])
    first, distances = holiday_distances(country, _year(lo), _year(hi))
    if distances.size:
        _covering[country] = (first, first + distances.size - 1, distances)
    return first, distances


def _country_days(days: np.ndarray, country: str | None) -> np.ndarray:
    """Signed days to the nearest holiday of one country for each date; NaN without one."""
    if country is not None and days.size:
        first, distances = _distances(country, int(days.min()), int(days.max()))
        if distances.size:
            found: np.ndarray = distances[days - first]
            return found
    return np.full(days.shape[0], np.nan)


def days_to_holiday(
    days: np.ndarray, countries: np.ndarray, names: Sequence[str | None]
) -> np.ndarray:
    """Signed days from each date (days since 1970-01-01) to the nearest public holiday of its
    country (`holiday_distances`); `countries` indexes `names` for each row; NaN without a
    calendar."""
    if len(names) == 1:
        return _country_days(days, names[0])
    out = np.full(days.shape[0], np.nan)
    for k, country in enumerate(names):
        rows = np.flatnonzero(countries == k)
        out[rows] = _country_days(days[rows], country)
    return out
