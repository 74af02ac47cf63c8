"""The transport-neutral service every adapter calls: load and verify a model, prove it answers
as it did at training time, predict and explain flights, describe the model.

An adapter (HTTP, command line, a queue worker) translates its transport to these calls and
back; it holds no rule about flights, features or models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from flightontime_core.errors import BundleError, FlightError
from flightontime_core.flights import Flight
from flightontime_core.model import Model, load_model
from flightontime_core.prediction import Prediction

# Manifest keys never shown by `describe`, at any depth (a bundle should hold none, but a
# training run could record its environment).
_SECRET_WORDS = ("token", "secret", "password", "senha", "credential", "api_key", "apikey")


class SelfTestError(BundleError):
    """The model does not answer its stored flights as it did at training time."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("manifest.json", "self-test failed: " + "; ".join(problems))
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


class PredictionService:
    """A verified, self-tested model and what adapters ask of it."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.version = model.version
        self.thresholds = model.thresholds
        self._description = public(msgspec.to_builtins(model.manifest))

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        threads: int = 1,
        decision_threshold: float | None = None,
        public_key: str | Path | None = None,
    ) -> PredictionService:
        """Load and verify the bundle, then run its self-test; raises BundleError
        (SelfTestError) when any of it fails. With `public_key` (an EC public key, PEM) the
        bundle's model-signing signature is checked first (signing.SignatureError)."""
        if public_key is not None:
            from flightontime_core.signing import verify_signature

            verify_signature(path, public_key)
        model = load_model(path, threads=threads, decision_threshold=decision_threshold)
        problems = model.self_test()
        if problems:
            raise SelfTestError(problems)
        return cls(model)

    @property
    def decision_threshold(self) -> float:
        """The probability from which a flight is answered as delayed."""
        return self.model.decision_threshold

    def predict(self, flight: Flight) -> Prediction:
        """One flight; raises FlightError naming each problem."""
        return self.model.predict(flight)

    def predict_many(
        self, flights: Sequence[Flight | FlightError]
    ) -> list[Prediction | FlightError]:
        """Many flights in one pass, each answered or refused on its own (an item that is
        already a FlightError, refused by the adapter's decoding, stays in its place)."""
        return self.model.predict_many(flights)

    def describe(self) -> dict[str, Any]:
        """The model's manifest as plain data (version, data, split, metrics), no secrets."""
        return dict(self._description)
