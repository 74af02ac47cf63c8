"""Predictions as API answers: one loaded bundle, requests in, contract-shaped dicts out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from flightontime.api import metrics
from flightontime.api.errors import INVALID_INPUT, error_body, pydantic_details
from flightontime.api.inputs import InputError, ResolvedFlight, Resolver, to_inputs
from flightontime.api.schemas import CONTRACT_EXAMPLE, FlightRequest
from flightontime.data.airports import haversine_m
from flightontime.model.bundle import Bundle

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
        answer, observation = self.answer_one(request)
        if record:
            observation.record()
        return answer

    def answer_one(self, request: FlightRequest) -> tuple[dict[str, Any], Observation]:
        """`predict_one`, with its metrics left to record (the API does it after answering)."""
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
        primary = prediction.probabilities[0]
        late = primary >= self.threshold
        cancellation = prediction.cancellation
        answer = self._answer(
            flight,
            [round4(p) for p in prediction.probabilities],
            late,
            None if cancellation is None else round4(cancellation),
            prediction.factors or [],
        )
        return answer, Observation(elapsed, late, primary)

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
        """Answers for a batch of raw items, in order; a bad flight becomes its own error entry."""
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
        return self._resolve_and_predict(requests, results)

    def predict_requests(self, requests: Sequence[FlightRequest]) -> list[dict[str, Any]]:
        """Answers for already validated flights, in order (unusable codes: error entries)."""
        return self._resolve_and_predict(requests, [None] * len(requests))

    def _resolve_and_predict(
        self,
        requests: Sequence[FlightRequest | None],
        results: list[dict[str, Any] | None],
    ) -> list[dict[str, Any]]:
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
            for i, answer in zip(positions, self._predict(good), strict=True):
                results[i] = answer
        return [r for r in results if r is not None]

    def _predict(self, flights: Sequence[ResolvedFlight]) -> list[dict[str, Any]]:
        """Answers for resolved flights, computed as one vectorised batch."""
        inputs = to_inputs(flights)
        start = time.perf_counter()
        prediction = self.bundle.predict(inputs, explain=True)
        elapsed = time.perf_counter() - start
        probabilities = prediction.probabilities
        late = probabilities[:, 0] >= self.threshold
        n_late = int(late.sum())
        metrics.INFERENCE_BATCH.observe(elapsed)
        if n_late:
            metrics.PREDICTED_LATE.inc(n_late)
        if len(flights) - n_late:
            metrics.PREDICTED_ON_TIME.inc(len(flights) - n_late)
        metrics.observe_probabilities(probabilities[:, 0])
        # numpy's rounding here is round4's, vectorised (the same IEEE operations).
        rounded = np.round(probabilities, 4).tolist()
        late_list = late.tolist()
        cancellation = (
            np.round(prediction.cancellation, 4).tolist()
            if prediction.cancellation is not None
            else None
        )
        n = len(flights)
        return list(
            map(
                self._answer,
                flights,
                rounded,
                late_list,
                cancellation if cancellation is not None else [None] * n,
                prediction.factors if prediction.factors is not None else [[]] * n,
            )
        )

    def _answer(
        self,
        flight: ResolvedFlight,
        probabilities: list[float],
        late: bool,
        cancellation: float | None,
        factors: list[str],
    ) -> dict[str, Any]:
        """The API answer for one flight (probabilities already rounded to four decimals)."""
        return {
            "previsao": 1 if late else 0,
            "probabilidade": probabilities[0],
            "status": LATE if late else ON_TIME,
            "limiar_decisao": self.threshold,
            # Lengths match by construction; zip's strict check would cost a third of the dict.
            "probabilidades": dict(zip(self.threshold_keys, probabilities, strict=False)),
            "probabilidade_cancelamento": cancellation,
            "versao_modelo": self.version,
            "fatores": factors[:3],
            "avisos": flight.avisos,
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """What one prediction adds to the metrics."""

    inference_s: float
    late: bool
    probability: float

    def record(self) -> None:
        """Add it to the Prometheus metrics."""
        metrics.INFERENCE_SINGLE.observe(self.inference_s)
        (metrics.PREDICTED_LATE if self.late else metrics.PREDICTED_ON_TIME).inc()
        metrics.PREDICTION_PROBABILITY.observe(self.probability)

    async def record_later(self) -> None:
        """`record` as a response's background task (after the answer has been sent)."""
        self.record()


def round4(p: float) -> float:
    """p rounded to four decimals exactly as `np.round(p, 4)` does (scale, round half to even,
    unscale): a flight gets the same digits alone and in a batch. Twice round(p, 4)'s speed."""
    return round(p * 10000.0) / 10000.0
