"""Predictions as API answers: one loaded bundle, requests in, contract-shaped dicts out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from flightontime.api import metrics
from flightontime.api.errors import INVALID_INPUT, error_body, pydantic_details
from flightontime.api.inputs import InputError, ResolvedFlight, Resolver, to_inputs
from flightontime.api.schemas import CONTRACT_EXAMPLE, FlightRequest
from flightontime.data.airports import haversine_m
from flightontime.model.bundle import Bundle, Prediction

LATE, ON_TIME = "Atrasado", "Pontual"
_FLIGHTS = TypeAdapter(list[FlightRequest])

# Manifest keys never shown by GET /model, at any depth (a bundle should not hold any, but a
# training run could record its environment).
_SECRET_WORDS = ("token", "secret", "password", "senha", "credential", "api_key", "apikey")


def public_manifest(manifest: Any) -> Any:
    """The manifest without keys that look like secrets."""
    if isinstance(manifest, dict):
        return {
            key: public_manifest(value)
            for key, value in manifest.items()
            if not any(word in str(key).lower() for word in _SECRET_WORDS)
        }
    if isinstance(manifest, list):
        return [public_manifest(item) for item in manifest]
    return manifest


class Service:
    """The loaded bundle and the decision threshold; turns requests into answers."""

    def __init__(self, bundle: Bundle, decision_threshold: float | None = None) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.threshold = float(
            decision_threshold if decision_threshold is not None else bundle.decision_threshold
        )
        self.threshold_keys = tuple(str(t) for t in bundle.thresholds)
        self.manifest = public_manifest(bundle.manifest)
        self.resolver = Resolver(bundle)
        self._distances: dict[tuple[str, str], float] = {}

    @classmethod
    def load(cls, path: Path, decision_threshold: float | None = None) -> Service:
        """Load and verify the bundle, then prove it answers the contract's example."""
        service = cls(Bundle.load(path), decision_threshold)
        service.self_test()
        return service

    def self_test(self) -> None:
        """One canned prediction through the whole path; raises if the answer is not sane."""
        answer = self.predict_one(FlightRequest.model_validate(CONTRACT_EXAMPLE), record=False)
        probabilities = list(answer["probabilidades"].values())
        if not all(0.0 <= p <= 1.0 for p in probabilities) or probabilities != sorted(
            probabilities, reverse=True
        ):
            raise RuntimeError(f"canned prediction is not a probability curve: {probabilities}")

    def predict_one(self, request: FlightRequest, record: bool = True) -> dict[str, Any]:
        """The answer for one flight; raises InputError for unusable codes."""
        flight = self.resolver.resolve(request)
        # One flight goes straight to the bundle's one-row path (plain values, no arrays).
        distance = flight.distance_m
        if distance is None:
            distance = self._distance(flight)
        start = time.perf_counter()
        prediction = self.bundle.predict_row(
            flight.airline,
            flight.origin.icao,
            flight.destination.icao,
            flight.departure_local,
            distance,
            flight.weather,
        )
        elapsed = time.perf_counter() - start
        return self._answers([flight], prediction, elapsed, batch=False, record=record)[0]

    def _distance(self, flight: ResolvedFlight) -> float:
        """Great-circle distance of the flight's airports (memoised, bounded)."""
        o, d = flight.origin, flight.destination
        key = (o.icao, d.icao)
        found = self._distances.get(key)
        if found is None:
            found = float(haversine_m(o.lat, o.lon, d.lat, d.lon))
            if len(self._distances) >= 8192:
                self._distances.clear()
            self._distances[key] = found
        return found

    def predict_many(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        """Answers for a batch, in order; a bad flight becomes its own error entry."""
        results: list[dict[str, Any] | None] = [None] * len(items)
        # One pydantic call for the whole list; its errors say which items failed.
        requests: list[FlightRequest | None]
        try:
            requests = list(_FLIGHTS.validate_python(items))
        except ValidationError as exc:
            errors: dict[int, list[Any]] = {}
            for err in exc.errors():
                errors.setdefault(int(err["loc"][0]), []).append(
                    {**err, "loc": tuple(err["loc"][1:])}
                )
            requests = []
            for i, item in enumerate(items):
                if i in errors:
                    requests.append(None)
                    results[i] = error_body(
                        INVALID_INPUT, "Voo inválido.", pydantic_details(errors[i], 0)
                    )
                else:
                    requests.append(FlightRequest.model_validate(item))
        good: list[ResolvedFlight] = []
        positions: list[int] = []
        resolve = self.resolver.resolve
        for i, request in enumerate(requests):
            if request is None:
                continue
            try:
                good.append(resolve(request))
                positions.append(i)
            except InputError as exc:
                results[i] = error_body(INVALID_INPUT, "Voo inválido.", exc.detalhes)
        if good:
            for i, answer in zip(positions, self._predict(good, batch=True), strict=True):
                results[i] = answer
        return [r for r in results if r is not None]

    def _predict(
        self, flights: Sequence[ResolvedFlight], batch: bool, record: bool = True
    ) -> list[dict[str, Any]]:
        inputs = to_inputs(flights)
        start = time.perf_counter()
        prediction = self.bundle.predict(inputs, explain=True)
        elapsed = time.perf_counter() - start
        return self._answers(flights, prediction, elapsed, batch=batch, record=record)

    def _answers(
        self,
        flights: Sequence[ResolvedFlight],
        prediction: Prediction,
        elapsed: float,
        batch: bool,
        record: bool = True,
    ) -> list[dict[str, Any]]:
        probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
        primary = probabilities[:, 0]
        late = primary >= self.threshold
        # Rounded and converted to Python floats in one vectorised step.
        rounded = np.round(probabilities, 4).tolist()
        cancellation = (
            np.round(np.asarray(prediction.cancellation, dtype=np.float64), 4).tolist()
            if prediction.cancellation is not None
            else None
        )
        factors = prediction.factors
        keys = self.threshold_keys
        answers: list[dict[str, Any]] = []
        for i, flight in enumerate(flights):
            row = rounded[i]
            is_late = bool(late[i])
            answers.append(
                {
                    "previsao": 1 if is_late else 0,
                    "probabilidade": row[0],
                    "status": LATE if is_late else ON_TIME,
                    "limiar_decisao": self.threshold,
                    "probabilidades": dict(zip(keys, row, strict=True)),
                    "probabilidade_cancelamento": (
                        cancellation[i] if cancellation is not None else None
                    ),
                    "versao_modelo": self.version,
                    "fatores": list(factors[i][:3]) if factors is not None else [],
                    "avisos": flight.avisos,
                }
            )
        if record:
            (metrics.INFERENCE_BATCH if batch else metrics.INFERENCE_SINGLE).observe(elapsed)
            n_late = int(late.sum())
            if n_late:
                metrics.PREDICTED_LATE.inc(n_late)
            if len(flights) - n_late:
                metrics.PREDICTED_ON_TIME.inc(len(flights) - n_late)
            metrics.observe_probabilities(primary)
        return answers
