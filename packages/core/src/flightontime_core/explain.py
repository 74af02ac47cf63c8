"""The factors behind a prediction: features grouped into ideas a reader knows, ranked by how
much they moved the primary model's log-odds, with what each sentence names.

The contributions come from the ONNX graph itself: next to the primary classifier, training
puts a tree ensemble with the same trees whose leaves hold the decision-path contributions
(each split's change of value along the path a flight takes, per group; Saabas). They add up
to the classifier's log-odds exactly (`ExplanationSpec.bias` + their sum), so the factors
explain the model that answers, in the same `session.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final

import numpy as np

from flightontime_core.features import FEATURE_INDEX, FEATURE_NAMES, FeatureTables
from flightontime_core.flights import WEATHER_FIELDS

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
    *(
        (name, (name, "wind_u", "wind_v") if name == "wind_kmh" else (name,))
        for name in WEATHER_FIELDS
    ),
)
GROUP_NAMES: Final = tuple(name for name, _ in FACTOR_GROUPS)
GROUP_OF_FEATURE: Final[tuple[int, ...]] = tuple(
    next(g for g, (_, features) in enumerate(FACTOR_GROUPS) if name in features)
    for name in FEATURE_NAMES
)
# A group whose defining feature is missing (no weather given, an unseen airline, no holiday
# calendar) is never named: "temperature unknown raises the risk" tells a reader nothing.
_GROUP_KEYS: Final = tuple(FEATURE_INDEX[features[0]] for _, features in FACTOR_GROUPS)
GROUP_KEY_FEATURE: Final = np.array(_GROUP_KEYS)
TOP: Final = 3

_I = FEATURE_INDEX


@lru_cache(maxsize=4096)
def airport_label(icao: str) -> str:
    """The code people read for an airport: IATA where it has one (JFK rather than KJFK)."""
    from flightontime_core.airports import resolve_airport

    airport = resolve_airport(icao)
    return airport.iata if airport is not None and airport.iata else icao


# What identifies a group's sentence, as (feature columns, uses origin, uses destination): the
# parameters are a function of these, so they are computed once per distinct key.
_KEYS: Final[dict[str, tuple[tuple[int, ...], bool, bool]]] = {
    "time": ((_I["hour"], _I["minute"]), False, False),
    "weekday": ((_I["weekday"],), False, False),
    "holiday": ((_I["days_to_holiday"],), False, False),
    "airline": ((_I["airline"],), False, False),
    "origin": ((_I["hour"],), True, False),
    "destination": ((), False, True),
    "route": ((), True, True),
    "density": ((_I["weekday"], _I["hour"]), True, False),
    "distance": ((_I["distance_km"],), False, False),
    **{name: ((_I[name],), False, False) for name in WEATHER_FIELDS},
}
_CACHE_MAX = 65536

Params = tuple[tuple[str, str | int | float], ...]
_KeyFunction = Callable[[list[float], str, str], tuple[object, ...]]


def _key_function(
    group: int, columns: tuple[int, ...], uses_origin: bool, uses_destination: bool
) -> _KeyFunction:
    """What identifies a group's parameters for a row, built once per group."""
    if len(columns) == 2:
        first, second = columns
        if uses_origin:
            return lambda x, o, _d: (group, x[first], x[second], o)
        return lambda x, _o, _d: (group, x[first], x[second])
    if len(columns) == 1:
        (only,) = columns
        if uses_origin:
            return lambda x, o, _d: (group, x[only], o)
        return lambda x, _o, _d: (group, x[only])
    if uses_origin and uses_destination:
        return lambda _x, o, d: (group, o, d)
    return lambda _x, _o, d: (group, d)


# Key payloads of the groups named by something other than their first feature's value.
_H, _M, _W = _I["hour"], _I["minute"], _I["weekday"]
# Up to this many factor slots (a few rows) keys and sentences are worked out in a plain loop
# (numpy's per-call cost would dominate); beyond, with numpy (keys as packed integers).
SMALL_SLOTS: Final = 48
# A packed key: the group above, a payload of up to 56 bits below.
_GROUP_SHIFT = 56


