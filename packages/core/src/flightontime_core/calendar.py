"""Public holidays: signed days from a date to the nearest holiday of a country."""

from __future__ import annotations

import math
from bisect import bisect_left
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


@lru_cache(maxsize=65536)
def days_to_holiday_one(country: str | None, day: int) -> float:
    """Signed days from `day` (days since epoch) to the nearest holiday; NaN without a calendar.

    Negative: the holiday is ahead; ties go to the coming holiday (travel before a holiday is
    the busier side). The same search as `days_to_holiday`, on plain Python scalars.
    """
    if country is None:
        return math.nan
    year = date.fromordinal(day + EPOCH_ORDINAL).year
    days = holiday_days(country, year)
    if not days:
        return math.nan
    last = len(days) - 1
    pos = bisect_left(days, day)
    to_after = day - days[min(max(pos, 0), last)]
    to_before = day - days[min(max(pos - 1, 0), last)]
    return float(to_after if abs(to_after) <= abs(to_before) else to_before)


def days_to_holiday(
    days: np.ndarray, countries: np.ndarray, names: Sequence[str | None]
) -> np.ndarray:
    """`days_to_holiday_one` for many dates; `countries` indexes `names` for each row."""
    out = np.full(days.shape[0], np.nan)
    years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    for k, country in enumerate(names):
        if country is None:
            continue
        in_country = countries == k
        for year in np.unique(years[in_country]).tolist():
            rows = np.flatnonzero(in_country & (years == year))
            calendar = np.asarray(holiday_days(country, int(year)), dtype=np.int64)
            if calendar.size == 0:
                continue
            d = days[rows]
            pos = np.searchsorted(calendar, d)
            before = calendar[np.clip(pos - 1, 0, calendar.size - 1)]
            after = calendar[np.clip(pos, 0, calendar.size - 1)]
            to_after = d - after
            to_before = d - before
            out[rows] = np.where(np.abs(to_after) <= np.abs(to_before), to_after, to_before)
    return out
