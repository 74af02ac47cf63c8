"""Predictions as API answers: one loaded bundle, requests in, contract-shaped dicts out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from flightontime.api import metrics
from flightontime.api.errors import INVALID_INPUT, error_body, pydantic_details
from flightontime.api.inputs import ResolvedBatch, Resolver
from flightontime.api.schemas import CONTRACT_EXAMPLE, FlightRequest, flight_from_values
from flightontime.model.bundle import Bundle

LATE, ON_TIME = "Atrasado", "Pontual"

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

    @classmethod
    def load(
        cls, path: Path, decision_threshold: float | None = None, tree_engine: str = "auto"
    ) -> Service:
        """Load and verify the bundle, then prove it answers the contract's example."""
        service = cls(Bundle.load(path, tree_engine), decision_threshold)
        service.self_test()
        return service

    def self_test(self) -> None:
        """One canned prediction through the whole path; raises if the answer is not sane."""
        answer = self.predict_one(flight_from_values(CONTRACT_EXAMPLE))
        probabilities = list(answer["probabilidades"].values())
        if not all(0.0 <= p <= 1.0 for p in probabilities) or probabilities != sorted(
            probabilities, reverse=True
        ):
            raise RuntimeError(f"canned prediction is not a probability curve: {probabilities}")

    def predict_one(self, request: FlightRequest) -> dict[str, Any]:
        """The answer for one flight, no metrics; raises InputError for unusable codes."""
        return self.answer_one(request)[0]

    def answer_one(self, request: FlightRequest) -> tuple[dict[str, Any], Observation]:
        """`predict_one`, with its metrics left to record (the API does it after answering)."""
        flight = self.resolver.resolve(request)
        # One flight goes straight to the bundle's one-row path (plain values, no arrays).
        start = time.perf_counter()
        prediction = self.bundle.predict_row(
            flight.airline,
            flight.origin.icao,
            flight.destination.icao,
            flight.departure_local,
            flight.distance_m,
            flight.weather,
        )
        elapsed = time.perf_counter() - start
        primary = prediction.probabilities[0]
        late = primary >= self.threshold
        cancellation = prediction.cancellation
        answer = self._answer(
            flight.avisos,
            [round4(p) for p in prediction.probabilities],
            late,
            None if cancellation is None else round4(cancellation),
            prediction.factors or [],
        )
        return answer, Observation(elapsed, late, primary)

    def predict_many(self, items: Sequence[Any]) -> list[dict[str, Any]]:
        """Answers for a batch of raw items, in order; a bad flight becomes its own error entry."""
        results: list[dict[str, Any] | None] = [None] * len(items)
        # The fallback of a batch with bad flights: each one validated on its own.
        requests: list[FlightRequest | None] = []
        for i, item in enumerate(items):
            try:
                requests.append(flight_from_values(item))
            except ValidationError as exc:
                requests.append(None)
                results[i] = error_body(
                    INVALID_INPUT, "Voo inválido.", pydantic_details(exc.errors(), 0)
                )
        return self._resolve_and_predict(requests, results)

    def predict_requests(self, requests: Sequence[FlightRequest]) -> list[dict[str, Any]]:
        """Answers for already validated flights, in order (unusable codes: error entries)."""
        return self._resolve_and_predict(requests, [None] * len(requests))

    def _resolve_and_predict(
        self,
        requests: Sequence[FlightRequest | None],
        results: list[dict[str, Any] | None],
    ) -> list[dict[str, Any]]:
        batch = self.resolver.resolve_batch(requests)
        for i, detalhes in batch.errors.items():
            results[i] = error_body(INVALID_INPUT, "Voo inválido.", detalhes)
        if batch.positions:
            for i, answer in zip(batch.positions, self._predict(batch), strict=True):
                results[i] = answer
        return [r for r in results if r is not None]

    def _predict(self, batch: ResolvedBatch) -> list[dict[str, Any]]:
        """Answers for a batch's usable flights, computed as one vectorised batch."""
        n = len(batch.positions)
        start = time.perf_counter()
        prediction = self.bundle.predict(batch.inputs, explain=True)
        elapsed = time.perf_counter() - start
        probabilities = prediction.probabilities
        late = probabilities[:, 0] >= self.threshold
        n_late = int(late.sum())
        metrics.INFERENCE_BATCH.observe(elapsed)
        if n_late:
            metrics.PREDICTED_LATE.inc(n_late)
        if n - n_late:
            metrics.PREDICTED_ON_TIME.inc(n - n_late)
        metrics.observe_probabilities(probabilities[:, 0])
        # numpy's rounding here is round4's, vectorised (the same IEEE operations).
        rounded = np.round(probabilities, 4).tolist()
        cancellation = (
            np.round(prediction.cancellation, 4).tolist()
            if prediction.cancellation is not None
            else [None] * n
        )
        return list(
            map(
                self._answer,
                batch.avisos,
                rounded,
                late.tolist(),
                cancellation,
                prediction.factors if prediction.factors is not None else [[]] * n,
            )
        )

    def _answer(
        self,
        avisos: Sequence[str],
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
            "fatores": factors,  # at most three, strongest first
            "avisos": avisos,
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """What one prediction adds to the metrics."""

    inference_s: float
    late: bool
    probability: float

    def record(self) -> None:
        """Add it to the Prometheus metrics now."""
        metrics.INFERENCE_SINGLE.observe(self.inference_s)
        (metrics.PREDICTED_LATE if self.late else metrics.PREDICTED_ON_TIME).inc()
        metrics.PREDICTION_PROBABILITY.observe(self.probability)

    def record_soon(self) -> None:
        """Add it with the next bulk update (`metrics.PENDING`, at most a second away)."""
        metrics.PENDING.add(self.inference_s, self.late, self.probability)


def round4(p: float) -> float:
    """p rounded to four decimals exactly as `np.round(p, 4)` does (scale, round half to even,
    unscale): a flight gets the same digits alone and in a batch. Twice round(p, 4)'s speed."""
    return round(p * 10000.0) / 10000.0