class Explainer:
    """Ranks contributions and names what each factor says, for one model's feature tables."""

    def __init__(self, tables: FeatureTables) -> None:
        self.tables = tables
        self._key_of = tuple(_key_function(g, *_KEYS[name]) for g, name in enumerate(GROUP_NAMES))
        self._params: dict[tuple[object, ...], Params] = {}
        # Params by packed key (group, what it names, the route's id): `keys` on large batches.
        self._packed: dict[int, Params] = {}

    def rank(self, contributions: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top groups per row (n, TOP) and their contributions; -1 where fewer than TOP count."""
        strength = np.abs(contributions)
        strength[np.isnan(x.take(GROUP_KEY_FEATURE, axis=1))] = -1.0
        # Strongest first, ties by group order (a stable sort of the negated strengths).
        top = (-strength).argsort(axis=1, kind="stable")[:, :TOP]
        rows = np.arange(top.shape[0])[:, None]
        top = np.where(strength[rows, top] > 0.0, top, -1)
        return top, contributions[rows, np.maximum(top, 0)].astype(np.float64)

    def keys(
        self,
        top: np.ndarray,
        x: np.ndarray,
        route: np.ndarray,
        airports: Sequence[tuple[str, str]],
        pair_ids: Sequence[int],
    ) -> tuple[np.ndarray, list[Params]]:
        """What each named factor says, as an index per slot (n, TOP) into the distinct
        parameter tuples of the batch (-1 where no factor): each distinct one is worked out
        once, and kept for later batches. `route` indexes `airports` ((origin, destination)
        ICAO codes) and `pair_ids` (the resolver's ids of the airport pairs) for each row."""
        if top.size <= SMALL_SLOTS:
            seen: dict[tuple[object, ...], int] = {}
            once: dict[tuple[int, Params], int] = {}
            at: list[list[int]] = []
            for groups_of, row, r in zip(top.tolist(), x.tolist(), route.tolist(), strict=True):
                origin, destination = airports[r]
                keys_of = []
                for g in groups_of:
                    if g < 0:
                        keys_of.append(-1)
                        continue
                    key = self._key_of[g](row, origin, destination)
                    found = seen.get(key)
                    if found is None:
                        params = self._cached_params(key, g, row, origin, destination)
                        found = seen[key] = once.setdefault((g, params), len(once))
                    keys_of.append(found)
                at.append(keys_of)
            return np.array(at, dtype=np.intp).reshape(top.shape), [p for _, p in once]
        index = np.full(top.shape, -1, dtype=np.intp)
        slots = np.flatnonzero(top.ravel() >= 0)
        if slots.size == 0:
            return index, []
        rows = slots // TOP
        groups = top.ravel()[slots]
        ids = np.asarray(pair_ids, dtype=np.int64)[route[rows]]
        packed = (groups.astype(np.int64) << _GROUP_SHIFT) | _payload(groups, x[rows], ids)
        unique, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        cache = self._packed
        # None where not cached yet: filled below.
        distinct: list[Params] = [cache.get(k) for k in unique.tolist()]  # type: ignore[misc]
        missing = [j for j, found in enumerate(distinct) if found is None]
        if missing:
            if len(cache) + len(missing) > _CACHE_MAX:
                cache.clear()  # bounded: arbitrary inputs cannot grow memory
            firsts_at = first[missing]
            values = x[rows[firsts_at]].tolist()
            firsts = zip(
                missing,
                groups[firsts_at].tolist(),
                values,
                route[rows[firsts_at]].tolist(),
                strict=True,
            )
            for j, g, row, r in firsts:
                origin, destination = airports[r]
                distinct[j] = cache[int(unique[j])] = self.params(g, row, origin, destination)
        named = (unique >> _GROUP_SHIFT).tolist()
        return _interned(index, slots, inverse.ravel(), distinct, named)

    def _cached_params(
        self, key: tuple[object, ...], group: int, x: list[float], origin: str, destination: str
    ) -> Params:
        found = self._params.get(key)
        if found is None:
            if len(self._params) >= _CACHE_MAX:
                self._params.clear()  # bounded: arbitrary inputs cannot grow memory
            found = self._params[key] = self.params(group, x, origin, destination)
        return found

    def params(self, group: int, x: list[float], origin: str, destination: str) -> Params:
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
            # A route the training window never saw carries the overall rate: say so.
            return (
                ("destination", airport_label(destination)),
                ("origin", airport_label(origin)),
                ("rate", round(x[_I["route_delay_rate"]], 4)),
                ("seen", int(self.tables.knows_route(origin, destination))),
            )
        if name == "density":
            flights = round(x[_I["origin_hour_density"]], 1)
            return (("flights", flights), ("origin", airport_label(origin)))
        if name == "distance":
            # Metre precision: the sentence shows the distance the features used, however short.
            return (("km", round(x[_I["distance_km"]], 3)),)
        return (("value", round(x[_I[name]], 2)),)


_GROUP = {name: g for g, name in enumerate(GROUP_NAMES)}


def _interned(
    index: np.ndarray,
    slots: np.ndarray,
    at: np.ndarray,
    params: list[Params],
    groups: list[int],
) -> tuple[np.ndarray, list[Params]]:
    """`index` with each slot pointing at its sentence's parameters, each (group, parameters)
    once: two values of a feature can name the same rounded number, and one sentence."""
    once: dict[tuple[int, Params], int] = {}
    remap = np.array(
        [once.setdefault((g, p), len(once)) for g, p in zip(groups, params, strict=True)]
    )
    index.ravel()[slots] = remap[at]
    return index, [p for _, p in once]


def _payload(groups: np.ndarray, x: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """An integer per factor slot that, with its group, identifies what it says: the bits of
    the group's defining feature, or for the groups that name a time or an airport, those
    values (an airport by its vocabulary code, a route by the id of its airport pair)."""
    keyed = x[np.arange(groups.size), GROUP_KEY_FEATURE[groups]]
    payload = keyed.astype(np.float32).view(np.uint32).astype(np.int64)
    hour = x[:, _H].astype(np.int64)
    pair = pair.astype(np.int64)
    # Named only where the code is known (the group's defining feature), so never NaN here.
    origin = np.nan_to_num(x[:, _I["origin"]]).astype(np.int64)
    special = {
        "time": lambda: hour * 60 + x[:, _M].astype(np.int64),
        "origin": lambda: origin * 24 + hour,
        "destination": lambda: np.nan_to_num(x[:, _I["destination"]]).astype(np.int64),
        "route": lambda: pair,
        "density": lambda: origin * 168 + x[:, _W].astype(np.int64) * 24 + hour,
    }
    for name, value in special.items():
        mask = groups == _GROUP[name]
        if mask.any():
            payload[mask] = value()[mask]  # type: ignore[no-untyped-call]
    return np.asarray(payload)
