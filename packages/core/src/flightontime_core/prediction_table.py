"""Answers as columns: what the prediction path gives for a table of flights.

Probabilities, decisions, factors and notices stay arrays (factors and notices as indices into
the distinct ones of the table), so a batch or a file is answered and written without a Python
object per flight. A `Prediction` is built only where a caller asks for one (`answer`,
`predictions`), and texts are rendered once per distinct factor or notice and language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flightontime_core.arrays import distinct
from flightontime_core.errors import FlightError
from flightontime_core.explain import GROUP_NAMES, SMALL_SLOTS, TOP, Params
from flightontime_core.messages import factor_text
from flightontime_core.prediction import Factor, Notice, Prediction


@lru_cache(maxsize=65536)
def _factor_text(group: int, params: Params, raises: bool, language: str) -> str:
    return factor_text(GROUP_NAMES[group], params, raises, language)


@lru_cache(maxsize=4096)
def _notice_texts(notices: tuple[Notice, ...], language: str) -> tuple[str, ...]:
    return tuple(n.text(language) for n in notices)


@dataclass(frozen=True)
class PredictionTable:
    """The answers of n flights: for the m answered ones (at `rows`, in input order) arrays
    of probabilities, decisions and factors; for the others their FlightError."""

    n: int
    thresholds: tuple[int, ...]
    rows: np.ndarray  # intp (m,): positions of the answered flights
    probabilities: np.ndarray  # (m, len(thresholds)) float64, non-increasing along a row
    cancellation: np.ndarray  # (m,) float64; NaN where the model has no cancellation part
    decision_threshold: np.ndarray  # (m,) float64
    version: np.ndarray  # (m,) intp into `versions`
    versions: list[str]
    factor_group: np.ndarray  # (m, TOP) intp into GROUP_NAMES, -1 where no factor
    factor_weight: np.ndarray  # (m, TOP) float64: contributions to the primary log-odds
    factor_key: np.ndarray  # (m, TOP) intp into `factor_params`, -1 where no factor
    factor_params: list[Params]
    notice_index: np.ndarray  # (m,) intp into `notices`
    notices: list[tuple[Notice, ...]]
    errors: dict[int, FlightError]

    def __len__(self) -> int:
        return self.n

    @property
    def delayed(self) -> np.ndarray:
        """Whether each answered flight is predicted delayed (its decision threshold met)."""
        return np.asarray(self.probabilities[:, 0] >= self.decision_threshold)

    def answer(self, position: int) -> Prediction | FlightError:
        """The answer of the flight at `position` in the input."""
        error = self.errors.get(position)
        if error is not None:
            return error
        if not 0 <= position < self.n:
            raise IndexError(position)
        # The answered rows are in input order: the position's place among them.
        at = position if self.rows.size == self.n else int(np.searchsorted(self.rows, position))
        return self._predictions(slice(at, at + 1))[0]

    def predictions(self) -> list[Prediction | FlightError]:
        """Every flight's answer in input order: its `Prediction`, or its FlightError."""
        out: list[Prediction | FlightError | None] = [None] * self.n
        for position, error in self.errors.items():
            out[position] = error
        for position, prediction in zip(
            self.rows.tolist(), self._predictions(slice(None)), strict=True
        ):
            out[position] = prediction
        return out  # type: ignore[return-value]  # every position is filled above

    def _predictions(self, at: np.ndarray | slice) -> list[Prediction]:
        thresholds = self.thresholds
        params = self.factor_params
        notices = self.notices
        versions = self.versions
        out = []
        for p, c, cut, v, groups, weights, keys, k in zip(
            self.probabilities[at].tolist(),
            self.cancellation[at].tolist(),
            self.decision_threshold[at].tolist(),
            self.version[at].tolist(),
            self.factor_group[at].tolist(),
            self.factor_weight[at].tolist(),
            self.factor_key[at].tolist(),
            self.notice_index[at].tolist(),
            strict=True,
        ):
            factors = tuple(
                [
                    Factor(GROUP_NAMES[g], w > 0, w, params[key])
                    for g, w, key in zip(groups, weights, keys, strict=True)
                    if g >= 0
                ]
            )
            # Positional, in the Struct's field order (delayed ... model_version).
            out.append(
                Prediction(
                    p[0] >= cut,
                    p[0],
                    dict(zip(thresholds, p, strict=True)),
                    None if c != c else c,
                    factors,
                    notices[k],
                    cut,
                    versions[v],
                )
            )
        return out

    def factor_texts(self, language: str) -> tuple[list[str], np.ndarray]:
        """The distinct factor sentences of the table in `language`, and for each answered
        flight's slots the index of its sentence (-1 where no factor)."""
        params = self.factor_params
        # Two parameters can read the same once rounded for a reader (6.7 and 7.2 °C both
        # "7 °C"): each sentence once.
        once: dict[str, int] = {}
        if self.factor_key.size <= SMALL_SLOTS:
            at: dict[tuple[int, bool], int] = {}
            found_at: list[int] = []
            for g, key, raises in zip(
                self.factor_group.ravel().tolist(),
                self.factor_key.ravel().tolist(),
                (self.factor_weight.ravel() > 0.0).tolist(),
                strict=True,
            ):
                found = at.get((key, raises), -1)
                if found < 0 <= key:
                    text = _factor_text(g, params[key], raises, language)
                    found = at[(key, raises)] = once.setdefault(text, len(once))
                found_at.append(found)
            return list(once), np.array(found_at, dtype=np.intp).reshape(self.factor_key.shape)
        slots = self.factor_key >= 0
        # A sentence is its parameters and whether the factor raises the risk.
        code = np.where(slots, self.factor_key * 2 + (self.factor_weight > 0), -1)
        codes, inverse = distinct(code[slots])
        groups = self.factor_group[slots]
        first = np.zeros(len(codes), dtype=np.intp)
        first[inverse] = np.arange(groups.size)
        remap = np.array(
            [
                once.setdefault(
                    _factor_text(g, params[key >> 1], bool(key & 1), language), len(once)
                )
                for g, key in zip(groups[first].tolist(), codes, strict=True)
            ],
            dtype=np.intp,
        )
        index = np.full(code.shape, -1, dtype=np.intp)
        index[slots] = remap[inverse]
        return list(once), index

    def notice_texts(self, language: str) -> list[tuple[str, ...]]:
        """Each distinct notice list of the table in `language` (`notice_index` points in)."""
        return [_notice_texts(n, language) for n in self.notices]

    @classmethod
    def combine(
        cls, n: int, parts: Sequence[tuple[np.ndarray, PredictionTable]]
    ) -> PredictionTable:
        """One table of n flights from tables of some of them (with each one's positions in
        the whole, in order)."""
        rows = []
        errors: dict[int, FlightError] = {}
        keys, notice_index, version = [], [], []
        params: list[Params] = []
        notices: list[tuple[Notice, ...]] = []
        versions: list[str] = []
        for positions, part in parts:
            rows.append(positions[part.rows])
            errors.update({int(positions[i]): e for i, e in part.errors.items()})
            keys.append(np.where(part.factor_key >= 0, part.factor_key + len(params), -1))
            notice_index.append(part.notice_index + len(notices))
            version.append(part.version + len(versions))
            params.extend(part.factor_params)
            notices.extend(part.notices)
            versions.extend(part.versions)
        at = np.concatenate(rows) if rows else np.empty(0, dtype=np.intp)
        order = np.argsort(at, kind="stable")

        def joined(arrays: list[np.ndarray], shape: tuple[int, ...], dtype: type) -> np.ndarray:
            if not arrays:
                return np.empty((0, *shape), dtype=dtype)
            return np.concatenate(arrays)[order]

        tables = [part for _, part in parts]
        thresholds = tables[0].thresholds if tables else ()
        return cls(
            n=n,
            thresholds=thresholds,
            rows=at[order],
            probabilities=joined([t.probabilities for t in tables], (len(thresholds),), float),
            cancellation=joined([t.cancellation for t in tables], (), float),
            decision_threshold=joined([t.decision_threshold for t in tables], (), float),
            version=joined(version, (), np.intp),
            versions=versions,
            factor_group=joined([t.factor_group for t in tables], (TOP,), np.intp),
            factor_weight=joined([t.factor_weight for t in tables], (TOP,), float),
            factor_key=joined(keys, (TOP,), np.intp),
            factor_params=params,
            notice_index=joined(notice_index, (), np.intp),
            notices=notices,
            errors=errors,
        )
