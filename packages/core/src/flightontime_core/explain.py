"""The factors behind a prediction: features grouped into ideas a reader knows, ranked by how
much they moved the primary model's log-odds, with what each sentence names.

The contributions come from the ONNX graph itself: next to the primary classifier, training
puts a tree ensemble with the same trees whose leaves hold the decision-path contributions
(each split's change of value along the path a flight takes, per group; Saabas). They add up
to the classifier's log-odds exactly (`ExplanationSpec.bias` + their sum), so the factors
explain the model that answers, in the same `session.run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final

import numpy as np

from flightontime_core.features import FEATURE_INDEX, FEATURE_NAMES, FeatureTables
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.prediction import Factor

# Features explained together: a category and its historical rate are one idea for a reader.
FACTOR_GROUPS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("time", ("hour", "minute")),
    ("weekday", ("weekday",)),
    ("holiday", ("days_to_holiday",)),
    ("airline", ("airline", "airline_delay_rate")),
    ("origin", ("origin", "origin_hour_delay_rate")),
    ("destination", ("destination",)),
    ("route", ("route_delay_rate",)),
    ("density", ("origin_hour_density",)),
    ("distance", ("distance_km",)),
    *((name, (name,)) for name in WEATHER_FIELDS),
)
GROUP_NAMES: Final = tuple(name for name, _ in FACTOR_GROUPS)
GROUP_OF_FEATURE: Final[tuple[int, ...]] = tuple(
    next(g for g, (_, features) in enumerate(FACTOR_GROUPS) if name in features)
    for name in FEATURE_NAMES
)
# A group whose defining feature is missing (no weather given, an unseen airline, no holiday
# calendar) is never named: "temperature unknown raises the risk" tells a reader nothing.
GROUP_KEY_FEATURE: Final = np.array([FEATURE_INDEX[features[0]] for _, features in FACTOR_GROUPS])
TOP: Final = 3

_I = FEATURE_INDEX


@lru_cache(maxsize=4096)
def airport_label(icao: str) -> str:
    """The code people read for an airport: IATA where it has one (JFK rather than KJFK)."""
    from flightontime_core.airports import resolve_airport

    airport = resolve_airport(icao)
    return airport.iata if airport is not None and airport.iata else icao


class Explainer:
    """Ranks contributions into `Factor`s for one model's feature tables."""

    def __init__(self, tables: FeatureTables) -> None:
        self.tables = tables

    def rank(self, contributions: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top groups per row (n, TOP) and their contributions; -1 where fewer than TOP count."""
        strength = np.abs(contributions.astype(np.float64))
        strength[np.isnan(x[:, GROUP_KEY_FEATURE])] = -1.0
        top = np.argsort(-strength, axis=1, kind="stable")[:, :TOP]
        rows = np.arange(top.shape[0])[:, None]
        top = np.where(strength[rows, top] > 0, top, -1)
        return top, contributions[rows, np.maximum(top, 0)].astype(np.float64)

    def factors(
        self,
        top: np.ndarray,
        weights: np.ndarray,
        x: np.ndarray,
        origin: Sequence[str],
        destination: Sequence[str],
    ) -> list[tuple[Factor, ...]]:
        """The `Factor`s of every row from `rank`'s output."""
        top_rows: list[list[int]] = top.tolist()
        weight_rows: list[list[float]] = weights.tolist()
        xs: list[list[float]] = x.astype(np.float64).tolist()
        out = []
        for groups, ws, row, o, d in zip(
            top_rows, weight_rows, xs, origin, destination, strict=True
        ):
            out.append(
                tuple(
                    Factor(GROUP_NAMES[g], w > 0, w, self.params(g, row, o, d))
                    for g, w in zip(groups, ws, strict=True)
                    if g >= 0
                )
            )
        return out

    def params(
        self, group: int, x: list[float], origin: str, destination: str
    ) -> tuple[tuple[str, str | int | float], ...]:
        """What a group's sentence names, as sorted key/value pairs."""
        name = GROUP_NAMES[group]
        if name == "time":
            return (("hour", int(x[_I["hour"]])), ("minute", int(x[_I["minute"]])))
        if name == "weekday":
            return (("weekday", int(x[_I["weekday"]])),)
        if name == "holiday":
            return (("days", int(x[_I["days_to_holiday"]])),)
        if name == "airline":
            code = self.tables.airlines[int(x[_I["airline"]])]
            return (("airline", code), ("rate", round(x[_I["airline_delay_rate"]], 4)))
        if name == "origin":
            return (
                ("hour", int(x[_I["hour"]])),
                ("origin", airport_label(origin)),
                ("rate", round(x[_I["origin_hour_delay_rate"]], 4)),
            )
        if name == "destination":
            return (("destination", airport_label(destination)),)
        if name == "route":
            return (
                ("destination", airport_label(destination)),
                ("origin", airport_label(origin)),
                ("rate", round(x[_I["route_delay_rate"]], 4)),
            )
        if name == "density":
            return (
                ("flights", round(x[_I["origin_hour_density"]], 1)),
                ("origin", airport_label(origin)),
            )
        if name == "distance":
            return (("km", round(x[_I["distance_km"]], 1)),)
        return (("value", round(x[_I[name]], 2)),)
