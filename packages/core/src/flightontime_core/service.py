"""The transport-neutral service every adapter calls: load and verify the model bundles, prove
they answer as they did at training time, route each flight to the bundle of its origin's
country, predict and explain flights, describe the bundles.

An adapter (HTTP, command line, a queue worker) translates its transport to these calls and
back; it holds no rule about flights, features, models or which bundle answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from flightontime_core.airports import resolve_airport
from flightontime_core.bundle import MANIFEST_FILE
from flightontime_core.errors import BundleError, FlightError
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import Flight
from flightontime_core.model import Model, load_model
from flightontime_core.prediction import Prediction
from flightontime_core.prediction_table import PredictionTable

# Manifest keys never shown by `describe`, at any depth (a bundle should hold none, but a
# training run could record its environment).
_SECRET_WORDS = ("token", "secret", "password", "senha", "credential", "api_key", "apikey")
# The bundle a directory of bundles answers other countries with, when it holds one so named.
DEFAULT_BUNDLE = "default"
# Origins remembered per service; clients' arbitrary codes cannot grow memory past it.
_MAX_ORIGINS = 8192


class SelfTestError(BundleError):
    """The model does not answer its stored flights as it did at training time."""

    def __init__(self, problems: Sequence[str], path: Path | None = None) -> None:
        where = "manifest.json" if path is None else str(path / MANIFEST_FILE)
        super().__init__(where, "self-test failed: " + "; ".join(problems))
        self.problems = tuple(problems)


def public(value: Any) -> Any:
    """A manifest (as plain data) without keys that look like secrets."""
    if isinstance(value, dict):
        return {
            k: public(v)
            for k, v in value.items()
            if not any(word in str(k).lower() for word in _SECRET_WORDS)
        }
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def find_bundles(path: str | Path) -> list[Path]:
    """The bundle at `path`, else every bundle directly under it (`default` first, then by
    name); empty when there is none (yet)."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        return [path]
    if not path.is_dir():
        return []
    found = sorted(p for p in path.iterdir() if (p / MANIFEST_FILE).is_file())
    return sorted(found, key=lambda p: p.name != DEFAULT_BUNDLE)


def bundle_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Every bundle that `paths` name (each a bundle or a directory of bundles), in order;
    BundleError when one names none."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    if not given:
        raise BundleError(None, "no model bundle given")
    out: list[Path] = []
    for path in given:
        found = find_bundles(path)
        if not found:
            raise BundleError(None, f"no model bundle at {path}")
        out.extend(p for p in found if p not in out)
    return out


class PredictionService:
    """Verified, self-tested bundles and what adapters ask of them. Each flight is answered by
    the bundle whose manifest declares its origin's country; flights from other countries (or
    from an origin no table knows) by the first bundle, the default."""

    def __init__(self, models: Model | Sequence[Model]) -> None:
        self.models: tuple[Model, ...] = (models,) if isinstance(models, Model) else tuple(models)
        if not self.models:
            raise ValueError("a service needs at least one model")
        self.model = self.models[0]
        self.version = self.model.version
        self.thresholds = self.model.thresholds
        for other in self.models[1:]:
            if other.thresholds != self.thresholds:
                raise BundleError(
                    str(other.bundle.path / MANIFEST_FILE),
                    f"thresholds {list(other.thresholds)} differ from the default bundle's "
                    f"{list(self.thresholds)}; bundles served together share their thresholds",
                )
        self._by_country: dict[str, int] = {}
        for index, model in enumerate(self.models):
            for country in model.manifest.countries:
                self._by_country.setdefault(country, index)
        self._origins: dict[str, int] = {}
        self._description = public(msgspec.to_builtins(self.model.manifest))
        self._description["bundles"] = [
            {
                "name": model.bundle.path.name,
                "model_version": model.version,
                "countries": list(model.manifest.countries),
                "default": index == 0,
            }
            for index, model in enumerate(self.models)
        ]

    @classmethod
    def load(
        cls,
        paths: str | Path | Sequence[str | Path],
        *,
        threads: int = 1,
        decision_threshold: float | None = None,
        public_key: str | Path | None = None,
    ) -> PredictionService:
        """Load and verify every bundle that `paths` name (each a bundle, or a directory of
        bundles), then run each one's self-test; raises BundleError (SelfTestError) naming the
        bundle's file when any of it fails. With `public_key` (an EC public key, PEM) each
        bundle's model-signing signature is checked first (signing.SignatureError)."""
        models = []
        for path in bundle_paths(paths):
            signed = None
            if public_key is not None:
                from flightontime_core.signing import verify_signature

                signed = verify_signature(path, public_key)[MANIFEST_FILE]
            try:
                model = load_model(
                    path,
                    threads=threads,
                    decision_threshold=decision_threshold,
                    signed_manifest=signed,
                )
            except BundleError as exc:
                where = str(path) if exc.file is None else str(path / exc.file)
                raise BundleError(where, exc.reason) from None
            problems = model.self_test()
            if problems:
                raise SelfTestError(problems, path)
            models.append(model)
        return cls(models)

    @property
    def decision_threshold(self) -> float:
        """The probability from which a flight is answered as delayed (the default bundle's)."""
        return self.model.decision_threshold

    def bundle_index(self, origin: object) -> int:
        """Which of `models` answers a flight from `origin` (as sent): its country's, else 0."""
        if len(self.models) == 1 or not isinstance(origin, str):
            return 0
        index = self._origins.get(origin)
        if index is None:
            airport = resolve_airport(origin)
            country = airport.country if airport is not None else ""
            index = self._by_country.get(country, 0)
            if len(self._origins) >= _MAX_ORIGINS:
                self._origins.clear()
            self._origins[origin] = index
        return index

    def predict(self, flight: Flight) -> Prediction:
        """One flight, by its origin's bundle; raises FlightError naming each problem."""
        return self.models[self.bundle_index(flight.origin)].predict(flight)

    def predict_table(self, flights: FlightTable) -> PredictionTable:
        """A table of flights as columns, each flight by its origin's bundle (one pass per
        bundle)."""
        if len(self.models) == 1:
            return self.model.predict_table(flights)
        # Each distinct route's bundle, then each row's by its route.
        per_route = [self.bundle_index(origin) for _, origin, _ in flights.routes.values]
        if not flights.refused and len(set(per_route)) == 1:  # the usual case: one bundle
            return self.models[per_route[0]].predict_table(flights)
        bundle = np.array([*per_route, 0], dtype=np.intp)[flights.routes.index]
        if flights.refused:
            bundle[list(flights.refused)] = 0
        used: list[int] = np.unique(bundle).tolist()
        if len(used) == 1:
            return self.models[used[0]].predict_table(flights)
        parts = []
        for index in used:
            positions = np.flatnonzero(bundle == index)
            parts.append((positions, self.models[index].predict_table(flights.take(positions))))
        return PredictionTable.combine(len(flights), parts)

    def predict_many(
        self, flights: Sequence[Flight | FlightError]
    ) -> list[Prediction | FlightError]:
        """Many flights, each answered or refused on its own (an item that is already a
        FlightError, refused by the adapter's decoding, stays in its place)."""
        return self.predict_table(FlightTable.from_flights(flights)).predictions()

    def describe(self) -> dict[str, Any]:
        """The default bundle's manifest as plain data (version, data, split, metrics), no
        secrets, with `bundles`: every bundle served (name, version, countries, default)."""
        return dict(self._description)
